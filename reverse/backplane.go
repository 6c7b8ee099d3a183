package reverse

import (
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
	// To, when set, is the id of the one hub the envelope is for; other
	// hubs ignore it, and a backplane may route it to that hub alone.
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
}

// Envelope kinds between hubs.
const (
	kindReached = "reached"
	kindResult  = "result"
	kindBind    = "bind"
)

// Backplane carries envelopes between the hubs of one application, which
// may live in several processes. Each hub hands every delivery to the
// backplane, and each hub delivers what it receives to the sessions it
// holds.
//
// A backplane must hand the envelopes of one publishing hub to every hub
// in the order they were published (a hub publishes one at a time), so
// that pages see one order of calls per publishing hub. It must be safe
// for concurrent use. Deliver functions may publish further envelopes.
type Backplane interface {
	// Subscribe connects the hub hubID: deliver is called with every
	// envelope published from then on by any hub, the subscriber
	// included, except those whose To names another hub. leave
	// disconnects it.
	Subscribe(hubID string, deliver func(Envelope)) (leave func(), err error)
	// Publish hands env to the connected hubs and returns how many hubs it
	// was handed to. An invocation waits for a "reached" report from that
	// many hubs.
	Publish(env Envelope) (hubs int, err error)
}

// MemoryBackplane connects the hubs of one process. Publish delivers to
// every hub before it returns, on the caller's goroutine, so a call is in
// the outbox of every page it reaches when Call returns.
type MemoryBackplane struct {
	mu   sync.RWMutex
	subs []memorySub
}

type memorySub struct {
	id      string
	deliver func(Envelope)
	token   *int // tells apart two subscriptions of one id
}

// NewMemoryBackplane returns a backplane with no hubs connected.
func NewMemoryBackplane() *MemoryBackplane { return &MemoryBackplane{} }

// ErrDuplicateHub: a hub with that id is already connected.
var ErrDuplicateHub = errors.New("reverse: a hub with this id is already on the backplane")

// Subscribe implements Backplane.
func (b *MemoryBackplane) Subscribe(hubID string, deliver func(Envelope)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if slices.ContainsFunc(b.subs, func(s memorySub) bool { return s.id == hubID }) {
		return nil, ErrDuplicateHub
	}
	token := new(int)
	// Copy on write: Publish iterates a snapshot without the lock.
	b.subs = append(slices.Clip(b.subs), memorySub{id: hubID, deliver: deliver, token: token})
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.subs = slices.DeleteFunc(slices.Clone(b.subs), func(s memorySub) bool { return s.token == token })
	}, nil
}

// Publish implements Backplane. Deliveries run without the backplane's
// lock, so a deliver function may publish in turn.
func (b *MemoryBackplane) Publish(env Envelope) (int, error) {
	b.mu.RLock()
	subs := b.subs
	b.mu.RUnlock()
	n := 0
	for _, s := range subs {
		if env.To == "" || env.To == s.id {
			s.deliver(env)
			n++
		}
	}
	return n, nil
}

// receive handles an envelope from the backplane.
func (h *Hub) receive(env Envelope) {
	if env.To != "" && env.To != h.id {
		return
	}
	switch env.Kind {
	case kindReached:
		h.invocations.reached(env)
	case kindResult:
		h.invocations.result(env)
	case kindBind:
		var user string
		if err := json.Unmarshal(env.Body, &user); err != nil {
			h.log.Error("parley: malformed user binding dropped", "origin", env.Origin)
			return
		}
		h.bindUser(env.Key, user)
	default:
		h.stats.received(&env, h.now())
		h.deliverLocal(env)
	}
}

// control publishes an envelope between hubs. It does not take deliverMu:
// it may be sent while a delivery of this hub is under way.
func (h *Hub) control(env Envelope) {
	env.Origin = h.id
	if _, err := h.bp.Publish(env); err != nil {
		h.log.Error("parley: backplane refused an envelope", "kind", env.Kind, "err", err)
	}
}
