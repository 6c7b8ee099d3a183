package reverse

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"hash/maphash"
	"iter"
	"log/slog"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound what one page and one browser may hold on the server.
// The zero value of each field means its default.
type Limits struct {
	// OutboxMessages is how many unacknowledged messages a session may hold
	// before it ends with ReasonOverflow. Default 1000.
	OutboxMessages int
	// OutboxBytes is how many bytes of unacknowledged messages a session may
	// hold before it ends with ReasonOverflow. Default 1 MiB.
	OutboxBytes int
	// PagesPerHTTPSession is how many live sessions one HTTP session
	// (one browser) may open. Default 100.
	PagesPerHTTPSession int
	// Sessions is how many live sessions the hub holds in all; when it is
	// reached, a new page evicts the session that has gone longest without
	// a connection (ReasonEvicted). Default 100,000, or fewer when the
	// process's open-file limit (RLIMIT_NOFILE) could not give each session
	// a held connection: that limit less an eighth of it, and at least 256
	// files, kept for everything else.
	Sessions int
	// SessionsPerAddress is how many live sessions pages at one client
	// address may hold (see Hub.OpenFrom). Default 1000, room for a
	// few hundred browsers behind one NAT. Above Sessions it cannot be
	// reached; when BrowsersPerAddress cannot either, the hub keeps no
	// count of what each address holds.
	SessionsPerAddress int
	// BrowsersPerAddress is how many browsers (HTTP session ids) one client
	// address may hold sessions for, so that a client that drops its
	// cookies and is given a new browser id with every request is refused
	// once it reaches it. Default 256. Above Sessions it cannot be reached.
	BrowsersPerAddress int
	// Subscriptions is how many topic patterns one session may subscribe
	// to. Default 100.
	Subscriptions int
	// PendingInvocations is how many Invoke calls one session may have
	// unanswered; past it the oldest is forgotten and its caller is
	// answered at once, for that page, with ErrNoReply. Default 1000.
	PendingInvocations int
}

func (l Limits) withDefaults() Limits {
	if l.OutboxMessages <= 0 {
		l.OutboxMessages = 1000
	}
	if l.OutboxBytes <= 0 {
		l.OutboxBytes = 1 << 20
	}
	if l.PagesPerHTTPSession <= 0 {
		l.PagesPerHTTPSession = 100
	}
	if l.Sessions <= 0 {
		l.Sessions = defaultSessions()
	}
	if l.SessionsPerAddress <= 0 {
		l.SessionsPerAddress = 1000
	}
	if l.BrowsersPerAddress <= 0 {
		l.BrowsersPerAddress = 256
	}
	if l.Subscriptions <= 0 {
		l.Subscriptions = 100
	}
	if l.PendingInvocations <= 0 {
		l.PendingInvocations = 1000
	}
	return l
}

// Option configures a Hub.
type Option func(*Hub)

// WithLimits sets the hub's limits; zero fields keep their defaults.
func WithLimits(l Limits) Option { return func(h *Hub) { h.limits = l.withDefaults() } }

// WithSessionTimeout sets how long a session may go without any connection
// from its page before it ends. Default 5 minutes.
func WithSessionTimeout(d time.Duration) Option { return func(h *Hub) { h.timeout = d } }

// WithLogger sets the logger for delivery problems. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(h *Hub) { h.log = l } }

// WithBackplane routes every delivery through bp, so that hubs in several
// processes connected to the same backplane reach each other's pages.
// Default: an in-memory backplane of the hub's own (NewMemoryBackplane).
func WithBackplane(bp Backplane) Option { return func(h *Hub) { h.bp = bp } }

// Errors returned when a session cannot be opened or used.
var (
	// ErrTooManySessions: the hub or the HTTP session is at its session limit.
	ErrTooManySessions = errors.New("reverse: too many script sessions")
	// ErrNotFound: no live session has that id.
	ErrNotFound = errors.New("reverse: script session not found")
	// ErrForeignSession: the session exists but belongs to another HTTP session.
	ErrForeignSession = errors.New("reverse: script session belongs to another HTTP session")
)

