package reverse

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
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
	shared map[string]json.RawMessage // SetShared
	// addr is what the client address that opened the session holds,
	// while the hub counts it (see Hub.countsAddrs).
	addr *addrUse
	// The session's "open" entry: where a rebuild of it may start.
	openAt                uint64
	openBrowser, openUser string
	saved                 atomic.Bool // a checkpoint of it was saved
	stashed               atomic.Bool // Stash kept something among the backplane's records

	mu      sync.Mutex
	pending []pendingInvocation // oldest first
	rare    *sessionRare        // made by the first that needs it
}

// sessionRare is what few sessions keep, apart so that the others pay
// one pointer for it. Guarded by the sessionState's mu.
type sessionRare struct {
	stash     []byte // Stash, on a hub alone
	attrs     map[string]any
	forgotten []pendingInvocation // dropped past the limit, not yet answered
}

// rareLocked returns x.rare, making it if need be. Called with x.mu held.
func (x *sessionState) rareLocked() *sessionRare {
	if x.rare == nil {
		x.rare = &sessionRare{}
	}
	return x.rare
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
// empty user removes the binding (log out).
//
// A service method binds its caller with rpc.CallFrom(ctx).SetUser(user),
// which gives the browser a new id (RotateBrowser) before binding it, so
// that an id someone planted in the browser, or copied from it, never
// receives the user's pushes. SetUser itself binds whoever presents
// httpSession.
//
// The binding goes to every hub on the backplane. A hub forgets it once
// the browser has had no session on that hub for the session timeout.
func (h *Hub) SetUser(httpSession, user string) error {
	body, err := json.Marshal(user)
	if err != nil {
		return err
	}
	return h.change(Envelope{Kind: kindBind, Key: httpSession, Body: body})
}

// bindUser applies the user binding at pos to this hub's sessions of the
// browser env.Key, and to its records of other hubs' sessions.
func (h *Hub) bindUser(pos uint64, env *Envelope, user string) {
	httpSession := env.Key
	h.mu.Lock()
	defer h.mu.Unlock()
	h.setPosLocked(pos, env)
	for _, f := range h.far {
		if f.browser == httpSession {
			f.user = user
		}
	}
	if user == "" {
		delete(h.users, httpSession)
	} else {
		h.users[httpSession] = &userBinding{user: user, idleSince: h.now()}
	}
	bind := func(s *Session) {
		if s.x.user != "" {
			delIndex(h.byUser, s.x.user, s)
		}
		s.x.user = user
		if user != "" {
			addIndex(h.byUser, user, s)
		}
	}
	for s := range h.byHTTP.each(httpSession) {
		bind(s)
	}
	// The other pages of a browser just given this id are bound too, with
	// their outboxes held back until they present it (RotateBrowser): a
	// page that never does is not the browser's, and never receives them.
	for from, r := range h.ids.rotated {
		if r.to != httpSession {
			continue
		}
		for s := range h.byHTTP.each(from) {
			if h.claimToLocked(s) == httpSession {
				bind(s)
			}
		}
	}
}

// forgetIdleUsers drops the bindings of HTTP sessions that have had no
// live session since before cutoff.
func (h *Hub) forgetIdleUsers(cutoff time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, b := range h.users {
		if h.byHTTP.count(id) == 0 && b.idleSince.Before(cutoff) {
			delete(h.users, id)
		}
	}
	h.forgetRotationsLocked(cutoff)
}

// User returns the user the session's browser is bound to with
// Hub.SetUser, or "" if none.
func (s *Session) User() string {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	if s.far != nil {
		return s.far.user
	}
	return s.x.user
}

// Join adds the session to the group name, reached by Hub.Group(name).
// Membership belongs to the session, so it lasts across the page's
// reconnects for as long as the session lives. Joining an ended session,
// or a group it is in, does nothing.
func (s *Session) Join(name string) { s.hub.changeSession(s, kindJoin, name) }

// Leave removes the session from the group name.
func (s *Session) Leave(name string) { s.hub.changeSession(s, kindLeave, name) }

// changeSession applies a membership change to s through the log: the
// hub that holds s applies it where the log has it, after every call made
// before it, and every other hub updates its record of s there too. It
// returns once this hub has applied it, so that its caller reads it back.
func (h *Hub) changeSession(s *Session, kind, name string) {
	if s.far == nil {
		h.mu.RLock()
		gone := h.byID[s.id] != s
		h.mu.RUnlock()
		if gone {
			return
		}
	}
	if err := h.change(Envelope{Kind: kind, Key: s.id, IDs: []string{name}}); err != nil {
		h.log.Error("parley: session change not sent", "kind", kind, "err", err)
	}
}

// Groups returns the names of the groups the session is in, sorted.
func (s *Session) Groups() []string {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	if s.far != nil {
		return slices.Sorted(maps.Keys(s.far.groups))
	}
	return slices.Sorted(maps.Keys(s.x.groups))
}

// unindexLocked removes s from the group, user and topic indexes, from
// its address's count and from the pages with a renaming to claim.
// Called with h.mu held for writing.
func (h *Hub) unindexLocked(s *Session) {
	h.countAddrLocked(s, netip.Addr{}, -1)
	h.setClaimLocked(s, "")
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
// The attributes stay with the process that set them: a session another
// process holds, or that moves to another, has them only there. Values
// that every process must read are set with SetShared.
func (s *Session) Set(key string, value any) {
	s.x.mu.Lock()
	defer s.x.mu.Unlock()
	if value == nil {
		if s.x.rare != nil {
			delete(s.x.rare.attrs, key)
		}
		return
	}
	r := s.x.rareLocked()
	if r.attrs == nil {
		r.attrs = map[string]any{}
	}
	r.attrs[key] = value
}

// Get returns the attribute stored under key, or nil.
func (s *Session) Get(key string) any {
	s.x.mu.Lock()
	defer s.x.mu.Unlock()
	if s.x.rare == nil {
		return nil
	}
	return s.x.rare.attrs[key]
}

// SetShared stores value, encoded as JSON, under key among the session's
// shared attributes, which every hub of the backplane reads with
// GetShared, and which move with the session from hub to hub. A nil value
// removes the key. It goes through the backplane's log and returns once
// this hub has it.
func (s *Session) SetShared(key string, value any) error {
	var body json.RawMessage
	if value != nil {
		b, err := json.Marshal(value)
		if err != nil {
			return fmt.Errorf("reverse: shared attribute %q: %w", key, err)
		}
		body = b
	}
	if len(key)+len(body) > maxSharedBytes {
		return fmt.Errorf("reverse: shared attribute %q is over %d bytes", key, maxSharedBytes)
	}
	h := s.hub
	if s.far == nil {
		h.mu.RLock()
		gone := h.byID[s.id] != s
		h.mu.RUnlock()
		if gone {
			return nil
		}
	}
	return h.change(Envelope{Kind: kindShare, Key: s.id, IDs: []string{key}, Body: body})
}

// Stash keeps value for the session's page where every hub of the
// backplane can take it once with TakeStash, replacing what was kept: what
// one request makes for the page and a later one, which may reach another
// server, hands over, such as the cookies set by calls over a WebSocket.
// Alone on the in-memory backplane, it stays in the session.
func (s *Session) Stash(value []byte) error {
	h := s.hub
	if s.far == nil && !h.shared() {
		s.x.mu.Lock()
		s.x.rareLocked().stash = slices.Clone(value)
		s.x.mu.Unlock()
		return nil
	}
	if err := h.bp.Save(stashKey(s.id), value); err != nil {
		return err
	}
	s.x.stashed.Store(true)
	return nil
}

// TakeStash returns what Stash kept for the session's page, nil if
// nothing, and forgets it.
func (s *Session) TakeStash() ([]byte, error) {
	h := s.hub
	if s.far == nil && !h.shared() {
		s.x.mu.Lock()
		defer s.x.mu.Unlock()
		if s.x.rare == nil {
			return nil, nil
		}
		v := s.x.rare.stash
		s.x.rare.stash = nil
		return v, nil
	}
	v, err := h.bp.Load(stashKey(s.id))
	if errors.Is(err, ErrNoRecord) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return v, h.bp.Delete(stashKey(s.id))
}

// stashKey is the key of a session's stash among the backplane's records.
func stashKey(id string) string { return "c." + id }

// maxSharedBytes bounds one shared attribute, key and JSON value.
const maxSharedBytes = 16 << 10

// GetShared decodes the shared attribute stored under key into v, and
// reports whether there was one.
func (s *Session) GetShared(key string, v any) (bool, error) {
	h := s.hub
	h.mu.RLock()
	shared := s.x.shared
	if s.far != nil {
		shared = s.far.shared
	}
	raw, ok := shared[key]
	h.mu.RUnlock()
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

// setShared stores or, for an empty value, removes a shared attribute in
// attrs. Called with the hub's mu held.
func setShared(attrs map[string]json.RawMessage, key string, value json.RawMessage) map[string]json.RawMessage {
	if len(value) == 0 {
		delete(attrs, key)
		return attrs
	}
	if attrs == nil {
		attrs = map[string]json.RawMessage{}
	}
	attrs[key] = value
	return attrs
}

// addPending records an invocation sent to the page, forgetting the
// oldest ones past limit. Those are kept for takeForgotten, so that their
// callers are answered.
func (x *sessionState) addPending(id, origin string, limit int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.pending) >= limit {
		drop := len(x.pending) - limit + 1
		r := x.rareLocked()
		r.forgotten = append(r.forgotten, x.pending[:drop]...)
		n := copy(x.pending, x.pending[drop:])
		clear(x.pending[n:])
		x.pending = x.pending[:n]
	}
	x.pending = append(x.pending, pendingInvocation{id: id, origin: origin})
}

// takeForgotten returns and clears the invocations addPending forgot.
func (x *sessionState) takeForgotten() []pendingInvocation {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.rare == nil {
		return nil
	}
	f := x.rare.forgotten
	x.rare.forgotten = nil
	return f
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

// OnSessionStart registers fn to run each time a page opens a session,
// after the session is reachable and before Open returns. It may join the
// session to groups or set its attributes. Listeners run outside every
// lock of the hub, so they may call targets; a panic in one is logged.
func (h *Hub) OnSessionStart(fn func(s *Session)) {
	h.listeners.mu.Lock()
	defer h.listeners.mu.Unlock()
	h.listeners.start = append(h.listeners.start, fn)
}

// OnSessionEnd registers fn to run once for each session that ends, with
// the reason (ReasonExpired, ReasonOverflow or ReasonClosed), after the
// session is no longer reachable and after its OnSessionStart listeners.
// Listeners run outside every lock of the hub, so they may call targets
// ("tell the room Ann left"); a panic in one is logged. When Session.Close
// returns, its listeners have run; those of a session that overflowed
// during a call run on a goroutine of their own.
func (h *Hub) OnSessionEnd(fn func(s *Session, reason string)) {
	h.listeners.mu.Lock()
	defer h.listeners.mu.Unlock()
	h.listeners.end = append(h.listeners.end, fn)
}

// started queues the OnSessionStart listeners of s ahead of any event
// queued already, and runs the queue. Called with no lock of the hub held.
func (l *listeners) started(s *Session) {
	s.ev.mu.Lock()
	s.ev.queue = &lifeEvent{next: s.ev.queue, fn: func() {
		l.mu.Lock()
		fns := l.start
		l.mu.Unlock()
		for _, fn := range fns {
			s.hub.safely("an OnSessionStart listener", func() { fn(s) })
		}
	}}
	s.ev.opened = true
	s.ev.mu.Unlock()
	s.ev.run()
}

// ended queues the OnSessionEnd listeners of s; the caller runs the queue
// once it holds no lock of the hub.
func (l *listeners) ended(s *Session, reason string) {
	s.ev.mu.Lock()
	last := &s.ev.queue
	for *last != nil {
		last = &(*last).next
	}
	*last = &lifeEvent{fn: func() {
		l.mu.Lock()
		fns := l.end
		l.mu.Unlock()
		for _, fn := range fns {
			s.hub.safely("an OnSessionEnd listener", func() { fn(s, reason) })
		}
	}}
	s.ev.mu.Unlock()
}

// sessionEvents are a session's lifecycle events waiting for their
// listeners. They run in order, one at a time, each once.
type sessionEvents struct {
	mu      sync.Mutex
	queue   *lifeEvent // the first event queued; nil when none is
	opened  bool       // the start event is queued: the queue may run
	running bool       // a goroutine is running the queue
}

// lifeEvent is a queued lifecycle event, linked to the one queued after it:
// a session whose events have run keeps nothing of them.
type lifeEvent struct {
	fn   func()
	next *lifeEvent
}

// run runs the queued events and returns when the queue is empty. It
// returns at once if another goroutine is running them (that one runs
// what is queued meanwhile too), or if the start event is not queued yet
// (Open runs the queue then).
func (e *sessionEvents) run() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running || !e.opened {
		return
	}
	e.running = true
	for e.queue != nil {
		next := e.queue
		e.queue = next.next
		e.mu.Unlock()
		next.fn()
		e.mu.Lock()
	}
	e.running = false
}
