package reverse

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/gobwas/ws"
)

// MaxMuxSessions is the most sessions one multiplexed request may name,
// and the most one multiplexed WebSocket carries.
const MaxMuxSessions = 100

// MuxMember is one session named by a multiplexed request, checked by the
// caller: it belongs to the request's browser and its ack is not beyond
// what was sent to it.
type MuxMember struct {
	// ID is the session's id, as the page named it.
	ID string
	// Session is the live session; nil when it is gone.
	Session *Session
	// Ack is the highest sequence number the page has run in the session.
	Ack uint64
	// Reset tells the page why a gone session ended; set when Session is nil.
	Reset *Reset
}

// MuxDelivery is what a multiplexed connection carries for one of its
// sessions: new messages, or the reset that ends the session.
type MuxDelivery struct {
	// Session is the session's id.
	Session string `json:"session"`
	// Messages are the session's messages not sent on this connection yet
	// (on long-poll: every unacknowledged one), ascending by Seq.
	Messages []Message `json:"messages,omitempty"`
	// Reset is set when the session is gone.
	Reset *Reset `json:"reset,omitempty"`
	// More is set on long-poll when messages were left for the next poll
	// (see Delivery.More).
	More bool `json:"more,omitempty"`
}

// muxPollReply is the reply to a multiplexed long-poll: the pending
// delivery of every named session that has one, by session id.
type muxPollReply struct {
	Sessions map[string]Delivery `json:"sessions,omitempty"`
	Advice   *Advice             `json:"advice,omitempty"`
	Shutdown *Shutdown           `json:"shutdown,omitempty"`
}

// mux is one connection held for several sessions of one browser: the
// multiplexed form of a held transport. The connection itself is the held
// connection (ch) of a carrier, a session of the mux's own that no target
// reaches: the hub's poller watches it, its timers end a long-poll, and
// the writers flush it, as for any held connection. Each member session
// holds a held of its own whose transport is the mux, so that everything
// that works per session (a message queues a flush, a newer request
// releases it, the hub's shutdown and heartbeats reach it) works the same;
// a member's flush hands the work to the carrier, which writes the news of
// every member in one write.
//
// Locks: a carrier's mu may be held while a member's mu is taken, never
// the other way; m.mu is taken last, with no other lock taken under it.
type mux struct {
	h       *Hub
	kind    string // LongPoll, SSE or WebSocket
	carrier *Session
	ch      *held    // the shared connection, the carrier's held
	ws      *wsState // WebSocket: the shared socket's state
	join    func(id string, ack uint64) (*Session, *Reset, any)
	calls   func(ctx context.Context, s *Session, frame []byte) []byte

	mu       sync.Mutex
	members  []muxMember // in the order they joined
	resets   []MuxDelivery
	finished bool
	running  int  // WebSocket: batches of calls whose reply is not written yet
	endAfter bool // WebSocket: end once they are
}

// muxMember is a session the connection carries, and its held.
type muxMember struct {
	id string
	s  *Session
	hh *held
}

// newMux returns a mux of kind whose shared connection is not held yet,
// counted once in the load monitor until it finishes.
func (h *Hub) newMux(kind string) *mux {
	m := &mux{h: h, kind: kind, carrier: &Session{hub: h}}
	m.ch = &held{t: m, mux: m, since: stampOf(h.now())}
	h.load.held.Add(1)
	return m
}

func (m *mux) name() string { return m.kind }

// flush sends what the shared connection has to send, when s is the
// carrier. For a member, it hands the member's news to the carrier: at
// once on a stream, and on a long-poll after gathering for
// Transports.MaxWaitAfterWrite (on the member's own deadline).
func (m *mux) flush(s *Session, hh *held, beat bool) {
	switch {
	case s == m.carrier && m.kind == LongPoll:
		m.answerIfDue()
	case s == m.carrier && m.kind == SSE:
		m.writeSSE(beat)
	case s == m.carrier:
		m.writeSocket(beat)
	case m.kind == LongPoll:
		s.mu.Lock()
		if s.held != hh {
			s.mu.Unlock()
			return
		}
		due := hh.due || s.ended != "" || m.h.tc.MaxWaitAfterWrite < 0 || m.h.drain.on.Load()
		if !due && !hh.gather && s.deliverableLocked() {
			hh.gather = true
			m.h.timers.soon(m.h.tc.MaxWaitAfterWrite, s, hh)
		}
		s.mu.Unlock()
		if due {
			m.poke(false, true)
		}
	default:
		m.poke(beat && m.paces(s), false)
	}
}

