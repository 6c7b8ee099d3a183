package reverse

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
)

// ReasonEvicted: the hub was at Limits.Sessions when a new page came, and
// ended this session, the one that had gone longest without a connection,
// to make room.
const ReasonEvicted = "evicted"

// maxRotations bounds how many renamings of a browser a page may follow
// to claim its session (see Hub.RotateBrowser).
const maxRotations = 8

// defaultSessions is the default of Limits.Sessions: 100,000, or fewer
// when the process's open-file limit could not give each session a held
// connection, keeping an eighth of the limit (at least 256 files) for
// everything else the process opens.
func defaultSessions() int {
	n := openFileLimit()
	if n <= 0 {
		return 100_000
	}
	return min(100_000, max(n-max(n/8, 256), 64))
}

// addrUse is what one client address holds on the hub; each of its
// sessions points to it.
type addrUse struct {
	addr     netip.Addr
	sessions int
	browsers map[string]int // live sessions by browser (HTTP session id)
}

// rotation records that a browser was given a new id.
type rotation struct {
	to string
	at time.Time
}

// identities are the hub's per-address counts and browser renamings,
// guarded by the hub's mu.
type identities struct {
	byAddr  map[netip.Addr]*addrUse
	rotated map[string]rotation // by the browser's former id
	// claims holds, for each page whose outbox is held back by a renaming
	// of its browser (Hub.RotateBrowser), the new id it must present.
	claims map[*Session]string
}

// countsAddrs reports whether the hub counts what each client address
// holds: only when a per-address limit can be reached, that is when it
// is at most Limits.Sessions.
func (h *Hub) countsAddrs() bool {
	return h.limits.SessionsPerAddress <= h.limits.Sessions || h.limits.BrowsersPerAddress <= h.limits.Sessions
}

// claimToLocked returns the new id s must present before its outbox
// reaches it, "" if none. Called with h.mu held.
func (h *Hub) claimToLocked(s *Session) string { return h.ids.claims[s] }

// setClaimLocked records the new id s must present, or with "" that it
// has nothing to claim. Called with h.mu held for writing.
func (h *Hub) setClaimLocked(s *Session, to string) {
	if to == "" {
		delete(h.ids.claims, s)
		return
	}
	if h.ids.claims == nil {
		h.ids.claims = map[*Session]string{}
	}
	h.ids.claims[s] = to
}

// OpenFrom is Open for a page whose requests come from the address
// client. Besides the limits Open enforces, it refuses the page with
// ErrTooManySessions when client holds Limits.SessionsPerAddress sessions,
// or when the page's browser is new to client and client already holds
// sessions of Limits.BrowsersPerAddress browsers: a client that drops its
// cookies, and so is given a new browser id on every request, cannot fill
// the hub. The zero Addr is not counted.
//
// When the hub holds Limits.Sessions sessions, the one that has gone
// longest without a connection ends with ReasonEvicted to make room; only
// when every session holds a connection is the page refused.
func (h *Hub) OpenFrom(pagePath, httpSession string, client netip.Addr) (*Session, error) {
	s := &Session{
		id:          newID(),
		page:        NormalizePage(pagePath),
		httpSession: httpSession,
		hub:         h,
		lastSeen:    stampOf(h.now()),
	}
	for evicted := false; ; evicted = true {
		h.mu.Lock()
		if err := h.admitLocked(httpSession, client); err != nil {
			h.mu.Unlock()
			return nil, err
		}
		if len(h.byID) < h.limits.Sessions {
			h.addLocked(s)
			h.countAddrLocked(s, client, 1)
			s.x.openAt, s.x.openBrowser, s.x.openUser = h.pos.Load(), httpSession, s.x.user
			h.mu.Unlock()
			break
		}
		var victim *Session
		if !evicted {
			victim = h.idlestLocked()
		}
		h.mu.Unlock()
		if victim == nil {
			return nil, fmt.Errorf("%w: the server holds %d, each with a connection", ErrTooManySessions, h.limits.Sessions)
		}
		h.end(victim, ReasonEvicted)
	}
	rec := sessionRecord{At: s.x.openAt, Holder: h.id, Page: s.page, Browser: httpSession, User: s.x.openUser}
	body, _ := json.Marshal(rec) // strings only: it cannot fail
	h.announce(Envelope{Kind: kindOpen, Key: s.id, At: rec.At, Body: body})
	if h.shared() {
		// The hubs that join later learn of the session from its record.
		h.checkpoint(s, rec)
	}
	h.stats.opened.Add(1)
	h.listeners.started(s)
	return s, nil
}

