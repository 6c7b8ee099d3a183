package reverse

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
)

// Envelope is one delivery as it crosses the backplane: a reverse call
// addressed to a target, or a message between hubs about an invocation or
// a user binding. It is plain data, so a backplane may encode it as JSON
// and carry it to other processes.
type Envelope struct {
	// Kind says what the envelope is. For a reverse call it is the kind of
	// target: "page", "session", "browser" (HTTP session), "user",
	// "group", "all", "topic" (Publish) or "sessions" (the ids a Where
	// filter chose). Between hubs: "reached" (which sessions an
	// invocation reached), "result" (a page's result of an invocation)
	// and "bind" (SetUser).
	Kind string `json:"kind"`
	// Key names the target: a page path, a session id, an HTTP session id,
	// a user id, a group name or a topic. For "bind", the HTTP session id.
	Key string `json:"key,omitempty"`
	// IDs are session ids: the targets of "sessions", the sessions
	// "reached", or the one session of a "result".
	IDs []string `json:"ids,omitempty"`
	// To is the id of the one hub an envelope sent with Backplane.Send is
	// for.
	To string `json:"to,omitempty"`
	// Origin is the id of the hub that sent the envelope.
	Origin string `json:"origin,omitempty"`
	// Invoke is the id of the invocation a call, "reached" or "result" is
	// part of.
	Invoke string `json:"invoke,omitempty"`
	// Body is the call, {"fn":…,"args":[…]} plus "invoke" for an
	// invocation; the value a page returned, for a "result"; the user id
	// as a JSON string, for a "bind".
	Body json.RawMessage `json:"body,omitempty"`
	// Error is what the page threw or rejected with, for a "result".
	Error *PageError `json:"error,omitempty"`
	// Ended, for a "result", is the reason the page's session ended
	// before it answered.
	Ended string `json:"ended,omitempty"`
	// Published is when the sending hub handed a reverse call to the
	// backplane, in Unix nanoseconds by its clock; 0 when unknown. The
	// receiving hubs measure the backplane's lag by it.
	Published int64 `json:"published,omitempty"`
	// At is a log position: for "open", the last entry the opening hub
	// had applied when the session began, from which a rebuild of the
	// session starts; for a "snapshot", the move it is the state at.
	At uint64 `json:"at,omitempty"`
}

// Envelope kinds between hubs. "reached" and "result" travel by
// Backplane.Send; the others are entries of the log that change a
// session's state, so that every hub, and a replay, applies them at the
// same place among the calls.
const (
	kindReached = "reached"
	kindResult  = "result"
	kindBind    = "bind"
)

// Backplane is the log and the mail that the hubs of one application
// share, which may live in several processes: the in-memory one here, or
// one on a message bus (reverse/natsbp, reverse/redisbp).
//
// The log is one sequence of envelopes, numbered from 1 by position: every
// hub reads all of it in that order. Reverse calls go through it, so every
// page sees the calls of all publishers in one order, the log's; so do the
// changes to sessions (opened, ended, moved to another hub, joined a group,
// subscribed, bound to a user), so that which pages a call reaches is
// decided at the same place in the log by every hub. Send carries what is
// for one hub alone: reports and results of invocations, a moved
// session's state, a page's ack or answer that another hub received.
//
// Save, Load and Delete keep small records where every hub can read them:
// each session's last checkpoint, from which a hub that takes over the
// pages of a hub that died replays the log.
//
// A Backplane must be safe for concurrent use.
type Backplane interface {
	// Subscribe connects the hub hubID. deliver is called with every entry
	// appended to the log after Subscribe returns, in log order, one call
	// at a time, with strictly increasing positions; a position that skips
	// tells the hub that entries were lost. direct is called with every
	// envelope sent to hubID, one call at a time. leave disconnects the
	// hub and stops both.
	Subscribe(hubID string, deliver func(pos uint64, env Envelope), direct func(Envelope)) (leave func(), err error)
	// Publish appends env to the log and returns its position once the
	// log holds it.
	Publish(env Envelope) (pos uint64, err error)
	// Send hands env to the hub hubID alone, outside the log, at most once.
	// Envelopes from one sender to one hub arrive in the order sent.
	Send(hubID string, env Envelope) error
	// Replay calls fn with the log's entries at positions from through to,
	// in order. It fails with ErrHistoryGone when the log no longer holds
	// the first of them.
	Replay(ctx context.Context, from, to uint64, fn func(pos uint64, env Envelope) error) error
	// Members returns the ids of the hubs connected now, as far as the
	// backplane can tell: a hub that died leaves the list within a few
	// seconds.
	Members() ([]string, error)
	// Save stores value under key, replacing what was there.
	Save(key string, value []byte) error
	// Load returns the value stored under key, or ErrNoRecord.
	Load(key string) ([]byte, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(key string) error
	// Err returns nil while the backplane reaches its bus, and why not
	// otherwise. A hub refuses new pages while it fails.
	Err() error
}

// Errors a Backplane returns.
var (
	// ErrHistoryGone: the log no longer holds the entries asked for.
	ErrHistoryGone = errors.New("reverse: the backplane's log no longer holds these entries")
	// ErrNoRecord: nothing is stored under the key.
	ErrNoRecord = errors.New("reverse: no record under this key")
	// ErrDuplicateHub: a hub with that id is already on the backplane.
	ErrDuplicateHub = errors.New("reverse: a hub with this id is already on the backplane")
)

// MemoryBackplane connects the hubs of one process. Publish delivers to
// every hub on the caller's goroutine before it returns, unless another
// goroutine is delivering, which then delivers this entry too, right after
// its own. It keeps the last MemoryHistory entries for Replay.
type MemoryBackplane struct {
	mu      sync.Mutex // guards everything below
	subs    []memorySub
	last    uint64     // position of the last entry appended
	queue   []Envelope // appended, not yet delivered, from last-len(queue)+1
	running bool       // a Publish is delivering the queue
	kept    uint64     // the first position history holds; 0 when none
	history []Envelope // a ring of the last MemoryHistory entries: pos is at (pos-1) % MemoryHistory
	records map[string][]byte
}

// MemoryHistory is how many of the latest entries a MemoryBackplane keeps
// for Replay.
const MemoryHistory = 4096

type memorySub struct {
	id      string
	deliver func(uint64, Envelope)
	direct  func(Envelope)
	token   *int // tells apart two subscriptions of one id
}

// NewMemoryBackplane returns a backplane with no hubs connected.
func NewMemoryBackplane() *MemoryBackplane {
	return &MemoryBackplane{records: map[string][]byte{}}
}

// Subscribe implements Backplane.
func (b *MemoryBackplane) Subscribe(hubID string, deliver func(uint64, Envelope), direct func(Envelope)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if slices.ContainsFunc(b.subs, func(s memorySub) bool { return s.id == hubID }) {
		return nil, ErrDuplicateHub
	}
	token := new(int)
	// Copy on write: deliveries iterate a snapshot without the lock.
	b.subs = append(slices.Clip(b.subs), memorySub{id: hubID, deliver: deliver, direct: direct, token: token})
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.subs = slices.DeleteFunc(slices.Clone(b.subs), func(s memorySub) bool { return s.token == token })
	}, nil
}