// paces reports whether s is the member whose heartbeats the shared
// connection takes: the hub asks every held session for one, and the
// connection needs one per interval.
func (m *mux) paces(s *Session) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.members) > 0 && m.members[0].s == s
}

// poke queues the shared connection for a writer, with a heartbeat if
// beat, and due (a long-poll's reply) if due.
func (m *mux) poke(beat, due bool) {
	c := m.carrier
	c.mu.Lock()
	if c.held == m.ch {
		m.ch.beat = m.ch.beat || beat
		m.ch.due = m.ch.due || due
		c.flushLocked(m.ch)
	}
	c.mu.Unlock()
}

// release acts on a member that a newer request of its page took away: a
// long-poll answers at once with what the other members have; a stream
// carries on without it.
func (m *mux) release(s *Session, hh *held) {
	if m.kind == LongPoll {
		m.poke(false, true)
		return
	}
	m.remove(hh)
}

// input acts on what the page sent on the shared connection: a long-poll
// is answered at once and a stream ends (a request waits behind it), and
// a WebSocket reads its frames.
func (m *mux) input(s *Session, hh *held) {
	if m.kind == WebSocket {
		m.ws.input(m.carrier, m.ch)
		return
	}
	m.end()
}

// end ends the shared connection at once, so that its page comes back
// with a new request: a long-poll is answered with what its members
// have, a stream ends, a socket closes with 1000. A write under way ends
// it instead, once done.
func (m *mux) end() {
	if m.kind == LongPoll {
		m.poke(false, true)
		return
	}
	if m.kind == WebSocket {
		// A batch under way (the one that renamed the browser, say) gets
		// its reply first.
		m.mu.Lock()
		wait := m.running > 0
		m.endAfter = m.endAfter || wait
		m.mu.Unlock()
		if wait {
			return
		}
	}
	c := m.carrier
	c.mu.Lock()
	if c.held != m.ch {
		c.mu.Unlock()
		return
	}
	c.detachLocked(m.ch)
	writing := m.ch.flushing
	c.mu.Unlock()
	if !writing {
		if m.kind == WebSocket {
			m.ws.close(m.ch, ws.StatusNormalClosure, "")
		} else {
			m.ch.out.end()
		}
	}
	m.finish(false)
}

// holdMembers makes the shared connection the held connection of every
// live session in members, acknowledging their acks, and keeps the resets
// of the gone ones to send. It reports whether there is something to send
// already.
func (m *mux) holdMembers(members []MuxMember) bool {
	send := false
	for _, mb := range members {
		if mb.Session == nil {
			m.mu.Lock()
			m.resets = append(m.resets, MuxDelivery{Session: mb.ID, Reset: mb.Reset})
			m.mu.Unlock()
			send = true
			continue
		}
		if m.hold(mb.ID, mb.Session, mb.Ack) {
			send = true
		}
	}
	return send
}

// hold makes the shared connection s's held connection, for a page that
// has run every message up to ack, and reports whether s has something to
// send. A mux that has finished holds nothing.
func (m *mux) hold(id string, s *Session, ack uint64) bool {
	hh := &held{t: m, mux: m, since: stampOf(m.h.now())}
	s.mu.Lock()
	s.ackLocked(ack)
	s.lastSeen = stampOf(m.h.now())
	s.holdLocked(hh)
	hh.sent = s.acked
	send := s.deliverableLocked() || s.ended != ""
	s.mu.Unlock()
	m.mu.Lock()
	ok := !m.finished
	if ok {
		m.members = append(m.members, muxMember{id: id, s: s, hh: hh})
	}
	m.mu.Unlock()
	if !ok {
		s.mu.Lock()
		if s.held == hh {
			s.detachLocked(hh)
		}
		s.mu.Unlock()
		return false
	}
	return send
}

// member returns the member named id, if the connection carries it.
func (m *mux) member(id string) (muxMember, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mb := range m.members {
		if mb.id == id {
			return mb, true
		}
	}
	return muxMember{}, false
}

