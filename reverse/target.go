package reverse

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/parley-go/parley/jsruntime"
)

// Target is a set of pages that reverse calls go to. Targets are cheap
// values: they name the set, and the set is resolved at each call from the
// indexes of every hub on the backplane, so a page that opens later is
// reached by later calls.
type Target struct {
	hub    *Hub
	kind   string // one of the target kinds below
	key    string
	filter func(*Session) bool // kindWhere only
}

// Target kinds, as envelopes carry them across the backplane.
const (
	kindPage     = "page"     // key: the normalised page path
	kindSession  = "session"  // key: a session id
	kindBrowser  = "browser"  // key: an HTTP session id
	kindUser     = "user"     // key: a user id
	kindGroup    = "group"    // key: a group name
	kindAll      = "all"      // every session
	kindSessions = "sessions" // Envelope.IDs: the sessions a Where filter chose
	kindTopic    = "topic"    // key: a topic; reaches its subscribers
	kindWhere    = "where"    // a Target only: resolved to kindSessions by the calling hub
)

// Page returns the target of every page showing path, after NormalizePage.
func (h *Hub) Page(path string) Target {
	return Target{hub: h, kind: kindPage, key: NormalizePage(path)}
}

// Session returns the target of the one page whose session id is id.
func (h *Hub) Session(id string) Target {
	return Target{hub: h, kind: kindSession, key: id}
}

// HTTPSession returns the target of every page of one browser: the
// sessions bound to the HTTP session id (rpc.Call.HTTPSessionID).
func (h *Hub) HTTPSession(id string) Target {
	return Target{hub: h, kind: kindBrowser, key: id}
}

// User returns the target of every page of every browser bound to user
// with SetUser.
func (h *Hub) User(user string) Target {
	return Target{hub: h, kind: kindUser, key: user}
}

// Group returns the target of every page whose session joined the group
// name with Session.Join.
func (h *Hub) Group(name string) Target {
	return Target{hub: h, kind: kindGroup, key: name}
}

// All returns the target of every page with a live session.
func (h *Hub) All() Target { return Target{hub: h, kind: kindAll} }

// Where returns the target of every page whose session satisfies keep,
// typically by its attributes (Session.Get, Session.GetShared). Unlike
// the other targets it is not an index: keep runs at each call, outside
// the hub's locks, over every live session this hub holds and over its
// record of every session the other hubs of its backplane hold. On those,
// Page, User, Groups, Subscriptions and GetShared answer; Get, whose
// attributes stay in the process that set them, returns nil. The ids keep
// chose travel through the backplane like any other delivery.
func (h *Hub) Where(keep func(*Session) bool) Target {
	return Target{hub: h, kind: kindWhere, filter: keep}
}

// reservedPrefix starts the names of the functions the runtime implements
// itself (pub/sub, DOM helpers). Pages cannot expose them and Call refuses
// them.
const reservedPrefix = "parley."

// Call asks every page of the target to run the browser function fn with
// args, each encoded as JSON. fn names a function the page exposed with
// parley.expose, such as "updateCallers", or a method of an exposed
// object, such as "ChatPage.addMessage". Names starting with "parley."
// belong to the runtime and are refused.
//
// Call returns once the call is handed to the backplane; with the default
// in-memory backplane, that is once it is in the outbox of every page of
// the target. The pages run it as their transports deliver it. It fails
// when an argument cannot be encoded, holds an integer JavaScript cannot
// represent exactly (one of a Go integer type wider than 53 bits, beyond
// ±(2^53−1), anywhere in it; floats pass as they are), or the backplane
// fails. A page
// whose outbox overflows is ended and told it has a gap.
func (t Target) Call(fn string, args ...any) error {
	if err := checkName(fn); err != nil {
		return err
	}
	return t.call(fn, args)
}

// call sends fn, which may be a reserved name, to the target's pages.
func (t Target) call(fn string, args []any) error {
	body, err := encodeCall(fn, args, "")
	if err != nil {
		return err
	}
	return t.hub.deliver(t.envelope(body))
}

// Send is Call for callers that have no way to report an error, such as
// typed proxy methods without results: a call that cannot be sent is
// logged by the hub's logger and dropped.
func (t Target) Send(fn string, args ...any) {
	if err := t.Call(fn, args...); err != nil {
		t.hub.log.Error("parley: reverse call not sent", "fn", fn, "err", err)
	}
}

// checkName refuses an empty function name and the runtime's own names.
func checkName(fn string) error {
	switch {
	case fn == "":
		return fmt.Errorf("reverse: call with an empty function name")
	case strings.HasPrefix(fn, reservedPrefix):
		return fmt.Errorf("reverse: %q is reserved for the runtime", fn)
	}
	return nil
}

// envelope addresses body to the target. A Where target is resolved here,
// to the ids of the sessions of this hub that its filter keeps.
func (t Target) envelope(body []byte) Envelope {
	env := Envelope{Kind: t.kind, Key: t.key, Origin: t.hub.id, Body: body}
	if t.kind == kindWhere {
		env.Kind, env.Key = kindSessions, ""
		env.IDs = t.hub.filterIDs(t.filter)
	}
	return env
}

