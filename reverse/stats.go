package reverse

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// Stats describe a hub at one moment, for metrics: gauges counted over
// its live sessions when Stats is called, and the hub's Counters.
type Stats struct {
	// Sessions counts the live sessions by the transport their page used
	// last (LongPoll, SSE or Polling), or "" for a page that has used
	// none: a passive page, whose messages ride on call replies, or one
	// that is still starting.
	Sessions map[string]int
	// Held counts the connections held open for pages now, by transport
	// (LongPoll, SSE or WebSocket). A connection shared by several pages
	// of one browser (a multiplexed transport) counts once, while it
	// carries at least one page.
	Held map[string]int
	// SharedSessions counts the live sessions whose page is held on a
	// connection shared with other pages of its browser.
	SharedSessions int
	// OutboxMessages and OutboxBytes are the unacknowledged messages, and
	// their bytes, summed over every live session's outbox.
	OutboxMessages, OutboxBytes int
	// MaxOutboxMessages and MaxOutboxBytes are those of the fullest
	// outbox: the session closest to Limits.OutboxMessages and the one
	// closest to Limits.OutboxBytes.
	MaxOutboxMessages, MaxOutboxBytes int

	Counters
}

// Counters are what a hub counts as it runs, kept as it goes rather than
// counted over its sessions, so that reading them costs the same at any
// number of pages.
type Counters struct {
	// Opened counts the sessions opened.
	Opened uint64
	// Ended counts the sessions ended, by reason (ReasonExpired,
	// ReasonOverflow, ReasonClosed, ReasonEvicted and the like). Each is a
	// reset for its page, which is told it may have missed messages.
	Ended map[string]uint64
	// Messages counts the reverse calls put in outboxes, one for each
	// page a call reached, and MessageBytes their bytes.
	Messages, MessageBytes uint64
	// Acked counts the messages pages acknowledged, which left their
	// outboxes.
	Acked uint64
	// PeersGone counts the held connections released because their page
	// closed them (or the network dropped them) while they were held.
	PeersGone uint64
	// Kept counts the connections kept, after a long-poll reply or an
	// ack's, for their page's next request: open, with no request on
	// them.
	Kept int
	// KeptServed counts the requests the hub read and served itself on
	// connections it kept, without handing them back to net/http: in
	// steady state, every long-poll and every ack after a page's first.
	KeptServed uint64
}

// Observer is told of what happens on a hub as it happens, for metrics
// and tracing. Its methods are called on the delivery path, from many
// goroutines at once: they must be quick and safe for concurrent use.
type Observer interface {
	// ObserveBackplaneLag is called for every reverse call the hub
	// receives from its backplane, with the time since the sending hub
	// published it. Across processes, the time is read from two clocks;
	// a negative difference counts as 0.
	ObserveBackplaneLag(d time.Duration)
}

// Observe adds o to the observers of the hub. It may be called at any
// time; o is told of what happens from then on.
func (h *Hub) Observe(o Observer) {
	h.stats.mu.Lock()
	defer h.stats.mu.Unlock()
	old := h.stats.observers.Load()
	var list []Observer
	if old != nil {
		list = append(list, *old...)
	}
	list = append(list, o)
	h.stats.observers.Store(&list)
}

// Stats returns the hub's gauges and counters. It looks at every live
// session, each under its own lock for a moment, and holds no lock of the
// hub across them all: at many thousands of pages, a call costs
// milliseconds of CPU. Counters costs the same at any number of pages,
// for what is polled often.
func (h *Hub) Stats() Stats {
	all := h.sessions()
	st := Stats{Sessions: map[string]int{}, Held: map[string]int{}}
	shared := map[*mux]bool{}
	for _, s := range all {
		s.mu.Lock()
		if s.ended == "" {
			st.Sessions[s.transport]++
			switch hh := s.held; {
			case hh == nil:
			case hh.mux != nil:
				st.SharedSessions++
				shared[hh.mux] = true
			default:
				st.Held[hh.t.name()]++
			}
			st.OutboxMessages += len(s.msgs)
			st.OutboxBytes += s.bytes
			st.MaxOutboxMessages = max(st.MaxOutboxMessages, len(s.msgs))
			st.MaxOutboxBytes = max(st.MaxOutboxBytes, s.bytes)
		}
		s.mu.Unlock()
	}
	for m := range shared {
		st.Held[m.kind]++
	}
	st.Counters = h.Counters()
	return st
}

// Counters returns the hub's counters, without looking at any session.
func (h *Hub) Counters() Counters {
	c := &h.stats
	ct := Counters{
		Opened:       c.opened.Load(),
		Messages:     c.messages.Load(),
		MessageBytes: c.messageBytes.Load(),
		Acked:        c.acked.Load(),
		PeersGone:    c.peerGone.Load(),
		KeptServed:   c.keptServed.Load(),
		Kept:         int(c.kept.Load()),
	}
	c.mu.Lock()
	ct.Ended = make(map[string]uint64, len(c.ended))
	maps.Copy(ct.Ended, c.ended)
	c.mu.Unlock()
	return ct
}

// hubStats are the counters of a hub and its observers. The counters on
// the delivery path are atomic, so counting takes no lock.
type hubStats struct {
	opened       atomic.Uint64
	messages     atomic.Uint64
	messageBytes atomic.Uint64
	acked        atomic.Uint64
	peerGone     atomic.Uint64
	keptServed   atomic.Uint64
	kept         atomic.Int64
	observers    atomic.Pointer[[]Observer] // copied on write under mu

	mu    sync.Mutex
	ended map[string]uint64
}

// sessionEnded counts a session that ended for reason.
func (c *hubStats) sessionEnded(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended == nil {
		c.ended = map[string]uint64{}
	}
	c.ended[reason]++
}

// received tells the observers how long the envelope env took from its
// publication to this hub.
func (c *hubStats) received(env *Envelope, now time.Time) {
	obs := c.observers.Load()
	if obs == nil || env.Published == 0 {
		return
	}
	lag := max(now.Sub(time.Unix(0, env.Published)), 0)
	for _, o := range *obs {
		o.ObserveBackplaneLag(lag)
	}
}
