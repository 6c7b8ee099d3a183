package reverse

import (
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"
)

// sessionState is what the application and the hub keep on a session
// besides its outbox: its user, groups and subscriptions (guarded by the
// hub's mu, since the hub's indexes mirror them), and its attributes and
// pending invocations (guarded by mu).
type sessionState struct {
	user   string
	groups map[string]struct{}
	subs   map[string]struct{}

	mu      sync.Mutex
	attrs   map[string]any
	pending []pendingInvocation // oldest first
}

// pendingInvocation is an invocation the page has received and not
// answered yet, and the hub waiting for its result.
type pendingInvocation struct {
	id, origin string
}

// userBinding binds an HTTP session to a user.
type userBinding struct {
	user string
	// idleSince is when the HTTP session last had no live session on this
	// hub: after the session timeout with none, the binding is forgotten.
	idleSince time.Time
}

// SetUser binds the browser whose HTTP session id is httpSession (see
// rpc.Call.HTTPSessionID) to user: its open pages, and those it opens
// later, are reached by User(user) and report it from Session.User. An
// empty user removes the binding (log out). A service method binds its
// caller with hub.SetUser(rpc.CallFrom(ctx).HTTPSessionID, user).
//
// The binding goes to every hub on the backplane. A hub forgets it once
// the browser has had no session on that hub for the session timeout.
func (h *Hub) SetUser(httpSession, user string) error {
	body, err := json.Marshal(user)
	if err != nil {
		return err
	}
	_, err = h.bp.Publish(Envelope{Kind: kindBind, Key: httpSession, Origin: h.id, Body: body})
	return err
}

// bindUser applies a user binding to this hub's sessions of httpSession.
func (h *Hub) bindUser(httpSession, user string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if user == "" {
		delete(h.users, httpSession)
	} else {
		h.users[httpSession] = &userBinding{user: user, idleSince: h.now()}
	}
	for s := range h.byHTTP[httpSession] {
		if s.x.user != "" {
			delIndex(h.byUser, s.x.user, s)
		}
		s.x.user = user
		if user != "" {
			addIndex(h.byUser, user, s)
		}
	}
}

// forgetIdleUsers drops the bindings of HTTP sessions that have had no
// live session since before cutoff.
func (h *Hub) forgetIdleUsers(cutoff time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, b := range h.users {
		if len(h.byHTTP[id]) == 0 && b.idleSince.Before(cutoff) {
			delete(h.users, id)
		}
	}
}

// User returns the user the session's browser is bound to with
// Hub.SetUser, or "" if none.
func (s *Session) User() string {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	return s.x.user
}

// Join adds the session to the group name, reached by Hub.Group(name).
// Membership belongs to the session, so it lasts across the page's
// reconnects for as long as the session lives. Joining an ended session,
// or a group it is in, does nothing.
func (s *Session) Join(name string) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byID[s.id] != s {
		return
	}
	if s.x.groups == nil {
		s.x.groups = map[string]struct{}{}
	}
	s.x.groups[name] = struct{}{}
	addIndex(h.byGroup, name, s)
}

// Leave removes the session from the group name.
func (s *Session) Leave(name string) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := s.x.groups[name]; !ok {
		return
	}
	delete(s.x.groups, name)
	delIndex(h.byGroup, name, s)
}

// Groups returns the names of the groups the session is in, sorted.
func (s *Session) Groups() []string {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.x.groups))
}

// unindexLocked removes s from the group, user and topic indexes. Called
// with h.mu held for writing.
func (h *Hub) unindexLocked(s *Session) {
	for g := range s.x.groups {
		delIndex(h.byGroup, g, s)
	}
	if s.x.user != "" {
		delIndex(h.byUser, s.x.user, s)
	}
	for p := range s.x.subs {
		h.topics.remove(p, s)
	}
}

// Set stores value under key among the session's attributes, which Where
// filters and the application read with Get. A nil value removes the key.
func (s *Session) Set(key string, value any) {
	s.x.mu.Lock()
	defer s.x.mu.Unlock()
	if value == nil {
		delete(s.x.attrs, key)
		return
	}
	if s.x.attrs == nil {
		s.x.attrs = map[string]any{}
	}
	s.x.attrs[key] = value
}

// Get returns the attribute stored under key, or nil.
func (s *Session) Get(key string) any {
	s.x.mu.Lock()
	defer s.x.mu.Unlock()
	return s.x.attrs[key]
}

// addPending records an invocation sent to the page, forgetting the
// oldest one past limit.
func (x *sessionState) addPending(id, origin string, limit int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.pending) >= limit {
		n := copy(x.pending, x.pending[len(x.pending)-limit+1:])
		clear(x.pending[n:])
		x.pending = x.pending[:n]
	}
	x.pending = append(x.pending, pendingInvocation{id: id, origin: origin})
}

// takePending removes the invocation id and returns the hub waiting for
// it, reporting false if the page has no such invocation pending.
func (x *sessionState) takePending(id string) (origin string, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	i := slices.IndexFunc(x.pending, func(p pendingInvocation) bool { return p.id == id })
	if i < 0 {
		return "", false
	}
	origin = x.pending[i].origin
	x.pending = slices.Delete(x.pending, i, i+1)
	return origin, true
}

// listeners are the hub's session lifecycle listeners.
type listeners struct {
	mu    sync.Mutex
	start []func(*Session)
	end   []func(*Session, string)
}

// OnSessionStart registers fn to run, on the opening goroutine, each time
// a page opens a session, after the session is reachable. It may join the
// session to groups or set its attributes.
func (h *Hub) OnSessionStart(fn func(s *Session)) {
	h.listeners.mu.Lock()
	defer h.listeners.mu.Unlock()
	h.listeners.start = append(h.listeners.start, fn)
}

// OnSessionEnd registers fn to run once for each session that ends, with
// the reason (ReasonExpired, ReasonOverflow or ReasonClosed), after the
// session is no longer reachable.
func (h *Hub) OnSessionEnd(fn func(s *Session, reason string)) {
	h.listeners.mu.Lock()
	defer h.listeners.mu.Unlock()
	h.listeners.end = append(h.listeners.end, fn)
}

func (l *listeners) started(s *Session) {
	l.mu.Lock()
	fns := l.start
	l.mu.Unlock()
	for _, fn := range fns {
		fn(s)
	}
}

func (l *listeners) ended(s *Session, reason string) {
	l.mu.Lock()
	fns := l.end
	l.mu.Unlock()
	for _, fn := range fns {
		fn(s, reason)
	}
}