// Hub is the registry of script sessions and the entry point for reverse
// calls. Create one with NewHub and stop it with Close.
type Hub struct {
	id      string // the hub's id on the backplane
	limits  Limits
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time
	tc      Transports
	load    loadMonitor
	bp      Backplane
	unsub   func() // leaves the backplane

	// mu guards the indexes below and, on every session, the memberships
	// that mirror them (sessionState.user, groups and subs).
	mu        sync.RWMutex
	byID      map[string]*Session
	byPage    pageIndex
	byHTTP    browserIndex
	byGroup   map[string]map[*Session]struct{}
	byUser    map[string]map[*Session]struct{}
	users     map[string]*userBinding // by HTTP session id
	topics    topicIndex
	ids       identities             // per-address counts and browser renamings: see limits.go
	syncer    syncer                 // catchUp: see cluster.go
	members   members                // the backplane's, as last read: see cluster.go
	receiving sync.RWMutex           // held for reading while a log entry is applied
	far       map[string]*farSession // sessions other hubs hold: see cluster.go
	takeovers map[string]*takeover   // sessions moving here
	fetches   fetches                // polls and pulls served by other hubs: see fetch.go
	pos       atomic.Uint64          // the last log position applied, set with mu held
	appliedMu sync.Mutex
	applied   *sync.Cond // signalled on appliedMu when pos advances

	invocations invocations
	listeners   listeners
	graves      tombstones // why recently ended sessions ended
	stats       hubStats   // counters and observers: see stats.go
	drain       drainState // Shutdown: see shutdown.go

	writers writers // write to held connections: see pool.go
	timers  timers  // the deadlines of held long-polls: see timers.go
	net     netState
	base    atomic.Pointer[baseContext] // the last made by socketBase: a server has few listeners
	// baseCalls is the last shared start of sockets' calls made by
	// socketCalls, over a context of base.
	baseCalls atomic.Pointer[socketCalls]

	stop chan struct{}
	done chan struct{}
}

