package reverse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A hub shares its sessions with the other hubs of its backplane. Every
// session is held by one hub at each position of the log, its holder: the
// hub that keeps its outbox, numbers its messages and holds its page's
// connection. The other hubs keep a small record of it (farSession), so
// that any hub can serve any request of any page:
//
//   - a request that holds a connection (poll, long-poll, SSE, WebSocket)
//     moves the session to the hub that received it (Hub.Hold): the hub
//     appends a "move" entry to the log, and at that position the former
//     holder stops delivering to the session and mails it its state
//     (snapshot), while the new one starts;
//   - any other request (a call, an ack, an answer, a subscription) is
//     served on a far session: what changes the session goes through the
//     log or to its holder by mail.
//
// When the former holder cannot mail the state, because it died, the new
// one rebuilds it: from the session's last checkpoint (a record every hub
// can load) or its "open" entry, it replays the log up to the move, which
// gives the same messages with the same numbers, since every hub decides
// which pages a call reaches from the log alone.

// Kinds of log entries that change a session, and of mail between hubs.
const (
	kindOpen   = "open"   // Key: session id; Body: the sessionRecord
	kindEnd    = "end"    // Key: session id; Ended: the reason
	kindJoin   = "join"   // Key: session id; IDs: the group
	kindLeave  = "leave"  // Key: session id; IDs: the group
	kindSub    = "sub"    // Key: session id; IDs: the pattern
	kindUnsub  = "unsub"  // Key: session id; IDs: the pattern
	kindMove   = "move"   // Key: session id; Origin: the new holder
	kindArrive = "arrive" // Key: session id; Origin: the new holder, which has the session now
	kindRotate = "rotate" // Key: the former browser id; IDs: the new one and the caller's session
	kindHello  = "hello"  // a hub joined: it learns where in the log it starts
	kindShare  = "share"  // Key: session id; IDs: the attribute; Body: its JSON value, none to remove

	kindSnapshot = "snapshot" // mail: Key: session id; At: the move; Body: the snapshot
	kindAck      = "ack"      // mail: Key: session id; Body: the ack
	kindAnswer   = "answer"   // mail: Key: session id; Invoke, Body or Error: the page's answer
)

// ReasonUnavailable: the backplane lost entries of its log, or the session
// could not be rebuilt from it, so the page may have missed calls.
const ReasonUnavailable = "unavailable"

// ErrMoved: the session moved on to another hub while this one was taking
// it over; the request that asked for it is answered with nothing.
var ErrMoved = errors.New("reverse: the script session moved to another hub")

// ErrUnavailable: the hub cannot reach its backplane, so it takes no new
// pages.
var ErrUnavailable = errors.New("reverse: the backplane is unreachable")

// handoffWait is how long a hub taking a session over waits for the former
// holder's state before it rebuilds the state from the log.
const handoffWait = time.Second

// sessionRecord is what every hub knows of a session from its "open" entry
// and the changes after it, and what a snapshot carries.
type sessionRecord struct {
	At      uint64   `json:"at"`               // the log position the state is at
	Holder  string   `json:"holder,omitempty"` // the hub that held the session there
	Page    string   `json:"page"`
	Browser string   `json:"browser"`
	User    string   `json:"user,omitempty"`
	Groups  []string `json:"groups,omitempty"`
	Subs    []string `json:"subs,omitempty"`
	// The outbox, for a snapshot or a checkpoint.
	LastSeq uint64                     `json:"lastSeq,omitempty"`
	Acked   uint64                     `json:"acked,omitempty"`
	Msgs    []recordMessage            `json:"msgs,omitempty"`
	Pending [][2]string                `json:"pending,omitempty"` // invocation id, origin
	Shared  map[string]json.RawMessage `json:"shared,omitempty"`
	Ended   string                     `json:"ended,omitempty"`
}

// recordMessage is an outbox message in a record: Body is {"fn":…}.
type recordMessage struct {
	Seq  uint64          `json:"seq"`
	Body json.RawMessage `json:"body"`
}

// farSession is what a hub knows of a session another hub holds. Guarded
// by the hub's mu.
type farSession struct {
	holder   string
	moving   time.Time     // when it began to move to holder, zero once there
	orphaned time.Time     // when its holder was first seen gone
	base     sessionRecord // the state at its "open" entry
	browser  string
	user     string
	groups   map[string]struct{}
	subs     map[string]struct{}
	shared   map[string]json.RawMessage
}

// logEntry is an entry of the log, kept while a session is taken over.
type logEntry struct {
	pos uint64
	env Envelope
}

// takeover is a session this hub is taking over. Guarded by the hub's mu.
type takeover struct {
	id     string
	from   string        // the former holder, once known
	record sessionRecord // the session as this hub knew it at the move
	at     uint64        // the move's position; 0 until read from the log
	moved  chan struct{} // closed when the move is read, or known to fail
	snap   chan []byte   // the former holder's snapshot
	after  []logEntry    // entries read after the move
	next   string        // a hub the session moved on to before it arrived
	nextAt uint64        // that move's position
	done   chan struct{} // closed when s and err are set
	s      *Session
	err    error
	gone   bool // the move named a session this hub does not know
}