// admitLocked checks the per-browser and per-address limits for a new
// session of httpSession from client.
func (h *Hub) admitLocked(httpSession string, client netip.Addr) error {
	if h.drain.on.Load() {
		return ErrShuttingDown
	}
	if err := h.bp.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if h.byHTTP.count(httpSession) >= h.limits.PagesPerHTTPSession {
		return fmt.Errorf("%w: a browser may open %d", ErrTooManySessions, h.limits.PagesPerHTTPSession)
	}
	if !client.IsValid() || !h.countsAddrs() {
		return nil
	}
	use := h.ids.byAddr[client]
	switch {
	case use == nil:
	case use.sessions >= h.limits.SessionsPerAddress:
		return fmt.Errorf("%w: one address may open %d", ErrTooManySessions, h.limits.SessionsPerAddress)
	case use.browsers[httpSession] == 0 && len(use.browsers) >= h.limits.BrowsersPerAddress:
		return fmt.Errorf("%w: one address may hold sessions of %d browsers", ErrTooManySessions, h.limits.BrowsersPerAddress)
	}
	return nil
}

// addLocked makes s reachable: it indexes it by id, page, browser and
// the browser's user.
func (h *Hub) addLocked(s *Session) {
	h.byID[s.id] = s
	h.byPage.add(s.page, s)
	addList(h.byHTTP, s.httpSession, s)
	if b := h.users[s.httpSession]; b != nil {
		s.x.user = b.user
		addIndex(h.byUser, b.user, s)
	}
}

// countAddrLocked counts s, with delta 1, among the sessions the address
// client holds, when the hub counts them (see countsAddrs), or with
// delta -1 no more. The zero Addr is not counted.
func (h *Hub) countAddrLocked(s *Session, client netip.Addr, delta int) {
	if delta > 0 {
		if !client.IsValid() || !h.countsAddrs() {
			return
		}
		if h.ids.byAddr == nil {
			h.ids.byAddr = map[netip.Addr]*addrUse{}
		}
		if s.x.addr = h.ids.byAddr[client]; s.x.addr == nil {
			s.x.addr = &addrUse{addr: client, browsers: map[string]int{}}
			h.ids.byAddr[client] = s.x.addr
		}
	}
	use := s.x.addr
	if use == nil {
		return
	}
	use.sessions += delta
	if n := use.browsers[s.httpSession] + delta; n > 0 {
		use.browsers[s.httpSession] = n
	} else {
		delete(use.browsers, s.httpSession)
	}
	if delta < 0 {
		s.x.addr = nil
	}
	if use.sessions <= 0 {
		delete(h.ids.byAddr, use.addr)
	}
}

// idlestLocked returns the session without a held connection that has
// gone longest without contact, or nil if every session holds one.
func (h *Hub) idlestLocked() *Session {
	var idlest *Session
	var since time.Time
	for _, s := range h.byID {
		s.mu.Lock()
		if s.held == nil && (idlest == nil || s.lastSeen.time().Before(since)) {
			idlest, since = s, s.lastSeen.time()
		}
		s.mu.Unlock()
	}
	return idlest
}

// RotateBrowser records that the browser known by the HTTP session id
// from is known by to from now on, and moves s, the page of that browser
// that was given the new id, to it (s may be nil). The browser's other
// pages move to the new id when they present it with their session id
// (Lookup); their held connections are released so that they come back
// at once. Pages that keep presenting from stay where they are. Whoever
// else knows from, such as someone who planted that id in the browser,
// is thereby left out of whatever is later bound to the new id. The
// record is forgotten after the session timeout.
//
// rpc.Call.SetUser rotates the caller's browser this way before it binds
// a user to it.
func (h *Hub) RotateBrowser(from, to string, s *Session) {
	id := ""
	h.mu.Lock()
	if s != nil {
		id = s.id
		s = h.byID[s.id] // a session another hub holds moves there
	}
	h.rotateLocked(from, to, s)
	h.mu.Unlock()
	// The other hubs rename their pages of the browser as the log reaches
	// them.
	h.announce(Envelope{Kind: kindRotate, Key: from, IDs: []string{to, id}})
}

// rotateLocked is RotateBrowser on this hub's own sessions, s among them
// when it is not nil. Called with h.mu held.
func (h *Hub) rotateLocked(from, to string, s *Session) {
	if h.ids.rotated == nil {
		h.ids.rotated = map[string]rotation{}
	}
	h.ids.rotated[from] = rotation{to: to, at: h.now()}
	if s != nil && h.byID[s.id] == s && s.httpSession == from {
		h.moveLocked(s, to)
	}
	// The pages on s's own shared connection (see mux.go) are tabs of the
	// same browser behind the same leader, which a connection of another
	// browser cannot carry: they move with s. Hold back the other pages'
	// outboxes until they present the new id, and let them come back at
	// once to do so.
	var shared *mux
	if s != nil {
		s.mu.Lock()
		if s.held != nil {
			shared = s.held.mux
		}
		s.mu.Unlock()
	}
	for _, other := range h.byHTTP.appendTo(nil, from) {
		other.mu.Lock()
		same := shared != nil && other.held != nil && other.held.mux == shared
		if !same {
			h.setClaimLocked(other, to)
			other.heldBack = true
			other.comeBackLocked()
		}
		other.mu.Unlock()
		if same {
			h.moveLocked(other, to)
		}
	}
	if h.byHTTP.count(from) > 0 {
		until := h.now().Add(h.renameGrace())
		time.AfterFunc(claimNudge, func() { h.safely("a renamed browser's pages", func() { h.nudge(from, to, until) }) })
	}
}