// NewHub returns a running hub connected to its backplane. It starts one
// goroutine that ends sessions whose page has gone; Close stops it. It
// panics if the backplane refuses the hub.
func NewHub(opts ...Option) *Hub {
	h := &Hub{
		id:        newID(),
		limits:    Limits{}.withDefaults(),
		timeout:   5 * time.Minute,
		log:       slog.Default(),
		now:       time.Now,
		byID:      map[string]*Session{},
		byPage:    pageIndex{},
		byHTTP:    newBrowserIndex(),
		byGroup:   map[string]map[*Session]struct{}{},
		byUser:    map[string]map[*Session]struct{}{},
		users:     map[string]*userBinding{},
		topics:    newTopicIndex(),
		far:       map[string]*farSession{},
		takeovers: map[string]*takeover{},
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	h.invocations.byID = map[string]*invocation{}
	h.applied = sync.NewCond(&h.appliedMu)
	for _, o := range opts {
		o(h)
	}
	if h.bp == nil {
		h.bp = NewMemoryBackplane()
	}
	unsub, err := h.bp.Subscribe(h.id, h.receive, h.mail)
	if err != nil {
		panic("reverse: joining the backplane: " + err.Error())
	}
	h.unsub = unsub
	// The hub's first entry tells it its place in the log, which every
	// change it makes to a session refers to.
	if err := h.change(Envelope{Kind: kindHello}); err != nil {
		unsub()
		panic("reverse: joining the backplane: " + err.Error())
	}
	if h.tc == (Transports{}) {
		h.tc = Transports{}.withDefaults()
	}
	h.load.limits = h.tc.Load
	h.writers.start(h)
	h.timers.start(h)
	go h.sweep()
	return h
}

// Close stops the hub's sweeper, ends every session and leaves the backplane.
// A server that is going away calls Shutdown instead, which first tells
// the pages to reconnect elsewhere.
func (h *Hub) Close() { h.close(ReasonClosed) }

// close is Close, ending every session with reason.
func (h *Hub) close(reason string) {
	select {
	case <-h.stop:
		return
	default:
	}
	close(h.stop)
	h.appliedMu.Lock()
	h.applied.Broadcast()
	h.appliedMu.Unlock()
	<-h.done
	if reason == ReasonShutdown && h.shared() {
		h.leave()
	} else {
		for _, s := range h.sessions() {
			h.endNow(s, reason)
		}
		h.unsub()
	}
	h.timers.close()
	h.writers.stop()
	h.net.close()
}

// NormalizePage maps a page URL or path to the key pages are indexed by:
// the query and fragment are dropped, the path is cleaned, and a final
// index.html or index.htm is folded into its folder.
func NormalizePage(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	p = path.Clean(p)
	if base := path.Base(p); base == "index.html" || base == "index.htm" {
		p = path.Dir(p)
	}
	return p
}

// Open starts a script session for a page at pagePath, bound to the HTTP
// session httpSession, and runs the OnSessionStart listeners. If the HTTP
// session is bound to a user (SetUser), so is the new session. It fails
// with ErrTooManySessions at a limit; see OpenFrom, which also limits
// what one client address may open, for how a full hub makes room. It
// fails with ErrShuttingDown once Shutdown has begun.
func (h *Hub) Open(pagePath, httpSession string) (*Session, error) {
	return h.OpenFrom(pagePath, httpSession, netip.Addr{})
}

// Lookup finds the live session id, which must belong to httpSession, or
// to a browser id that was renamed to httpSession (RotateBrowser), in
// which case the session moves to httpSession. It fails with ErrNotFound
// or ErrForeignSession.
func (h *Hub) Lookup(id, httpSession string) (*Session, error) {
	s, err := h.lookup(id, httpSession)
	if _, ended := h.graves.reason(id, httpSession); ended && errors.Is(err, ErrNotFound) {
		return nil, err // it ended: the page is told why at once
	}
	if errors.Is(err, ErrNotFound) && h.catchUp() {
		// Another hub may have opened it a moment ago, or before this
		// one joined.
		if s, err = h.lookup(id, httpSession); errors.Is(err, ErrNotFound) && h.learn(id) {
			s, err = h.lookup(id, httpSession)
		}
	}
	if err == nil && s.far != nil && h.holderGone(s) {
		// Its hub is gone: the page's first request anywhere takes it
		// over, so that even a page that only calls gets its messages.
		if held, herr := h.Hold(s); herr == nil {
			s = held
		}
	}
	return s, err
}

// lookup is Lookup with what this hub has read of the log so far.
func (h *Hub) lookup(id, httpSession string) (*Session, error) {
	h.mu.RLock()
	s := h.byID[id]
	owned := s != nil && s.httpSession == httpSession
	if s == nil {
		if f := h.far[id]; f != nil {
			view := h.viewLocked(id, f)
			ok := f.browser == httpSession || h.renamedLocked(httpSession, f.browser, h.now().Add(-h.renameGrace())) ||
				h.renamedLocked(f.browser, httpSession, time.Time{})
			h.mu.RUnlock()
			if !ok {
				return nil, ErrForeignSession
			}
			return view, nil
		}
	}
	h.mu.RUnlock()
	switch {
	case s == nil:
		return nil, ErrNotFound
	case !owned && !h.claim(s, httpSession):
		return nil, ErrForeignSession
	}
	return s, nil
}

// SessionInfo describes one live session at one moment.
type SessionInfo struct {
	// ID is the session's id.
	ID string
	// Page is the normalised path of the session's page.
	Page string
	// Pending is the number of messages the page has not acknowledged.
	Pending int
	// Transport is the transport the page last used.
	Transport string
	// Held reports whether a connection is held open for the page now.
	Held bool
	// LastSeen is when the page last contacted the server.
	LastSeen time.Time
}

// sessions returns every live session, taken under the read lock and
// handed out after it, so that callers may lock each session in turn.
func (h *Hub) sessions() []*Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	all := make([]*Session, 0, len(h.byID))
	for _, s := range h.byID {
		all = append(all, s)
	}
	return all
}