// setPosLocked records that the log entry at pos is applied, and keeps it
// for the sessions being taken over. Called with h.mu held.
func (h *Hub) setPosLocked(pos uint64, env *Envelope) {
	h.pos.Store(pos)
	for _, t := range h.takeovers {
		if t.at != 0 {
			t.after = append(t.after, logEntry{pos, *env})
		}
	}
}

// checkPos reports whether the entry at pos follows the last one applied,
// and ends the sessions this hub holds when entries were lost.
func (h *Hub) checkPos(pos uint64) {
	last := h.pos.Load()
	if last == 0 || pos == last+1 {
		return
	}
	h.log.Error("parley: the backplane lost log entries; the pages held here are told they missed calls", "last", last, "next", pos)
	for _, s := range h.sessions() {
		h.end(s, ReasonUnavailable)
	}
}

// change publishes a change of a session and waits until this hub applied
// it, so that whoever made it reads it back.
func (h *Hub) change(env Envelope) error {
	env.Origin = h.id
	pos, err := h.bp.Publish(env)
	if err != nil {
		return err
	}
	if !h.waitApplied(pos) {
		return errNotApplied
	}
	return nil
}

// announce publishes a change this hub already made to a session it holds,
// with the position it took effect after. Deliveries of the backplane may
// call it: it does not wait.
func (h *Hub) announce(env Envelope) {
	env.Origin = h.id
	if _, err := h.bp.Publish(env); err != nil {
		h.log.Error("parley: backplane refused a session change", "kind", env.Kind, "err", err)
	}
}

// waitApplied waits until this hub applied the log entry at pos, the
// hub closed, or applyWait passed (the hub cannot read its bus), and
// reports whether the entry was applied.
func (h *Hub) waitApplied(pos uint64) bool {
	if h.pos.Load() >= pos {
		return true
	}
	var late atomic.Bool
	t := time.AfterFunc(applyWait, func() {
		late.Store(true)
		h.appliedMu.Lock()
		h.applied.Broadcast()
		h.appliedMu.Unlock()
	})
	defer t.Stop()
	h.appliedMu.Lock()
	defer h.appliedMu.Unlock()
	for h.pos.Load() < pos {
		select {
		case <-h.stop:
			return false
		default:
		}
		if late.Load() {
			return false
		}
		h.applied.Wait()
	}
	return true
}

// applyWait bounds how long a change waits to read itself back from the
// log.
const applyWait = 10 * time.Second

// errNotApplied: a change went into the log but this hub did not read it
// back in time.
var errNotApplied = fmt.Errorf("%w: the change is in the log, but this hub has not read it back", ErrUnavailable)

// receive applies an entry of the log.
func (h *Hub) receive(pos uint64, env Envelope) {
	h.receiving.RLock()
	defer h.receiving.RUnlock()
	h.checkPos(pos)
	switch env.Kind {
	case kindBind:
		var user string
		if err := json.Unmarshal(env.Body, &user); err != nil {
			h.log.Error("parley: malformed user binding dropped", "origin", env.Origin)
			h.skip(pos, &env)
			break
		}
		h.bindUser(pos, &env, user)
	case kindOpen, kindEnd, kindJoin, kindLeave, kindSub, kindUnsub, kindShare, kindMove, kindArrive, kindRotate:
		h.applyChange(pos, &env)
	case kindHello:
		h.skip(pos, &env)
	default:
		h.stats.received(&env, h.now())
		h.deliverLocal(pos, env)
	}
	h.appliedMu.Lock()
	h.applied.Broadcast()
	h.appliedMu.Unlock()
}

// skip records an entry that changes nothing here as applied.
func (h *Hub) skip(pos uint64, env *Envelope) {
	h.mu.Lock()
	h.setPosLocked(pos, env)
	h.mu.Unlock()
}

// mail handles an envelope another hub sent to this one alone.
func (h *Hub) mail(env Envelope) {
	switch env.Kind {
	case kindReached:
		h.invocations.reached(env)
	case kindResult:
		h.invocations.result(env)
	case kindSnapshot:
		h.mu.RLock()
		t := h.takeovers[env.Key]
		h.mu.RUnlock()
		// The snapshot may come before this hub reads the move itself.
		if t != nil {
			select {
			case t.snap <- env.Body:
			default:
			}
		}
	case kindAck:
		if s := h.local(env.Key); s != nil {
			if seq, err := strconv.ParseUint(string(env.Body), 10, 64); err == nil {
				s.Ack(seq)
			}
		}
	case kindFetch:
		go h.answerFetch(env)
	case kindFetched:
		h.fetched(env)
	case kindAnswer:
		if s := h.local(env.Key); s != nil {
			_ = s.Answer(env.Invoke, env.Body, env.Error) // an unknown invocation was answered already
		}
	}
}