// remove forgets the member whose held is hh.
func (m *mux) remove(hh *held) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, mb := range m.members {
		if mb.hh == hh {
			m.members = append(m.members[:i], m.members[i+1:]...)
			return
		}
	}
}

// news collects, for every member, the messages not sent on the stream
// yet and the reset of a member whose session ended (which leaves the
// connection), after the resets of sessions that were gone already.
func (m *mux) news() []MuxDelivery {
	m.mu.Lock()
	out := m.resets
	m.resets = nil
	list := append([]muxMember(nil), m.members...)
	m.mu.Unlock()
	for _, mb := range list {
		s, hh := mb.s, mb.hh
		d := MuxDelivery{Session: mb.id}
		s.mu.Lock()
		if s.held != hh {
			s.mu.Unlock()
			continue
		}
		for _, msg := range s.msgs {
			if msg.Seq > hh.sent && !s.heldBack {
				d.Messages = append(d.Messages, msg)
				hh.sent = msg.Seq
			}
		}
		s.sentLocked(hh.sent)
		ended := s.ended != ""
		if ended {
			d.Reset = &Reset{Reason: s.ended}
			s.detachLocked(hh)
		}
		s.mu.Unlock()
		if ended {
			m.remove(hh)
		}
		if d.Messages != nil || d.Reset != nil {
			out = append(out, d)
		}
	}
	return out
}

// finish ends the mux once its connection is over: the carrier and every
// member are detached, and the connection leaves the load monitor's
// count. With collect, it returns what each member has pending (with the
// resets not sent yet), as a long-poll's reply carries it. A member a
// newer request took away is left to it.
func (m *mux) finish(collect bool) []MuxDelivery {
	m.mu.Lock()
	if m.finished {
		m.mu.Unlock()
		return nil
	}
	m.finished = true
	list, out := m.members, m.resets
	m.members, m.resets = nil, nil
	m.mu.Unlock()
	c := m.carrier
	c.mu.Lock()
	if c.held == m.ch {
		c.detachLocked(m.ch)
	}
	c.mu.Unlock()
	for _, mb := range list {
		s := mb.s
		s.mu.Lock()
		if s.held == mb.hh {
			s.detachLocked(mb.hh)
			if collect {
				d := s.deliveryLocked()
				if d.Messages != nil || d.Reset != nil {
					out = append(out, MuxDelivery{Session: mb.id, Messages: d.Messages, Reset: d.Reset, More: d.More})
				}
			}
		}
		s.mu.Unlock()
	}
	m.h.load.held.Add(-1)
	return out
}

// ServeMuxLongPoll holds one long-poll for several sessions of one
// browser, as ServeLongPoll does for one: until any of them has something
// to send (then it gathers for Transports.MaxWaitAfterWrite), the hold
// ends, the hub shuts down, or a newer request takes one of them away.
// It answers with every member's pending delivery, by session id, and
// the resets of the members that are gone; a reply is due at once when
// one is gone or the page is advised. The caller has checked members.
func (h *Hub) ServeMuxLongPoll(w http.ResponseWriter, r *http.Request, members []MuxMember) {
	m := h.newMux(LongPoll)
	c := m.carrier
	c.mu.Lock()
	m.ch.advice = h.adviseLocked(c, LongPoll)
	c.mu.Unlock()
	c.serve(w, r, m.ch, func(ch *held) bool {
		ch.timer = h.timers.add(h.tc.holdFor(), c, ch)
		if m.holdMembers(members) || ch.advice != nil || h.drain.on.Load() {
			ch.due = true
		}
		return ch.due
	})
	if _, waited := m.ch.out.(*handlerSink); waited {
		m.finish(false)
	}
}

// answerIfDue answers the shared long-poll, if its reply is due.
func (m *mux) answerIfDue() {
	c := m.carrier
	c.mu.Lock()
	due := c.held == m.ch && m.ch.due
	c.mu.Unlock()
	if !due {
		return
	}
	list := m.finish(true)
	reply := muxPollReply{Advice: m.ch.advice, Shutdown: m.h.shutdownNotice()}
	if len(list) > 0 {
		reply.Sessions = make(map[string]Delivery, len(list))
		for _, d := range list {
			reply.Sessions[d.Session] = Delivery{Messages: d.Messages, Reset: d.Reset, More: d.More}
		}
	}
	writeJSONTo(m.ch.out, reply)
}

