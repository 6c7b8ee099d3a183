// Package seqtrack accounts for the messages one page receives: each is
// named by a run and a sequence number within it (1, 2, 3…), and is new,
// a duplicate, or new but out of order. Losses are what was published and
// never arrived.
package seqtrack

// Outcome classifies one received message.
type Outcome int

const (
	// New is the first arrival of a message, in order.
	New Outcome = iota
	// OutOfOrder is the first arrival of a message after a later one.
	OutOfOrder
	// Duplicate is a message that had arrived already.
	Duplicate
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case New:
		return "new"
	case OutOfOrder:
		return "out-of-order"
	case Duplicate:
		return "duplicate"
	}
	return "unknown"
}

// Page tracks the messages of one page. The zero value is ready to use.
// It is not safe for concurrent use.
type Page struct {
	runs map[string]*run
}

type run struct {
	seen []uint64 // a bitset of sequence numbers
	max  uint64
	n    int
}

// Observe records that message seq of run arrived and classifies it.
// Sequence numbers start at 1; 0 is treated as a duplicate, since it can
// never be new.
func (p *Page) Observe(runID string, seq uint64) Outcome {
	if seq == 0 {
		return Duplicate
	}
	if p.runs == nil {
		p.runs = map[string]*run{}
	}
	r := p.runs[runID]
	if r == nil {
		r = &run{}
		p.runs[runID] = r
	}
	word, bit := seq/64, uint64(1)<<(seq%64)
	for uint64(len(r.seen)) <= word {
		r.seen = append(r.seen, 0)
	}
	if r.seen[word]&bit != 0 {
		return Duplicate
	}
	r.seen[word] |= bit
	r.n++
	if seq < r.max {
		return OutOfOrder
	}
	r.max = seq
	return New
}

// Received returns how many distinct messages of run arrived.
func (p *Page) Received(runID string) int {
	if r := p.runs[runID]; r != nil {
		return r.n
	}
	return 0
}

// Lost returns how many of messages 1..published of run never arrived.
func (p *Page) Lost(runID string, published uint64) int {
	r := p.runs[runID]
	if r == nil {
		return int(published)
	}
	lost := 0
	for seq := uint64(1); seq <= published; seq++ {
		word := seq / 64
		if word >= uint64(len(r.seen)) || r.seen[word]&(uint64(1)<<(seq%64)) == 0 {
			lost++
		}
	}
	return lost
}

// Counts sums the outcomes of many pages for one run.
type Counts struct {
	// Delivered counts first arrivals, in order or not.
	Delivered uint64 `json:"delivered"`
	// OutOfOrder counts first arrivals after a later message.
	OutOfOrder uint64 `json:"outOfOrder"`
	// Duplicates counts repeated arrivals.
	Duplicates uint64 `json:"duplicates"`
}

// Add counts one outcome.
func (c *Counts) Add(o Outcome) {
	switch o {
	case New:
		c.Delivered++
	case OutOfOrder:
		c.Delivered++
		c.OutOfOrder++
	case Duplicate:
		c.Duplicates++
	}
}

// Merge adds other's counts to c.
func (c *Counts) Merge(other Counts) {
	c.Delivered += other.Delivered
	c.OutOfOrder += other.OutOfOrder
	c.Duplicates += other.Duplicates
}

// Lost returns how many of published messages to each of pages pages were
// not delivered: the coherence loss of a run. It is never negative.
func (c Counts) Lost(pages int, published uint64) uint64 {
	want := uint64(pages) * published
	if c.Delivered >= want {
		return 0
	}
	return want - c.Delivered
}