// mailHolder sends env to the hub that holds the far session s. A session
// on its way to this hub gets it once it arrives.
func (h *Hub) mailHolder(s *Session, env Envelope) {
	h.mu.RLock()
	holder := s.far.holder
	if h.byID[s.id] != nil {
		holder = h.id
	}
	h.mu.RUnlock()
	env.Origin = h.id
	if err := h.bp.Send(holder, env); err != nil {
		h.log.Warn("parley: mail to a session's hub not sent", "kind", env.Kind, "err", err)
	}
}

// Err returns nil while the hub takes new pages, and why not otherwise:
// it is shutting down (ErrShuttingDown), or it cannot reach its backplane
// (ErrUnavailable). A health check reports it.
func (h *Hub) Err() error {
	if h.drain.on.Load() {
		return ErrShuttingDown
	}
	if err := h.bp.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// shared reports whether the hub's sessions outlive it: its backplane is
// another process's, or other hubs share it, so that its pages can come
// back to another hub, or to this one restarted.
func (h *Hub) shared() bool {
	if _, mem := h.bp.(*MemoryBackplane); !mem {
		return true
	}
	ids, err := h.bp.Members()
	return err == nil && len(ids) > 1
}

// leave takes the hub off a shared backplane without ending its sessions:
// it saves a checkpoint of each, from which the hub their page comes back
// to rebuilds it.
func (h *Hub) leave() {
	h.unsub()
	// Once the log's last delivery here is over, nothing changes the
	// sessions: their state is the state where the log is.
	h.receiving.Lock()
	h.receiving.Unlock()
	at := h.pos.Load()
	all := h.sessions()
	work := make(chan *Session)
	var wg sync.WaitGroup
	for range min(len(all), 16) {
		wg.Go(func() {
			for s := range work {
				h.mu.RLock()
				rec := h.recordLocked(s, at)
				h.mu.RUnlock()
				h.checkpoint(s, rec)
			}
		})
	}
	for _, s := range all {
		work <- s
	}
	close(work)
	wg.Wait()
}

// expireOrphans ends the sessions whose hub left the backplane without
// ending them, a process that died, and whose page has not come back to
// another hub within the session timeout. The first hub of the members
// does it, once for the backplane, and runs its OnSessionEnd listeners.
func (h *Hub) expireOrphans() {
	h.mu.RLock()
	n := len(h.far)
	h.mu.RUnlock()
	if n == 0 {
		return
	}
	members, err := h.bp.Members()
	if err != nil || len(members) == 0 || slices.Min(members) != h.id {
		return
	}
	now := h.now()
	var gone []*Session
	h.mu.Lock()
	for id, f := range h.far {
		switch {
		case slices.Contains(members, f.holder):
			f.orphaned = time.Time{}
		case f.orphaned.IsZero():
			f.orphaned = now
		case now.Sub(f.orphaned) > h.timeout:
			gone = append(gone, h.viewLocked(id, f))
		}
	}
	h.mu.Unlock()
	for _, s := range gone {
		s.ev.opened = true
		if err := h.change(Envelope{Kind: kindEnd, Key: s.id, Ended: ReasonExpired}); err != nil {
			return
		}
		h.graves.add(s.id, s.httpSession, ReasonExpired, now)
		h.forgetRecords(s)
		h.listeners.ended(s, ReasonExpired)
		s.ev.run()
	}
}

// farViews returns a view of every session other hubs hold, as Lookup
// returns one.
func (h *Hub) farViews() []*Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	views := make([]*Session, 0, len(h.far))
	for id, f := range h.far {
		views = append(views, h.viewLocked(id, f))
	}
	return views
}

// viewLocked returns a view of the far session id. Called with h.mu held.
func (h *Hub) viewLocked(id string, f *farSession) *Session {
	return &Session{id: id, page: f.base.Page, httpSession: f.browser, hub: h, far: f}
}

// catchUp waits until this hub has read the log up to where it was when
// catchUp was called, and reports whether there was anything to wait for:
// a session another hub opened just now is then known here. It appends an
// entry to the log and waits for it, for all the callers that came while
// the previous one was under way at once, and at most once every
// catchUpEvery, so that requests naming unknown sessions cost the bus
// little. A hub alone on the in-memory backplane reads every entry as it
// is made, and does not wait.
func (h *Hub) catchUp() bool {
	if !h.shared() {
		return false
	}
	ch := make(chan struct{})
	h.syncer.mu.Lock()
	h.syncer.waiting = append(h.syncer.waiting, ch)
	if !h.syncer.running {
		h.syncer.running = true
		h.goSafely("catching up with the log", h.syncRounds)
	}
	h.syncer.mu.Unlock()
	select {
	case <-ch:
	case <-h.stop:
	}
	return true
}

// catchUpEvery is the least time between two of a hub's catchUp entries.
const catchUpEvery = 10 * time.Millisecond

// syncer gathers the callers of catchUp.
type syncer struct {
	mu      sync.Mutex
	waiting []chan struct{}
	running bool
}