// filterIDs returns the ids of the sessions that keep accepts, among
// those this hub holds and those it knows the other hubs hold.
func (h *Hub) filterIDs(keep func(*Session) bool) []string {
	all := append(h.sessions(), h.farViews()...)
	var ids []string
	for _, s := range all {
		if keep(s) {
			ids = append(ids, s.id)
		}
	}
	slices.Sort(ids)
	return ids
}

// encodeCall returns the JSON object {"fn":…,"args":[…]}, with "invoke"
// when the call expects results: every page it reaches receives it as is,
// numbered by its own sequence.
func encodeCall(fn string, args []any, invoke string) ([]byte, error) {
	if args == nil {
		args = []any{}
	}
	name, err := json.Marshal(fn)
	if err != nil {
		return nil, err
	}
	list, err := jsruntime.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("reverse: encoding the arguments of %s: %w", fn, err)
	}
	if err := jsruntime.CheckIntegers(args); err != nil {
		return nil, fmt.Errorf("reverse: arguments of %s: %w", fn, err)
	}
	b := make([]byte, 0, len(name)+len(list)+len(invoke)+28)
	b = append(b, `{"fn":`...)
	b = append(b, name...)
	b = append(b, `,"args":`...)
	b = append(b, list...)
	if invoke != "" {
		b = append(b, `,"invoke":"`...)
		b = append(b, invoke...) // newID: base64url, nothing to escape
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// deliver appends env to the backplane's log, which every page reads in
// one order.
func (h *Hub) deliver(env Envelope) error {
	env.Published = h.now().UnixNano()
	_, err := h.bp.Publish(env)
	return err
}

// deliverLocal appends env's call to the outbox of every session of this
// hub that env addresses. For an invocation, it records the invocation on
// each session and reports the sessions it reached to the invoking hub.
func (h *Hub) deliverLocal(pos uint64, env Envelope) {
	body, ok := messageBody(env.Body)
	if !ok {
		h.log.Error("parley: envelope with a malformed call dropped", "kind", env.Kind, "origin", env.Origin)
		h.skip(pos, &env)
		return
	}
	// The hub's lock is held only to list the sessions env reaches; the
	// fan-out to their outboxes runs without it.
	list := targetLists.Get().(*[]*Session)
	targets := (*list)[:0]
	add := func(s *Session) { targets = append(targets, s) }
	h.mu.RLock()
	h.setPosLocked(pos, &env)
	switch env.Kind {
	case kindPage:
		targets = append(targets, h.byPage[env.Key]...)
	case kindSession:
		if s := h.byID[env.Key]; s != nil {
			add(s)
		}
	case kindBrowser:
		targets = h.byHTTP.appendTo(targets, env.Key)
	case kindUser:
		targets = appendSet(targets, h.byUser[env.Key])
	case kindGroup:
		targets = appendSet(targets, h.byGroup[env.Key])
	case kindAll:
		for _, s := range h.byID {
			add(s)
		}
	case kindSessions:
		for _, id := range env.IDs {
			if s := h.byID[id]; s != nil {
				add(s)
			}
		}
	case kindTopic:
		h.topics.match(env.Key, add)
	default:
		h.log.Error("parley: envelope of unknown kind dropped", "kind", env.Kind, "origin", env.Origin)
	}
	h.mu.RUnlock()
	var overflowed []*Session
	var reached []string
	for _, s := range targets {
		if env.Invoke != "" {
			s.x.addPending(env.Invoke, env.Origin, h.limits.PendingInvocations)
			reached = append(reached, s.id)
		}
		if !s.push(body, h.limits) {
			overflowed = append(overflowed, s)
		}
	}
	clear(targets)
	*list = targets[:0]
	targetLists.Put(list)
	if env.Invoke != "" {
		h.control(Envelope{Kind: kindReached, To: env.Origin, Invoke: env.Invoke, IDs: reached})
	}
	for _, s := range overflowed {
		h.log.Warn("parley: outbox overflow, ending session", "session", s.id, "page", s.page)
		h.end(s, ReasonOverflow)
	}
}

// targetLists recycles the lists of sessions a delivery reaches.
var targetLists = sync.Pool{New: func() any { return new([]*Session) }}

// appendSet appends the sessions of set to list.
func appendSet(list []*Session, set map[*Session]struct{}) []*Session {
	for s := range set {
		list = append(list, s)
	}
	return list
}

// messageBody turns the JSON object {"fn":…} into the `"fn":…` part a
// Message keeps, checking that it has that shape.
func messageBody(obj []byte) ([]byte, bool) {
	if len(obj) < 8 || string(obj[:6]) != `{"fn":` || obj[len(obj)-1] != '}' {
		return nil, false
	}
	return obj[1 : len(obj)-1], true
}