// Snapshot describes every live session, ordered by page and then id.
func (h *Hub) Snapshot() []SessionInfo {
	all := h.sessions()
	out := make([]SessionInfo, 0, len(all))
	for _, s := range all {
		s.mu.Lock()
		out = append(out, SessionInfo{ID: s.id, Page: s.page, Transport: s.transport, Pending: len(s.msgs), Held: s.held != nil, LastSeen: s.lastSeen.time()})
		s.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b SessionInfo) int {
		return cmp.Or(cmp.Compare(a.Page, b.Page), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Len returns the number of live sessions.
func (h *Hub) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.byID)
}

// end ends s for reason (see finish). Its OnSessionEnd listeners run on
// a goroutine of their own, so end may be called under any lock of the
// hub, deliverMu included: a listener may call a target.
func (h *Hub) end(s *Session, reason string) {
	if h.finish(s, reason) {
		h.announce(Envelope{Kind: kindEnd, Key: s.id, Ended: reason})
		h.goSafely("session listeners", s.ev.run)
	}
}

// endQuietly is end for an end the log brought from another hub, which
// announced it.
func (h *Hub) endQuietly(s *Session, reason string) {
	if h.finish(s, reason) {
		h.goSafely("session listeners", s.ev.run)
	}
}

// endNow is end for callers that hold no lock of the hub: the OnSessionEnd
// listeners have run when it returns, unless another goroutine is running
// the session's listeners.
func (h *Hub) endNow(s *Session, reason string) {
	if h.finish(s, reason) {
		h.announce(Envelope{Kind: kindEnd, Key: s.id, Ended: reason})
		s.ev.run()
	}
}

// finish removes s from the hub and every index and marks it ended, waking
// its poll. The first time, it also remembers the reason for the page,
// fails the invocations the page has not answered, queues the OnSessionEnd
// listeners, and reports true.
func (h *Hub) finish(s *Session, reason string) bool {
	h.mu.Lock()
	if h.byID[s.id] == s {
		delete(h.byID, s.id)
		h.byPage.del(s.page, s)
		delList(h.byHTTP, s.httpSession, s)
		if b := h.users[s.httpSession]; b != nil && h.byHTTP.count(s.httpSession) == 0 {
			b.idleSince = h.now()
		}
		h.unindexLocked(s)
	}
	h.mu.Unlock()
	s.mu.Lock()
	first := s.ended == ""
	if first {
		s.ended = reason
		s.msgs, s.bytes = nil, 0
		s.notifyLocked()
	}
	s.mu.Unlock()
	if first {
		if s.x.saved.Load() || s.x.stashed.Load() {
			h.goSafely("a checkpoint's deletion", func() { h.forgetRecords(s) })
		}
		h.graves.add(s.id, s.httpSession, reason, h.now())
		h.stats.sessionEnded(reason)
		h.failPending(s, reason)
		h.listeners.ended(s, reason)
	}
	return first
}

// sweep sends SSE heartbeats and, every quarter of the timeout, ends the
// sessions that have had no connection for longer than the timeout and
// forgets the reasons of sessions that ended before that.
func (h *Hub) sweep() {
	defer close(h.done)
	t := time.NewTicker(max(h.timeout/4, 10*time.Millisecond))
	defer t.Stop()
	hb := time.NewTicker(h.tc.Heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-hb.C:
			h.safely("the stream heartbeats", h.heartbeat)
		case <-t.C:
			h.safely("the session sweep", h.expireIdle)
		}
	}
}

// expireIdle ends the sessions that have had no connection for longer
// than the timeout and forgets what ended before that.
func (h *Hub) expireIdle() {
	cutoff := h.now().Add(-h.timeout)
	var stale []*Session
	h.mu.RLock()
	for _, s := range h.byID {
		s.mu.Lock()
		if s.held == nil && s.lastSeen.time().Before(cutoff) {
			stale = append(stale, s)
		}
		s.mu.Unlock()
	}
	h.mu.RUnlock()
	for _, s := range stale {
		h.endNow(s, ReasonExpired)
	}
	h.expireOrphans()
	for _, s := range h.unclaimed(h.now().Add(-h.renameGrace())) {
		h.endNow(s, ReasonClosed)
	}
	h.graves.expire(cutoff)
	h.forgetIdleUsers(cutoff)
}

func addIndex(ix map[string]map[*Session]struct{}, key string, s *Session) {
	set := ix[key]
	if set == nil {
		set = map[*Session]struct{}{}
		ix[key] = set
	}
	set[s] = struct{}{}
}