// syncRounds serves the callers of catchUp: each round appends one entry
// after every caller of the round came, and waits until the hub read it.
func (h *Hub) syncRounds() {
	for {
		h.syncer.mu.Lock()
		batch := h.syncer.waiting
		h.syncer.waiting = nil
		if len(batch) == 0 {
			h.syncer.running = false
			h.syncer.mu.Unlock()
			return
		}
		h.syncer.mu.Unlock()
		if pos, err := h.bp.Publish(Envelope{Kind: kindHello, Origin: h.id}); err == nil {
			_ = h.waitApplied(pos) // a lookup that still misses says so
		}
		for _, ch := range batch {
			close(ch)
		}
		select {
		case <-time.After(catchUpEvery):
		case <-h.stop:
		}
	}
}

// learnWait bounds how long a hub reads the log to learn of a session.
const learnWait = 10 * time.Second

// learn makes this hub know the session id, held by another hub, that it
// has not read of in the log: one opened before this hub joined the
// backplane. It loads the session's checkpoint, asks the holder it names
// for the session's state now (or takes the checkpoint's if it does not
// answer), reads the log from there up to where this hub is, and reports
// whether the session lives.
func (h *Hub) learn(id string) bool {
	raw, err := h.bp.Load(checkpointKey(id))
	if err != nil {
		return false
	}
	var rec sessionRecord
	if json.Unmarshal(raw, &rec) != nil || rec.Holder == "" {
		return false
	}
	cur := rec
	if raw, ok := h.ask(rec.Holder, id, 0, fetchRecord); ok {
		var now sessionRecord
		if json.Unmarshal(raw, &now) == nil && now.At >= rec.At && h.waitApplied(now.At) {
			cur = now
		}
	}
	s := &Session{id: id, page: cur.Page, httpSession: cur.Browser, hub: h}
	r := replayer{h: h, s: s, rec: cur, stateOnly: true, holder: cur.Holder}
	r.start()
	from := cur.At + 1
	ctx, cancel := context.WithTimeout(context.Background(), learnWait)
	defer cancel()
	for {
		to := h.pos.Load()
		err := h.bp.Replay(ctx, from, to, func(pos uint64, env Envelope) error {
			r.apply(logEntry{pos, env}, false)
			return nil
		})
		if err != nil {
			h.log.Warn("parley: a session opened before this hub joined could not be read", "session", id, "err", err)
			return false
		}
		from = to + 1
		h.mu.Lock()
		if h.pos.Load() > to {
			h.mu.Unlock()
			continue // the log moved on meanwhile: read the rest first
		}
		known := h.byID[id] != nil || h.far[id] != nil
		if !known && s.ended == "" {
			// A rebuild starts from the checkpoint, which has the outbox.
			f := &farSession{holder: r.holder, base: rec, browser: s.httpSession, user: s.x.user,
				groups: s.x.groups, subs: s.x.subs, shared: s.x.shared}
			h.far[id] = f
			known = true
		}
		h.mu.Unlock()
		return known
	}
}

// local returns the session id if this hub holds it.
func (h *Hub) local(id string) *Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.byID[id]
}

// applyChange applies an entry that changes a session: to the session if
// this hub holds it, and to this hub's record of it otherwise.
func (h *Hub) applyChange(pos uint64, env *Envelope) {
	var endNow *Session
	var handOff *Session
	h.mu.Lock()
	id := env.Key
	s, far := h.byID[id], h.far[id]
	mine := env.Origin == h.id
	switch env.Kind {
	case kindOpen:
		if !mine {
			var rec sessionRecord
			if json.Unmarshal(env.Body, &rec) == nil {
				rec.At = env.At
				h.far[id] = &farSession{holder: env.Origin, base: rec, browser: rec.Browser, user: rec.User}
			}
		}
	case kindEnd:
		if far != nil {
			// Every hub can tell the page why its session ended.
			h.graves.add(id, far.browser, env.Ended, h.now())
			delete(h.far, id)
		}
		if s != nil && !mine {
			endNow = s
		}
		if t := h.takeovers[id]; t != nil && t.at == 0 {
			t.gone = true
		}
	case kindJoin, kindLeave, kindSub, kindUnsub:
		name := ""
		if len(env.IDs) == 1 {
			name = env.IDs[0]
		}
		if s != nil {
			h.changeLocked(s, env.Kind, name)
		}
		if far != nil {
			far.change(env.Kind, name)
		}
	case kindShare:
		if len(env.IDs) == 1 {
			if s != nil {
				s.x.shared = setShared(s.x.shared, env.IDs[0], env.Body)
			}
			if far != nil {
				far.shared = setShared(far.shared, env.IDs[0], env.Body)
			}
		}
	case kindRotate:
		if !mine && len(env.IDs) == 2 {
			h.rotateLocked(id, env.IDs[0], h.byID[env.IDs[1]])
			if f := h.far[env.IDs[1]]; f != nil && f.browser == id {
				f.browser = env.IDs[0]
			}
		}
	case kindMove:
		switch {
		case mine:
			t := h.takeovers[id]
			if t == nil {
				break
			}
			if s != nil || far == nil {
				t.gone = true
			} else {
				t.from, t.record = far.holder, far.record()
				t.at = pos
			}
			close(t.moved)
		case s != nil:
			h.detachLocked(s)
			f := farOf(s, env.Origin)
			f.moving = h.now()
			h.far[id] = f
			handOff = s
		default:
			if t := h.takeovers[id]; t != nil && t.at != 0 && t.next == "" {
				t.next, t.nextAt = env.Origin, pos
			}
			if far != nil {
				far.holder, far.moving = env.Origin, h.now()
			}
		}
	case kindArrive:
		if far != nil && far.holder == env.Origin {
			far.moving = time.Time{}
		}
	}
	h.setPosLocked(pos, env)
	h.mu.Unlock()
	if handOff != nil {
		h.handOff(handOff, env.Origin, pos)
	}
	if endNow != nil {
		h.endQuietly(endNow, env.Ended)
	}
}

