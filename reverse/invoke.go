package reverse

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Errors in the replies of Invoke, and of Session.Answer.
var (
	// ErrNoReply: the page did not answer before the context ended. The
	// error in the Reply wraps the context's error too.
	ErrNoReply = errors.New("reverse: the page did not reply")
	// ErrSessionEnded: the page's session ended before it answered.
	ErrSessionEnded = errors.New("reverse: the session ended before the page replied")
	// ErrUnknownInvocation: the session has no such invocation waiting
	// for its answer (never sent to it, already answered, or forgotten).
	ErrUnknownInvocation = errors.New("reverse: no such invocation pending")
)

// Reply is one page's outcome of an Invoke.
type Reply struct {
	// Session is the id of the page's session.
	Session string
	// Value is what the browser function returned (or its Promise
	// resolved to), as JSON; null for undefined.
	Value json.RawMessage
	// Err is nil on success; a *PageError if the function threw or its
	// Promise rejected; otherwise it wraps ErrNoReply (the context ended,
	// or the page had more invocations pending than its limit and this one
	// was forgotten) or ErrSessionEnded.
	Err error
}

// Decode decodes the reply's value into v, which must be a pointer, or
// returns the reply's error.
func (r Reply) Decode(v any) error {
	if r.Err != nil {
		return r.Err
	}
	return json.Unmarshal(r.Value, v)
}

// PageError is what a browser function threw, or its Promise rejected with.
type PageError struct {
	// Name is the error's name, such as "TypeError"; "" for a thrown value
	// that is not an Error.
	Name string `json:"name,omitempty"`
	// Message is the error's message, or the thrown value as text.
	Message string `json:"message"`
}

// Error implements error.
func (e *PageError) Error() string {
	if e.Name == "" {
		return "page: " + e.Message
	}
	return "page: " + e.Name + ": " + e.Message
}

// Invoke calls the browser function fn with args on every page of the
// target, like Call, and waits for what each returns: one Reply per page
// reached, sorted by session id. It waits until every page has answered or
// ctx ends, whichever is first; a page that has not answered by then gets
// a Reply whose Err wraps ErrNoReply and ctx's error. A page that forgets
// the invocation at its PendingInvocations limit is answered at once with
// an Err wrapping ErrNoReply. The error is non-nil only when the call
// could not be sent.
func (t Target) Invoke(ctx context.Context, fn string, args ...any) ([]Reply, error) {
	if err := checkName(fn); err != nil {
		return nil, err
	}
	h := t.hub
	id := newID()
	body, err := encodeCall(fn, args, id)
	if err != nil {
		return nil, err
	}
	env := t.envelope(body)
	env.Invoke = id
	// Every hub on the backplane reports which of its pages the call
	// reached; one that dies before it does leaves the wait to ctx.
	hubs, err := h.bp.Members()
	if err != nil {
		return nil, err
	}
	inv := h.invocations.begin(id)
	defer h.invocations.forget(id)
	if err := h.deliver(env); err != nil {
		return nil, err
	}
	h.invocations.expect(inv, hubs)
	select {
	case <-inv.done:
	case <-ctx.Done():
	}
	return h.invocations.replies(inv, ctx.Err()), nil
}

// Answer records the page's outcome of the invocation id and sends it to
// the hub waiting for it: value (JSON; empty means null) on success, or
// perr. The built-in service calls it when the runtime posts a result. It
// fails with ErrUnknownInvocation if the session has no such invocation.
func (s *Session) Answer(id string, value json.RawMessage, perr *PageError) error {
	if s.far != nil {
		s.hub.mailHolder(s, Envelope{Kind: kindAnswer, Key: s.id, Invoke: id, Body: value, Error: perr})
		return nil
	}
	origin, ok := s.x.takePending(id)
	if !ok {
		return ErrUnknownInvocation
	}
	env := Envelope{Kind: kindResult, To: origin, Invoke: id, IDs: []string{s.id}}
	if perr != nil {
		env.Error = perr
	} else if len(value) == 0 {
		env.Body = json.RawMessage("null")
	} else {
		env.Body = value
	}
	s.hub.control(env)
	return nil
}

// endedForgotten, in the Ended field of a "result" envelope, says that the
// page forgot the invocation at its pending limit: the caller gets
// ErrNoReply for that page, since its session has not ended.
const endedForgotten = "forgotten"