// claimNudge is how often the pages of a renamed browser that have not
// yet presented the new id are sent back to do so.
const claimNudge = time.Second

// nudge releases the held connections of the pages still waiting to
// present the id to that their browser was renamed to from from: a
// page may have come back before the reply that set the new cookie
// reached its browser, still carrying the former id. It repeats every
// claimNudge while such pages remain, until the grace ends.
func (h *Hub) nudge(from, to string, until time.Time) {
	h.mu.RLock()
	waiting := false
	for s := range h.byHTTP.each(from) {
		if h.claimToLocked(s) != to {
			continue
		}
		waiting = true
		s.mu.Lock()
		s.comeBackLocked()
		s.mu.Unlock()
	}
	h.mu.RUnlock()
	if waiting && h.now().Before(until) {
		time.AfterFunc(claimNudge, func() { h.safely("a renamed browser's pages", func() { h.nudge(from, to, until) }) })
	}
}

// unclaimed returns the pages whose outbox was held back by a renaming of
// their browser made before cutoff and that never presented the new id:
// whoever else knows the former id. They end, so that what was held back
// never reaches them and they learn they missed it.
func (h *Hub) unclaimed(cutoff time.Time) []*Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*Session
	for from, r := range h.ids.rotated {
		if !r.at.Before(cutoff) {
			continue
		}
		for s := range h.byHTTP.each(from) {
			if h.claimToLocked(s) != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// claim moves s to the browser id httpSession if the browser s belongs to
// was renamed to it (RotateBrowser), and reports whether it did. For
// formerIDGrace after a renaming it also accepts, without moving s back,
// a former id of the browser s now belongs to: a request the page sent
// before it saw the new cookie (the next poll racing the reply that set
// it) still carries that id, and refusing it would cost the page its
// session. Past the grace, only the new id reaches the page, even for
// whoever learns its session id.
func (h *Hub) claim(s *Session, httpSession string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byID[s.id] != s {
		return false
	}
	if h.renamedLocked(httpSession, s.httpSession, h.now().Add(-h.renameGrace())) {
		return true
	}
	if h.renamedLocked(s.httpSession, httpSession, time.Time{}) {
		h.moveLocked(s, httpSession)
		if h.claimToLocked(s) != "" {
			h.setClaimLocked(s, "")
			s.mu.Lock()
			s.heldBack = false
			s.notifyLocked()
			s.mu.Unlock()
		}
		return true
	}
	return false
}

// formerIDGrace is how long after a browser's renaming its pages are
// still reached with its former id, and have to present the new one.
const formerIDGrace = 30 * time.Second

// renameGrace is formerIDGrace, or half the session timeout when that is
// shorter, so that the sweep meets every renaming before forgetting it.
func (h *Hub) renameGrace() time.Duration { return min(formerIDGrace, h.timeout/2) }

// renamedLocked reports whether the browser id from was renamed to to,
// in at most maxRotations renamings, each made after since.
func (h *Hub) renamedLocked(from, to string, since time.Time) bool {
	id := from
	for range maxRotations {
		r, ok := h.ids.rotated[id]
		if !ok || r.at.Before(since) {
			return false
		}
		if id = r.to; id == to {
			return true
		}
	}
	return false
}

// moveLocked moves s from its browser id to another, with that browser's
// user binding.
func (h *Hub) moveLocked(s *Session, to string) {
	from := s.httpSession
	if from == to {
		return
	}
	delList(h.byHTTP, from, s)
	if b := h.users[from]; b != nil && h.byHTTP.count(from) == 0 {
		b.idleSince = h.now()
	}
	var client netip.Addr
	if s.x.addr != nil {
		client = s.x.addr.addr
	}
	h.countAddrLocked(s, client, -1)
	s.httpSession = to
	addList(h.byHTTP, to, s)
	h.countAddrLocked(s, client, 1)
	if s.x.user != "" {
		delIndex(h.byUser, s.x.user, s)
		s.x.user = ""
	}
	if b := h.users[to]; b != nil {
		s.x.user = b.user
		addIndex(h.byUser, b.user, s)
	}
}

// forgetRotationsLocked drops the renamings made before cutoff.
func (h *Hub) forgetRotationsLocked(cutoff time.Time) {
	for from, r := range h.ids.rotated {
		if r.at.Before(cutoff) {
			delete(h.ids.rotated, from)
		}
	}
}