// record returns the far session's state at its "open" entry, from which
// the log rebuilds it.
func (f *farSession) record() sessionRecord { return f.base }

// change applies a membership change to the record of a far session.
func (f *farSession) change(kind, name string) {
	switch kind {
	case kindJoin:
		f.groups = addKey(f.groups, name)
	case kindLeave:
		delete(f.groups, name)
	case kindSub:
		f.subs = addKey(f.subs, name)
	case kindUnsub:
		delete(f.subs, name)
	}
}

func addKey(set map[string]struct{}, k string) map[string]struct{} {
	if set == nil {
		set = map[string]struct{}{}
	}
	set[k] = struct{}{}
	return set
}

// farOf is the record a hub keeps of s once it moved to holder.
func farOf(s *Session, holder string) *farSession {
	return &farSession{
		holder:  holder,
		base:    sessionRecord{At: s.x.openAt, Page: s.page, Browser: s.x.openBrowser, User: s.x.openUser},
		browser: s.httpSession,
		user:    s.x.user,
		groups:  maps.Clone(s.x.groups),
		subs:    maps.Clone(s.x.subs),
		shared:  maps.Clone(s.x.shared),
	}
}

// changeLocked applies a membership change to s, which this hub holds.
// Called with h.mu held.
func (h *Hub) changeLocked(s *Session, kind, name string) {
	switch kind {
	case kindJoin:
		s.x.groups = addKey(s.x.groups, name)
		addIndex(h.byGroup, name, s)
	case kindLeave:
		delete(s.x.groups, name)
		delIndex(h.byGroup, name, s)
	case kindSub:
		if len(s.x.subs) < h.limits.Subscriptions {
			s.x.subs = addKey(s.x.subs, name)
			h.topics.add(name, s)
		}
	case kindUnsub:
		delete(s.x.subs, name)
		h.topics.remove(name, s)
	}
}

// detachLocked removes s, which moves to another hub, from this one: its
// connection is let go without a word to the page, which is already
// talking to the other hub. Called with h.mu held.
func (h *Hub) detachLocked(s *Session) {
	delete(h.byID, s.id)
	h.byPage.del(s.page, s)
	delList(h.byHTTP, s.httpSession, s)
	h.unindexLocked(s)
	s.mu.Lock()
	s.moved = true
	s.comeBackLocked()
	s.mu.Unlock()
}

// snapshotOf returns the state of s, detached at the log position at.
func (h *Hub) snapshotOf(s *Session, at uint64) sessionRecord {
	h.mu.RLock()
	rec := h.recordLocked(s, at)
	h.mu.RUnlock()
	// The invocations are the new holder's to answer now.
	s.x.mu.Lock()
	s.x.pending = nil
	s.x.mu.Unlock()
	return rec
}

// recordLocked returns the state of s, which is the state at the log
// position at: the caller sees to it that no delivery to s is under way.
// Called with h.mu held.
func (h *Hub) recordLocked(s *Session, at uint64) sessionRecord {
	rec := h.stateLocked(s, at)
	s.mu.Lock()
	rec.LastSeq, rec.Acked = s.lastSeq, s.acked
	for _, m := range s.msgs {
		rec.Msgs = append(rec.Msgs, recordMessage{Seq: m.Seq, Body: wrapBody(m.body)})
	}
	s.mu.Unlock()
	s.x.mu.Lock()
	for _, p := range s.x.pending {
		rec.Pending = append(rec.Pending, [2]string{p.id, p.origin})
	}
	s.x.mu.Unlock()
	return rec
}

// stateLocked returns the state of s at the log position at, without its
// outbox or pending invocations. Called with h.mu held.
func (h *Hub) stateLocked(s *Session, at uint64) sessionRecord {
	rec := sessionRecord{
		At: at, Holder: h.id, Page: s.page, Browser: s.httpSession, User: s.x.user,
		Groups: slices.Sorted(maps.Keys(s.x.groups)), Subs: slices.Sorted(maps.Keys(s.x.subs)),
		Shared: maps.Clone(s.x.shared),
	}
	s.mu.Lock()
	rec.Ended = s.ended
	s.mu.Unlock()
	return rec
}

// wrapBody turns a message body `"fn":…` back into the object {"fn":…}.
func wrapBody(body []byte) json.RawMessage {
	b := make([]byte, 0, len(body)+2)
	b = append(b, '{')
	b = append(b, body...)
	return append(b, '}')
}