// answerForgotten tells the hubs waiting for the invocations s forgot at
// its pending limit that the page will not answer them.
func (h *Hub) answerForgotten(s *Session) {
	for _, p := range s.x.takeForgotten() {
		h.control(Envelope{Kind: kindResult, To: p.origin, Invoke: p.id, IDs: []string{s.id}, Ended: endedForgotten})
	}
}

// failPending tells the hubs waiting for s's answers that its session
// ended with reason.
func (h *Hub) failPending(s *Session, reason string) {
	s.x.mu.Lock()
	pending := s.x.pending
	s.x.pending = nil
	s.x.mu.Unlock()
	for _, p := range pending {
		h.control(Envelope{Kind: kindResult, To: p.origin, Invoke: p.id, IDs: []string{s.id}, Ended: reason})
	}
}

// invocations are the Invoke calls of this hub waiting for replies.
type invocations struct {
	mu   sync.Mutex
	byID map[string]*invocation
}

// invocation gathers the replies to one Invoke. Guarded by invocations.mu.
type invocation struct {
	hubs    []string            // hubs to hear "reached" from; nil until known
	reports map[string]struct{} // hubs heard from
	reached map[string]struct{} // sessions the call reached
	replies map[string]Reply    // by session id
	done    chan struct{}       // closed when every reached page answered
}

func (iv *invocations) begin(id string) *invocation {
	inv := &invocation{reports: map[string]struct{}{}, reached: map[string]struct{}{}, replies: map[string]Reply{}, done: make(chan struct{})}
	iv.mu.Lock()
	defer iv.mu.Unlock()
	iv.byID[id] = inv
	return inv
}

func (iv *invocations) forget(id string) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	delete(iv.byID, id)
}

// expect records the hubs the invocation went to.
func (iv *invocations) expect(inv *invocation, hubs []string) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	inv.hubs = hubs
	inv.checkLocked()
}

// reached records a hub's report of the sessions an invocation reached.
func (iv *invocations) reached(env Envelope) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	inv := iv.byID[env.Invoke]
	if inv == nil {
		return
	}
	inv.reports[env.Origin] = struct{}{}
	for _, id := range env.IDs {
		inv.reached[id] = struct{}{}
	}
	inv.checkLocked()
}

// result records a page's outcome of an invocation.
func (iv *invocations) result(env Envelope) {
	if len(env.IDs) != 1 {
		return
	}
	r := Reply{Session: env.IDs[0], Value: env.Body}
	switch {
	case env.Ended == endedForgotten:
		r.Value, r.Err = nil, fmt.Errorf("%w: the page had too many invocations pending and forgot this one", ErrNoReply)
	case env.Ended != "":
		r.Value, r.Err = nil, fmt.Errorf("%w (%s)", ErrSessionEnded, env.Ended)
	case env.Error != nil:
		r.Value, r.Err = nil, env.Error
	}
	iv.mu.Lock()
	defer iv.mu.Unlock()
	inv := iv.byID[env.Invoke]
	if inv == nil {
		return
	}
	if _, dup := inv.replies[r.Session]; !dup {
		inv.replies[r.Session] = r
	}
	inv.checkLocked()
}

// checkLocked closes done once every hub has reported and every page it
// reached has answered.
func (inv *invocation) checkLocked() {
	if inv.hubs == nil {
		return
	}
	for _, id := range inv.hubs {
		if _, ok := inv.reports[id]; !ok {
			return
		}
	}
	for id := range inv.reached {
		if _, ok := inv.replies[id]; !ok {
			return
		}
	}
	select {
	case <-inv.done:
	default:
		close(inv.done)
	}
}

// replies returns the invocation's replies, with one for each page reached
// that did not answer, sorted by session id.
func (iv *invocations) replies(inv *invocation, ctxErr error) []Reply {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	out := make([]Reply, 0, max(len(inv.reached), len(inv.replies)))
	for _, r := range inv.replies {
		out = append(out, r)
	}
	for id := range inv.reached {
		if _, ok := inv.replies[id]; !ok {
			out = append(out, Reply{Session: id, Err: fmt.Errorf("%w: %w", ErrNoReply, ctxErr)})
		}
	}
	slices.SortFunc(out, func(a, b Reply) int { return cmp.Compare(a.Session, b.Session) })
	return out
}