func delIndex(ix map[string]map[*Session]struct{}, key string, s *Session) {
	if set := ix[key]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(ix, key)
		}
	}
}

// pageIndex lists the sessions of each page, in no order. A session keeps
// its place in its page's list (Session.pageAt): an entry costs a third
// of a set's, and every open session has one.
type pageIndex map[string][]*Session

// add adds s to the sessions of the page key, unless it is there.
func (ix pageIndex) add(key string, s *Session) {
	list := ix[key]
	if s.pageAt < len(list) && list[s.pageAt] == s {
		return
	}
	s.pageAt = len(list)
	ix[key] = append(list, s)
}

// del removes s from the sessions of the page key: the last takes its
// place. A list left mostly empty is made again to fit.
func (ix pageIndex) del(key string, s *Session) {
	list := ix[key]
	i := s.pageAt
	if i >= len(list) || list[i] != s {
		return
	}
	last := len(list) - 1
	list[i] = list[last]
	list[i].pageAt = i
	list[last] = nil
	list = list[:last]
	switch {
	case len(list) == 0:
		delete(ix, key)
		return
	case cap(list) > 64 && len(list) < cap(list)/4:
		list = slices.Clone(list)
	}
	ix[key] = list
}

// browserIndex lists the sessions of each browser (HTTP session id), in
// the order they were added. Most browsers have one page: it is kept
// alone, by a hash of its browser id, which costs an entry two thirds of
// one by the id itself, and a list is made only for a browser's further
// pages. A browser whose id hashes as another's that has its first page
// there has all its pages in its list.
type browserIndex struct {
	hash  func(key string) uint64 // of a browser id; see newBrowserIndex
	first map[uint64]*Session     // a browser's first page, by hash; its httpSession tells whose
	more  map[string][]*Session   // the pages after the first
}

// newBrowserIndex returns an empty index, hashing browser ids with
// hash/maphash and a seed of its own.
func newBrowserIndex() browserIndex {
	seed := maphash.MakeSeed()
	return browserIndex{
		hash:  func(key string) uint64 { return maphash.String(seed, key) },
		first: map[uint64]*Session{},
		more:  map[string][]*Session{},
	}
}

// firstOf returns the first page of the browser key when it is kept
// alone, else nil.
func (ix browserIndex) firstOf(key string) *Session {
	if s := ix.first[ix.hash(key)]; s != nil && s.httpSession == key {
		return s
	}
	return nil
}

// count returns how many sessions the browser key has.
func (ix browserIndex) count(key string) int {
	n := len(ix.more[key])
	if ix.firstOf(key) != nil {
		n++
	}
	return n
}

// each yields the sessions of the browser key.
func (ix browserIndex) each(key string) iter.Seq[*Session] {
	return func(yield func(*Session) bool) {
		if first := ix.firstOf(key); first != nil && !yield(first) {
			return
		}
		for _, s := range ix.more[key] {
			if !yield(s) {
				return
			}
		}
	}
}

// appendTo appends the sessions of the browser key to dst.
func (ix browserIndex) appendTo(dst []*Session, key string) []*Session {
	if first := ix.firstOf(key); first != nil {
		dst = append(dst, first)
	}
	return append(dst, ix.more[key]...)
}

// addList adds s, whose httpSession is key, to the sessions of the
// browser key.
func addList(ix browserIndex, key string, s *Session) {
	h := ix.hash(key)
	if ix.first[h] == nil && len(ix.more[key]) == 0 {
		ix.first[h] = s
		return
	}
	ix.more[key] = append(ix.more[key], s)
}

// delList removes s from the sessions of the browser key.
func delList(ix browserIndex, key string, s *Session) {
	h := ix.hash(key)
	more := ix.more[key]
	switch i := slices.Index(more, s); {
	case ix.first[h] == s && len(more) == 0:
		delete(ix.first, h)
		return
	case ix.first[h] == s:
		ix.first[h] = more[0]
		more = slices.Delete(more, 0, 1)
	case i >= 0:
		more = slices.Delete(more, i, i+1)
	}
	if len(more) == 0 {
		delete(ix.more, key)
		return
	}
	ix.more[key] = more
}

// newID returns 128 random bits, base64url-encoded without padding.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}
