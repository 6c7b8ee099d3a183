package reverse

import (
	"encoding/json"
	"fmt"
)

// Target is a set of pages that reverse calls go to. Targets are cheap
// values: they name the set, and the set is resolved at each call from the
// hub's indexes, so a page that opens later is reached by later calls.
type Target struct {
	hub  *Hub
	kind targetKind
	key  string
}

type targetKind uint8

const (
	targetPage targetKind = iota
	targetSession
	targetAll
)

// Page returns the target of every page showing path, after NormalizePage.
func (h *Hub) Page(path string) Target {
	return Target{hub: h, kind: targetPage, key: NormalizePage(path)}
}

// Session returns the target of the one page whose session id is id.
func (h *Hub) Session(id string) Target {
	return Target{hub: h, kind: targetSession, key: id}
}

// All returns the target of every page with a live session.
func (h *Hub) All() Target { return Target{hub: h, kind: targetAll} }

// Call asks every page of the target to run the browser function fn with
// args, each encoded as JSON. fn names a function the page exposed with
// parley.expose, such as "updateCallers", or a method of an exposed
// object, such as "ChatPage.addMessage".
//
// Call returns once the call is in the outbox of every page of the target;
// the pages run it as their transports deliver it. It fails only when an
// argument cannot be encoded. A page whose outbox overflows is ended and
// told it has a gap.
func (t Target) Call(fn string, args ...any) error {
	body, err := encodeCall(fn, args)
	if err != nil {
		return err
	}
	t.hub.deliver(t, body)
	return nil
}

// Send is Call for callers that have no way to report an error, such as
// typed proxy methods without results: an argument that cannot be encoded
// is logged by the hub's logger and the call is dropped.
func (t Target) Send(fn string, args ...any) {
	if err := t.Call(fn, args...); err != nil {
		t.hub.log.Error("parley: reverse call not sent", "fn", fn, "err", err)
	}
}

// encodeCall returns `"fn":…,"args":[…]`, the part of a message shared by
// every page it goes to.
func encodeCall(fn string, args []any) ([]byte, error) {
	if fn == "" {
		return nil, fmt.Errorf("reverse: call with an empty function name")
	}
	if args == nil {
		args = []any{}
	}
	name, err := json.Marshal(fn)
	if err != nil {
		return nil, err
	}
	list, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("reverse: encoding the arguments of %s: %w", fn, err)
	}
	b := make([]byte, 0, len(name)+len(list)+14)
	b = append(b, `"fn":`...)
	b = append(b, name...)
	b = append(b, `,"args":`...)
	return append(b, list...), nil
}

// deliver appends body to the outbox of every session of t.
func (h *Hub) deliver(t Target, body []byte) {
	h.deliverMu.Lock()
	defer h.deliverMu.Unlock()
	var overflowed []*Session
	h.mu.RLock()
	push := func(s *Session) {
		if !s.push(body, h.limits) {
			overflowed = append(overflowed, s)
		}
	}
	switch t.kind {
	case targetPage:
		for s := range h.byPage[t.key] {
			push(s)
		}
	case targetSession:
		if s := h.byID[t.key]; s != nil {
			push(s)
		}
	case targetAll:
		for _, s := range h.byID {
			push(s)
		}
	}
	h.mu.RUnlock()
	for _, s := range overflowed {
		h.log.Warn("parley: outbox overflow, ending session", "session", s.id, "page", s.page)
		h.end(s, ReasonOverflow)
	}
}