// handOff mails s's state at the move at to the hub it moved to.
func (h *Hub) handOff(s *Session, to string, at uint64) {
	h.mailRecord(s.id, to, h.snapshotOf(s, at))
}

// mailRecord sends rec, the state of session id at rec.At, to the hub to.
func (h *Hub) mailRecord(id, to string, rec sessionRecord) {
	body, err := json.Marshal(rec)
	if err == nil {
		err = h.bp.Send(to, Envelope{Kind: kindSnapshot, Key: id, At: rec.At, Origin: h.id, Body: body})
	}
	if err != nil {
		h.log.Error("parley: a moved session's state was not sent; the new hub rebuilds it", "session", id, "err", err)
	}
}

// Hold returns the session s as held by this hub, ready for a held
// connection: s itself, or, when another hub of the backplane holds it, s
// moved here. A request that holds a connection calls it. It fails with
// ErrNotFound if the session ended meanwhile, ErrMoved if it moved on to
// another hub before it arrived, and ErrUnavailable if it could not be
// moved.
func (h *Hub) Hold(s *Session) (*Session, error) {
	if s.far == nil {
		return s, nil
	}
	h.awaitArrival(s.id)
	h.mu.Lock()
	if local := h.byID[s.id]; local != nil {
		h.mu.Unlock()
		return local, nil
	}
	t := h.takeovers[s.id]
	first := t == nil
	if first {
		t = &takeover{id: s.id, moved: make(chan struct{}), snap: make(chan []byte, 1), done: make(chan struct{})}
		h.takeovers[s.id] = t
	}
	h.mu.Unlock()
	if first {
		h.take(t)
	}
	<-t.done
	return t.s, t.err
}

// transitMax bounds how long a hub waits for a session on its way to
// another hub to arrive there before moving it on.
const transitMax = handoffWait + time.Second

// awaitArrival waits, at most transitMax, while the session id is on its
// way to another hub, so that pages whose requests each reach another hub
// do not move their session on before it arrived: moves that overtake
// each other would keep every request waiting.
func (h *Hub) awaitArrival(id string) {
	for {
		h.mu.RLock()
		f := h.far[id]
		moving := f != nil && !f.moving.IsZero() && h.now().Sub(f.moving) < transitMax
		h.mu.RUnlock()
		if !moving {
			return
		}
		select {
		case <-time.After(2 * time.Millisecond):
		case <-h.stop:
			return
		}
	}
}

// take moves the session of t to this hub: it appends the move to the log,
// gets the state at the move from the former holder or the log, and
// applies what the log said after the move.
func (h *Hub) take(t *takeover) {
	defer close(t.done)
	defer func() {
		h.mu.Lock()
		delete(h.takeovers, t.id)
		h.mu.Unlock()
	}()
	if _, err := h.bp.Publish(Envelope{Kind: kindMove, Key: t.id, Origin: h.id}); err != nil {
		t.err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		return
	}
	select {
	case <-t.moved:
	case <-h.stop:
		t.err = ErrNotFound
		return
	}
	if t.gone {
		t.err = ErrNotFound
		return
	}
	rec, before, err := h.stateAtMove(t)
	if err != nil {
		h.log.Error("parley: a moved session could not be rebuilt; its page is told", "session", t.id, "err", err)
		h.announce(Envelope{Kind: kindEnd, Key: t.id, Ended: ReasonUnavailable})
		h.graves.add(t.id, t.record.Browser, ReasonUnavailable, h.now())
		h.forgetRecords(&Session{id: t.id})
		t.err = ErrNotFound
		return
	}
	h.install(t, rec, before)
}

// stateAtMove returns the session's state at the move: the former
// holder's snapshot, or else its last checkpoint or its "open" entry with
// the log entries from there up to the move.
func (h *Hub) stateAtMove(t *takeover) (sessionRecord, []logEntry, error) {
	var rec sessionRecord
	wait := time.NewTimer(handoffWait)
	defer wait.Stop()
	if h.left(t.from) || h.silent(t.from) {
		wait.Reset(0)
	}
	select {
	case body := <-t.snap:
		if err := json.Unmarshal(body, &rec); err == nil && rec.At == t.at {
			return rec, nil, nil
		}
	case <-wait.C:
		select {
		case body := <-t.snap: // it came just now
			if err := json.Unmarshal(body, &rec); err == nil && rec.At == t.at {
				return rec, nil, nil
			}
		default:
			h.markSilent(t.from)
		}
	case <-h.stop:
		return rec, nil, ErrNotFound
	}
	rec = t.record
	if raw, err := h.bp.Load(checkpointKey(t.id)); err == nil {
		var saved sessionRecord
		if json.Unmarshal(raw, &saved) == nil && saved.At >= rec.At && saved.At < t.at {
			rec = saved
		}
	}
	var before []logEntry
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := h.bp.Replay(ctx, rec.At+1, t.at-1, func(pos uint64, env Envelope) error {
		before = append(before, logEntry{pos, env})
		return nil
	})
	return rec, before, err
}