// Publish implements Backplane. The publisher that finds no delivery
// running delivers the queue, its own entry and any appended meanwhile,
// without the backplane's lock, so that a deliver function may publish in
// turn. A Publish that finds a delivery running returns at once: its entry
// is delivered by the running one, in log order.
func (b *MemoryBackplane) Publish(env Envelope) (uint64, error) {
	b.mu.Lock()
	b.last++
	pos := b.last
	b.queue = append(b.queue, env)
	// Only hubs of several ever replay: until a second one comes, the
	// backplane keeps nothing.
	if b.history == nil && len(b.subs) > 1 {
		b.history = make([]Envelope, MemoryHistory)
		b.kept = pos
	}
	if b.history != nil {
		b.history[(pos-1)%MemoryHistory] = env
	}
	if b.running {
		// Delivered by the running publisher: right after the entry it is
		// delivering, when this is a publish from inside a delivery.
		b.mu.Unlock()
		return pos, nil
	}
	b.running = true
	for len(b.queue) > 0 {
		next := b.queue[0]
		at := b.last - uint64(len(b.queue)) + 1
		b.queue = b.queue[1:]
		subs := b.subs
		b.mu.Unlock()
		for _, s := range subs {
			s.deliver(at, next)
		}
		b.mu.Lock()
	}
	b.queue = nil
	b.running = false
	b.mu.Unlock()
	return pos, nil
}

// Send implements Backplane. The envelope is handed over on the caller's
// goroutine.
func (b *MemoryBackplane) Send(hubID string, env Envelope) error {
	b.mu.Lock()
	subs := b.subs
	b.mu.Unlock()
	for _, s := range subs {
		if s.id == hubID {
			s.direct(env)
		}
	}
	return nil
}

// Replay implements Backplane.
func (b *MemoryBackplane) Replay(ctx context.Context, from, to uint64, fn func(uint64, Envelope) error) error {
	b.mu.Lock()
	first := b.kept
	if b.last >= MemoryHistory {
		first = max(first, b.last-MemoryHistory+1)
	}
	if first == 0 || from < first {
		b.mu.Unlock()
		return ErrHistoryGone
	}
	to = min(to, b.last)
	var list []Envelope
	for pos := from; pos <= to; pos++ {
		list = append(list, b.history[(pos-1)%MemoryHistory])
	}
	b.mu.Unlock()
	for i, env := range list {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(from+uint64(i), env); err != nil {
			return err
		}
	}
	return nil
}

// Members implements Backplane.
func (b *MemoryBackplane) Members() ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := make([]string, len(b.subs))
	for i, s := range b.subs {
		ids[i] = s.id
	}
	return ids, nil
}

// Save implements Backplane.
func (b *MemoryBackplane) Save(key string, value []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.records[key] = slices.Clone(value)
	return nil
}

// Load implements Backplane.
func (b *MemoryBackplane) Load(key string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.records[key]
	if !ok {
		return nil, ErrNoRecord
	}
	return slices.Clone(v), nil
}

// Delete implements Backplane.
func (b *MemoryBackplane) Delete(key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.records, key)
	return nil
}

// Err implements Backplane: memory is always reachable.
func (b *MemoryBackplane) Err() error { return nil }

// control sends an envelope to the hub env.To alone. It does not wait:
// it may be sent while a delivery of this hub is under way.
func (h *Hub) control(env Envelope) {
	env.Origin = h.id
	if err := h.bp.Send(env.To, env); err != nil {
		h.log.Error("parley: backplane refused an envelope", "kind", env.Kind, "err", err)
	}
}