// ServeMuxSSE streams the reverse calls of several sessions of one
// browser on one SSE stream: the "open" event, then for each session with
// news an event named "mux" whose data is a MuxDelivery; no id field, a
// page resumes with the acks it names. Heartbeats, the stream's age, the
// advice and the hub's shutdown are as on ServeSSE; a session that ends
// gets its reset event and leaves the stream, and one a newer request
// of its own takes away leaves it silently; a newer shared connection
// that takes one away ends it (see Session.holdLocked). The caller has
// checked members.
func (h *Hub) ServeMuxSSE(w http.ResponseWriter, r *http.Request, members []MuxMember) {
	m := h.newMux(SSE)
	c := m.carrier
	c.mu.Lock()
	m.ch.advice = h.adviseLocked(c, SSE)
	c.mu.Unlock()
	c.serve(w, r, m.ch, func(*held) bool {
		m.holdMembers(members)
		return true // the first flush writes the headers and the open event
	})
	if _, waited := m.ch.out.(*handlerSink); waited {
		m.finish(false)
	}
}

// writeSSE writes to the shared stream what its members have not been
// sent yet, as flushStream does for one session.
func (m *mux) writeSSE(heartbeat bool) {
	c, ch := m.carrier, m.ch
	for {
		c.mu.Lock()
		if !c.claimWriteLocked(ch) {
			c.mu.Unlock()
			return
		}
		begin := !ch.begun
		ch.begun = true
		old := m.h.now().Sub(ch.since.time()) >= m.h.tc.StreamMaxAge
		c.mu.Unlock()

		var buf []byte
		if begin {
			buf = appendOpen(buf, ch.advice)
		}
		for _, d := range m.news() {
			buf = append(buf, "event: mux\ndata: "...)
			buf, _ = appendJSON(buf, d)
			buf = append(buf, "\n\n"...)
		}
		notice := m.h.shutdownNotice()
		if notice != nil {
			buf = appendShutdown(buf, notice)
		}
		if heartbeat && len(buf) == 0 {
			buf = append(buf, ":\n\n"...)
		}
		var err error
		if begin {
			err = ch.out.begin(http.StatusOK, sseHeader, -1)
		}
		if err == nil && len(buf) > 0 {
			err = ch.out.write(buf)
		}

		c.mu.Lock()
		ch.flushing = false
		again := ch.again
		ch.again = false
		stop := err != nil || notice != nil || old || ch.once || ch.advice != nil && ch.advice.Transport == Polling
		gone := c.held != ch
		c.mu.Unlock()
		if stop || gone {
			ch.out.end()
			m.finish(false)
			return
		}
		if !again {
			return
		}
		heartbeat = false
	}
}

// MuxSocketOptions configure one multiplexed socket served by
// Hub.ServeMuxWebSocket.
type MuxSocketOptions struct {
	// Join looks up the session a {"join":ID,"ack":N} frame names, for
	// the socket's browser: it returns the live session, or the reset of a
	// gone one, or an error value (sent as the frame's "error" member) for
	// a session the page may not join. Nil: join frames are refused.
	Join func(id string, ack uint64) (*Session, *Reset, any)
	// Calls runs the batch of calls of one call frame as calls of s's
	// page; see SocketOptions.Calls. Nil: call frames are answered with an
	// unimplemented error.
	Calls func(ctx context.Context, s *Session, frame []byte) []byte
	// MaxFrame is the largest message, in bytes, read from the page.
	// Default 1 MiB; a value over math.MaxInt32 counts as math.MaxInt32.
	MaxFrame int64
}