// membersEvery is how long a hub trusts the list of members it read last
// when it asks whether a session's holder is alive.
const membersEvery = time.Second

// members caches the backplane's members, and the hubs that did not mail
// a moved session's state in time.
type members struct {
	mu     sync.Mutex
	ids    []string
	read   time.Time
	silent map[string]time.Time // hub → until when it is not waited for
}

// silentFor is how long a hub that did not mail a moved session's state
// in time is not waited for again: it is likely dead and not yet off the
// members, and a page whose connections keep failing would otherwise
// wait for it at every move.
const silentFor = 10 * time.Second

// markSilent records that the hub id did not mail a state in time.
func (h *Hub) markSilent(id string) {
	h.members.mu.Lock()
	defer h.members.mu.Unlock()
	if h.members.silent == nil {
		h.members.silent = map[string]time.Time{}
	}
	now := h.now()
	for k, until := range h.members.silent {
		if now.After(until) {
			delete(h.members.silent, k)
		}
	}
	h.members.silent[id] = now.Add(silentFor)
}

// silent reports whether the hub id is not to be waited for.
func (h *Hub) silent(id string) bool {
	h.members.mu.Lock()
	defer h.members.mu.Unlock()
	return h.now().Before(h.members.silent[id])
}

// holderGone reports whether the hub holding the far session s is known
// to have left the backplane: it died, or shut down and left its session
// to the others.
func (h *Hub) holderGone(s *Session) bool {
	h.mu.RLock()
	holder := s.far.holder
	h.mu.RUnlock()
	return h.left(holder)
}

// left reports whether the hub id is known to have left the backplane. It
// reads the members at most once every membersEvery.
func (h *Hub) left(id string) bool {
	h.members.mu.Lock()
	defer h.members.mu.Unlock()
	if now := h.now(); now.Sub(h.members.read) > membersEvery {
		ids, err := h.bp.Members()
		if err != nil {
			return false
		}
		h.members.ids, h.members.read = ids, now
	}
	return !slices.Contains(h.members.ids, id)
}

// checkpointKey is the key of a session's checkpoint record.
func checkpointKey(id string) string { return "s." + id }

// install makes the session of t one of this hub's: rec is its state at
// position rec.At, before the entries between that and the move, and
// t.after the entries the hub read after the move, which it applies while
// it blocks the log.
func (h *Hub) install(t *takeover, rec sessionRecord, before []logEntry) {
	s := &Session{id: t.id, page: rec.Page, httpSession: rec.Browser, hub: h, lastSeen: stampOf(h.now())}
	s.ev.opened = true // its OnSessionStart ran on the hub it opened on
	s.x.openAt, s.x.openBrowser, s.x.openUser = t.record.At, t.record.Browser, t.record.User
	r := replayer{h: h, s: s, rec: rec}
	r.start()
	for _, e := range before {
		r.apply(e, false)
	}
	h.mu.Lock()
	// The entries after the move, with every hub's log paused here.
	after := t.after
	t.after = nil
	stop := ^uint64(0)
	if t.next != "" {
		stop = t.nextAt
	}
	for _, e := range after {
		if e.pos >= stop {
			break
		}
		r.apply(e, true)
	}
	if t.next != "" {
		h.mu.Unlock()
		r.finish()
		h.mailRecord(t.id, t.next, h.snapshotOf(s, t.nextAt))
		t.err = ErrMoved
		return
	}
	r.finish()
	if s.ended != "" {
		h.mu.Unlock()
		t.err = ErrNotFound
		return
	}
	delete(h.far, t.id)
	h.byID[s.id] = s
	h.byPage.add(s.page, s)
	addList(h.byHTTP, s.httpSession, s)
	if s.x.user != "" {
		addIndex(h.byUser, s.x.user, s)
	}
	for g := range s.x.groups {
		addIndex(h.byGroup, g, s)
	}
	for p := range s.x.subs {
		h.topics.add(p, s)
	}
	// The state now is the state where the log is: nothing after it has
	// reached s yet.
	rec = h.recordLocked(s, h.pos.Load())
	h.mu.Unlock()
	t.s = s
	for _, inv := range r.reached {
		h.control(Envelope{Kind: kindReached, To: inv.origin, Invoke: inv.id, IDs: []string{s.id}})
	}
	// The others wait for this before they move the session on.
	h.announce(Envelope{Kind: kindArrive, Key: s.id})
	h.goSafely("a session checkpoint", func() { h.checkpoint(s, rec) })
}

// checkpoint saves rec, the state of s at rec.At, from which a hub that
// takes s over rebuilds it if this one dies.
func (h *Hub) checkpoint(s *Session, rec sessionRecord) {
	body, err := json.Marshal(rec)
	if err == nil {
		err = h.bp.Save(checkpointKey(s.id), body)
	}
	if err == nil {
		s.x.saved.Store(true)
	}
	if err != nil {
		h.log.Warn("parley: session checkpoint not saved", "session", s.id, "err", err)
	}
}