// ServeMuxWebSocket upgrades r to a WebSocket that carries several
// sessions of one browser, as ServeWebSocket does for one: the
// {"open":true} frame, then delivery frames with the session's id
// ({"session":ID,"messages":[...]} or {"session":ID,"reset":{...}}), and
// the hub's shutdown ({"shutdown":{...}}, then close 1001). The page
// joins ({"join":ID,"ack":N}) and leaves ({"leave":ID}) sessions, acks
// ({"session":ID,"ack":N}) and sends call frames
// ({"re":N,"session":ID,"calls":[...]}) for a session it joined. A
// session that ends gets its reset frame and leaves the socket; one a
// newer request of its own takes away leaves it silently, and a newer
// shared connection that takes one away closes it with 1000 (see
// Session.holdLocked). Pings and silent pages are handled as on
// ServeWebSocket. The caller has checked members.
func (h *Hub) ServeMuxWebSocket(w http.ResponseWriter, r *http.Request, members []MuxMember, o MuxSocketOptions) {
	conn, ok := upgrade(w, r)
	if !ok {
		return
	}
	m := h.newMux(WebSocket)
	m.join, m.calls = o.Join, o.Calls
	c, ch := m.carrier, m.ch
	cs := &connSink{conn: conn}
	// Every way the socket ends cancels its calls: the members go with it.
	st := &wsState{maxFrame: frameLimit(o.MaxFrame)}
	st.run.Store(h.socketCalls(r))
	ch.out, m.ws = cs, st

	c.mu.Lock()
	advice := h.adviseLocked(c, WebSocket)
	c.mu.Unlock()
	if !st.open(ch, advice) {
		return
	}
	c.mu.Lock()
	c.holdLocked(ch)
	c.mu.Unlock()
	m.holdMembers(members)
	m.poke(false, false)
	st.serve(c, ch)
}