// forgetRecords deletes the checkpoint and the stash of the ended session
// s from the backplane's records.
func (h *Hub) forgetRecords(s *Session) {
	for _, key := range []string{checkpointKey(s.id), stashKey(s.id)} {
		if err := h.bp.Delete(key); err != nil {
			h.log.Warn("parley: an ended session's record was not deleted", "session", s.id, "key", key, "err", err)
		}
	}
}

// replayer rebuilds a session from a record and the log entries after it,
// deciding which calls reach it the way the hub's indexes do.
type replayer struct {
	h       *Hub
	s       *Session
	rec     sessionRecord
	reached []pendingInvocation // invocations this hub reports the session reached
	// stateOnly rebuilds what a hub knows of a far session: its state and
	// holder, not its outbox.
	stateOnly bool
	holder    string
}

// start loads the record into the session.
func (r *replayer) start() {
	s, rec := r.s, r.rec
	s.x.user = rec.User
	for _, g := range rec.Groups {
		s.x.groups = addKey(s.x.groups, g)
	}
	for _, p := range rec.Subs {
		s.x.subs = addKey(s.x.subs, p)
	}
	s.lastSeq, s.acked, s.ended = rec.LastSeq, rec.Acked, rec.Ended
	for _, m := range rec.Msgs {
		if body, ok := messageBody(m.Body); ok {
			s.msgs = append(s.msgs, Message{Seq: m.Seq, body: body})
			s.bytes += len(body)
		}
	}
	s.x.shared = maps.Clone(rec.Shared)
	for _, p := range rec.Pending {
		s.x.pending = append(s.x.pending, pendingInvocation{id: p[0], origin: p[1]})
	}
}

// apply applies one log entry to the session. report says whether this
// hub reports the invocations it reaches (entries after the move, which
// the former holder never saw as the session's).
func (r *replayer) apply(e logEntry, report bool) {
	s, env := r.s, e.env
	if s.ended != "" {
		return
	}
	switch env.Kind {
	case kindEnd:
		if env.Key == s.id {
			s.ended = env.Ended
		}
	case kindJoin, kindLeave, kindSub, kindUnsub:
		if env.Key == s.id && len(env.IDs) == 1 {
			r.change(env.Kind, env.IDs[0])
		}
	case kindShare:
		if env.Key == s.id && len(env.IDs) == 1 {
			s.x.shared = setShared(s.x.shared, env.IDs[0], env.Body)
		}
	case kindBind:
		var user string
		if env.Key == s.httpSession && json.Unmarshal(env.Body, &user) == nil {
			s.x.user = user
		}
	case kindRotate:
		if len(env.IDs) == 2 && env.IDs[1] == s.id && s.httpSession == env.Key {
			s.httpSession = env.IDs[0]
		}
	case kindMove:
		if env.Key == s.id {
			r.holder = env.Origin
		}
	case kindOpen, kindHello, kindArrive:
	default:
		if r.stateOnly || !r.reaches(env) {
			return
		}
		body, ok := messageBody(env.Body)
		if !ok {
			return
		}
		if env.Invoke != "" {
			s.x.pending = append(s.x.pending, pendingInvocation{id: env.Invoke, origin: env.Origin})
			if report {
				r.reached = append(r.reached, pendingInvocation{id: env.Invoke, origin: env.Origin})
			}
		}
		lim := r.h.limits
		if len(s.msgs)+1 > lim.OutboxMessages || s.bytes+len(body) > lim.OutboxBytes {
			s.ended = ReasonOverflow
			return
		}
		s.lastSeq++
		s.msgs = append(s.msgs, Message{Seq: s.lastSeq, body: body})
		s.bytes += len(body)
	}
}

// change applies a membership change to the session being rebuilt.
func (r *replayer) change(kind, name string) {
	x := &r.s.x
	switch kind {
	case kindJoin:
		x.groups = addKey(x.groups, name)
	case kindLeave:
		delete(x.groups, name)
	case kindSub:
		if len(x.subs) < r.h.limits.Subscriptions {
			x.subs = addKey(x.subs, name)
		}
	case kindUnsub:
		delete(x.subs, name)
	}
}

// reaches reports whether the call env reaches the session, as the
// indexes of deliverLocal decide it.
func (r *replayer) reaches(env Envelope) bool {
	s := r.s
	switch env.Kind {
	case kindPage:
		return env.Key == s.page
	case kindSession:
		return env.Key == s.id
	case kindBrowser:
		return env.Key == s.httpSession
	case kindUser:
		return s.x.user != "" && env.Key == s.x.user
	case kindGroup:
		_, ok := s.x.groups[env.Key]
		return ok
	case kindAll:
		return true
	case kindSessions:
		return slices.Contains(env.IDs, s.id)
	case kindTopic:
		ix := newTopicIndex()
		for p := range s.x.subs {
			ix.add(p, s)
		}
		found := false
		ix.match(env.Key, func(*Session) { found = true })
		return found
	}
	return false
}

// finish records what the rebuilt session has handed to its page: every
// message may have been, by the former holder.
func (r *replayer) finish() {
	r.s.sent = r.s.lastSeq
}