// writeSocket writes to the shared socket a frame for each member with
// news, and the shutdown notice that ends the socket; at a heartbeat it
// pings, or closes a socket that stayed silent for two.
func (m *mux) writeSocket(beat bool) {
	c, ch := m.carrier, m.ch
	st := m.ws
	for {
		c.mu.Lock()
		if !c.claimWriteLocked(ch) {
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()

		var buf []byte
		for _, d := range m.news() {
			b, _ := json.Marshal(d)
			buf = appendFrame(buf, ws.OpText, b)
		}
		notice := m.h.shutdownNotice()
		if notice != nil {
			b, _ := json.Marshal(Delivery{Shutdown: notice})
			buf = appendFrame(buf, ws.OpText, b)
		}
		buf, silent := st.appendBeat(buf, beat)
		var err error
		if len(buf) > 0 {
			err = ch.out.write(buf)
		}

		if !st.afterWrite(c, ch, err, silent, notice != nil, false) {
			return
		}
		beat = false
	}
}

// muxInFrame is a frame from the page on a multiplexed socket.
type muxInFrame struct {
	Join    *string         `json:"join"`
	Leave   *string         `json:"leave"`
	Session *string         `json:"session"`
	Ack     *uint64         `json:"ack"`
	Re      json.RawMessage `json:"re"`
	Calls   json.RawMessage `json:"calls"`
	Ordered *bool           `json:"ordered"`
}

// frame acts on a frame of valid JSON from the page: a join, a leave, an
// ack or a batch of calls of one joined session. Any other frame is
// answered with an error frame, with its re and session where it has them.
func (m *mux) frame(msg []byte) {
	var f muxInFrame
	re, err := readFrame(msg, &f, &f.Re)
	switch {
	case err != nil:
	case f.Join != nil && (f.Leave != nil || f.Session != nil || f.Re != nil || f.Calls != nil || f.Ordered != nil):
		err = errors.New(`a join frame is {"join":ID,"ack":N}`)
	case f.Leave != nil && (f.Session != nil || f.Ack != nil || f.Re != nil || f.Calls != nil || f.Ordered != nil):
		err = errors.New(`a leave frame is {"leave":ID}`)
	case f.Join == nil && f.Leave == nil && f.Session == nil:
		err = errors.New(`a frame names its session: "join", "leave" or "session"`)
	case f.Session != nil && re == 0 && (f.Calls != nil || f.Ordered != nil):
		err = errors.New(`a frame with calls needs "re"`)
	case f.Session != nil && re == 0 && f.Ack == nil:
		err = errors.New(`a frame is a join, a leave, an ack or a batch of calls`)
	}
	if err != nil {
		m.refuse(re, f.Session, "invalid_argument", "frame refused: "+err.Error())
		return
	}
	switch {
	case f.Join != nil:
		var ack uint64
		if f.Ack != nil {
			ack = *f.Ack
		}
		m.joinFrame(*f.Join, ack)
	case f.Leave != nil:
		if mb, ok := m.member(*f.Leave); ok {
			s := mb.s
			s.mu.Lock()
			if s.held == mb.hh {
				s.detachLocked(mb.hh)
			}
			s.mu.Unlock()
			m.remove(mb.hh)
		}
	default:
		mb, ok := m.member(*f.Session)
		if !ok {
			m.refuse(re, f.Session, "failed_precondition", "the session has not joined this socket")
			return
		}
		if f.Ack != nil {
			mb.s.Ack(*f.Ack)
		}
		if re != 0 {
			m.runCalls(re, mb.s, msg)
		}
	}
}

// joinFrame adds the session id to the socket, for a page that has run
// every message up to ack, and sends it what it has pending; a gone
// session gets its reset frame, a refused one an error frame.
func (m *mux) joinFrame(id string, ack uint64) {
	if mb, ok := m.member(id); ok {
		mb.s.Ack(ack)
		return
	}
	if m.join == nil {
		m.refuse(0, &id, "unimplemented", "sessions cannot join this socket")
		return
	}
	m.mu.Lock()
	full := len(m.members) >= MaxMuxSessions
	m.mu.Unlock()
	if full {
		m.refuse(0, &id, "resource_exhausted", "more than "+strconv.Itoa(MaxMuxSessions)+" sessions on one socket")
		return
	}
	s, reset, refusal := m.join(id, ack)
	switch {
	case refusal != nil:
		b, _ := json.Marshal(struct {
			Session string `json:"session"`
			Error   any    `json:"error"`
		}{id, refusal})
		m.ws.write(m.ch, b)
	case reset != nil || s == nil:
		if reset == nil {
			reset = &Reset{Reason: ReasonExpired}
		}
		b, _ := json.Marshal(MuxDelivery{Session: id, Reset: reset})
		m.ws.write(m.ch, b)
	default:
		m.hold(id, s, ack)
		m.poke(false, false)
	}
}

// refuse answers a frame with an error frame, carrying re and the
// session when the frame had them.
func (m *mux) refuse(re uint64, session *string, code, message string) {
	b, _ := json.Marshal(struct {
		Re      uint64    `json:"re,omitempty"`
		Session *string   `json:"session,omitempty"`
		Error   wireError `json:"error"`
	}{re, session, wireError{Code: code, Message: message}})
	m.ws.write(m.ch, b)
}

// runCalls runs the calls of frame msg as calls of s's page, on a
// goroutine of their own, which writes the reply frame with re.
func (m *mux) runCalls(re uint64, s *Session, msg []byte) {
	st, ch := m.ws, m.ch
	if m.calls == nil {
		st.write(ch, []byte(`{"re":`+strconv.FormatUint(re, 10)+`,"error":{"code":"unimplemented","message":"calls are not served on this socket"}}`))
		return
	}
	m.mu.Lock()
	m.running++
	m.mu.Unlock()
	go func() {
		defer func() {
			m.mu.Lock()
			m.running--
			end := m.running == 0 && m.endAfter
			m.endAfter = m.endAfter && !end
			m.mu.Unlock()
			if end {
				m.end()
			}
		}()
		defer func() {
			if p := recover(); p != nil {
				m.h.log.Error("parley: panic in the calls of a WebSocket frame", "panic", p)
				st.write(ch, []byte(`{"re":`+strconv.FormatUint(re, 10)+`,"error":{"code":"internal","message":"internal error"}}`))
			}
		}()
		reply := m.calls(st.callContext(), s, msg)
		if len(reply) < 2 || reply[0] != '{' {
			reply = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
		}
		out := strconv.AppendUint([]byte(`{"re":`), re, 10)
		if len(reply) > 2 {
			out = append(out, ',')
		}
		st.write(ch, append(out, reply[1:]...))
	}()
}

// HeldBy returns how many connections are held open now for the pages of
// the browser httpSession: a connection shared by several of its pages
// counts once.
func (h *Hub) HeldBy(httpSession string) int {
	h.mu.RLock()
	list := h.byHTTP.appendTo(nil, httpSession)
	h.mu.RUnlock()
	n := 0
	shared := map[*mux]bool{}
	for _, s := range list {
		s.mu.Lock()
		if hh := s.held; hh != nil {
			switch {
			case hh.mux == nil:
				n++
			case !shared[hh.mux]:
				shared[hh.mux] = true
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}
