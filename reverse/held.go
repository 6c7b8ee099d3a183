package reverse

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// stamp is a moment as Unix nanoseconds: a third of a time.Time, for the
// fields every held page keeps.
type stamp int64

func stampOf(t time.Time) stamp { return stamp(t.UnixNano()) }

func (s stamp) time() time.Time { return time.Unix(0, int64(s)) }

// heldTransport is one way of holding a connection open for a page:
// long-poll (longpoll.go), SSE (sse.go) or WebSocket (websocket.go). The
// hub calls it on its writers, with no lock held.
type heldTransport interface {
	// name is the transport's name: LongPoll, SSE or WebSocket.
	name() string
	// flush sends hh's page what it has to send now: new messages, the
	// end of the session or of the hold, the shutdown notice; and a
	// heartbeat if beat and there is nothing else. It ends hh when the
	// hold is over.
	flush(s *Session, hh *held, beat bool)
	// release finishes hh after it was detached because a newer request
	// replaced it or the hub let it go.
	release(s *Session, hh *held)
	// input acts on bytes the page sent on hh's parked connection.
	input(s *Session, hh *held)
}

// held is a connection held open for a page. Its flags come last, packed
// together: every held page keeps one.
type held struct {
	t     heldTransport
	out   sink
	since stamp

	// LongPoll: when the reply is due, in the hub's timers: the end of
	// the hold, brought forward to the end of the gathering after a first
	// message (see timers.soon).
	timer *deadline

	// Streams (SSE, WebSocket):
	advice *Advice // sent in the stream's first event or frame
	sent   uint64  // the highest sequence number written

	// mux is set on the held connections of a multiplexed connection:
	// its own (the carrier's) and its members'. It is counted once in
	// the load monitor, by the mux.
	mux *mux

	// once ends the hold after its first flush: a request with another
	// pipelined behind it is answered at once.
	once bool

	// Guarded by the session's mu:
	queued   bool // in the writers' queue
	beat     bool // a heartbeat is asked for
	due      bool // LongPoll: the reply is due
	gather   bool // LongPoll: the gathering after a first message began
	begun    bool // a stream's headers and first event are written
	flushing bool // a write is under way
	again    bool // more arrived while writing
}

// socket returns hh's WebSocket state when hh is a WebSocket, its own or
// the carrier of a multiplexed one; else nil.
func (hh *held) socket() *wsState {
	switch t := hh.t.(type) {
	case *wsState:
		return t
	case *mux:
		if t.ch == hh {
			return t.ws
		}
	}
	return nil
}

// parked returns hh's parked connection: out, when it is one.
func (hh *held) parked() *connSink {
	c, _ := hh.out.(*connSink)
	return c
}

// holdLocked makes hh the session's held connection, releasing the one
// it replaces: a page holds at most one. Called with s.mu held.
//
// A shared connection (see mux.go) that takes the session from another
// ends the other for all its sessions. Both were made by the browser's
// leading tab, which holds one at a time: the one the hub saw last may be
// one that tab sent first and gave up (a stream aborted when its set of
// sessions changed), read after the one it uses now. Ended, the one it
// uses is made again, naming every session, and keeps them; had it
// carried on without this one, no connection would hold it.
func (s *Session) holdLocked(hh *held) {
	switch old := s.held; {
	case old == nil:
	case old.mux != nil && hh.mux != nil && old.mux != hh.mux:
		s.detachLocked(old)
		s.hub.writers.run("the end of a shared connection", old.mux.end)
	default:
		s.releaseLocked(old)
	}
	s.held = hh
	if hh.mux == nil {
		s.hub.load.held.Add(1)
	}
	s.transport = hh.t.name()
}

// releaseLocked detaches hh from the session and has a writer finish it
// (see heldTransport.release), unless a write to it is under way: that
// writer finishes it. Called with s.mu held.
func (s *Session) releaseLocked(hh *held) {
	if s.held != hh {
		return
	}
	s.detachLocked(hh)
	if !hh.flushing {
		s.hub.writers.run("the release of a held connection", func() { hh.t.release(s, hh) })
	}
}

// comeBackLocked has s's page come back at once with a new request: its
// held connection is released, and a shared one (see mux.go) ends for
// every session it carries, so that the page holding it names them all
// again. Called with s.mu held.
func (s *Session) comeBackLocked() {
	switch hh := s.held; {
	case hh == nil:
	case hh.mux != nil:
		s.hub.writers.run("the end of a shared connection", hh.mux.end)
	default:
		s.releaseLocked(hh)
	}
}

// detachLocked forgets hh. Called with s.mu held.
func (s *Session) detachLocked(hh *held) {
	s.held = nil
	if hh.mux == nil {
		s.hub.load.held.Add(-1)
	}
	s.lastSeen = stampOf(s.hub.now())
	if hh.timer != nil {
		s.hub.timers.remove(hh.timer)
	}
}

// notifyLocked tells the held connection, if any, that there is
// something to send: a message or the session's end. A stream, and a
// long-poll that is due, are queued for the hub's writers; a long-poll
// first gathers for Transports.MaxWaitAfterWrite, a deadline in the hub's
// timers. Called with s.mu held.
func (s *Session) notifyLocked() {
	hh := s.held
	switch {
	case hh == nil:
	case s.heldBack && s.ended == "" && !s.hub.drain.on.Load():
	case hh.t != longPoll:
		s.flushLocked(hh)
	case s.ended != "" || s.hub.tc.MaxWaitAfterWrite < 0:
		hh.due = true
		s.flushLocked(hh)
	case !hh.gather:
		hh.gather = true
		s.hub.timers.soon(s.hub.tc.MaxWaitAfterWrite, s, hh)
	}
}

// flushLocked queues hh for a writer, once however often it is asked
// before a writer takes it. Called with s.mu held.
func (s *Session) flushLocked(hh *held) {
	if hh.queued {
		return
	}
	hh.queued = true
	s.hub.writers.add(task{s: s, hh: hh})
}

// claimWriteLocked reports whether the caller is to write to hh, s's
// held connection: not once hh is no longer held, nor while another write
// to it is under way, which then writes again for the caller. Called with
// s.mu held.
func (s *Session) claimWriteLocked(hh *held) bool {
	if s.held != hh {
		return false
	}
	if hh.flushing {
		hh.again = true
		return false
	}
	hh.flushing = true
	return true
}

// flushQueued sends what hh has to send; a writer runs it.
func (s *Session) flushQueued(hh *held) {
	s.mu.Lock()
	hh.queued = false
	beat := hh.beat
	hh.beat = false
	s.mu.Unlock()
	hh.t.flush(s, hh, beat)
}

// writeJSONTo writes v as a whole JSON reply to out and finishes it.
func writeJSONTo(out sink, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":{"code":"internal","message":"reply could not be encoded"}}`)
	}
	writeBody(out, b)
}

// writeDelivery writes d as a whole JSON reply to out and finishes it.
func writeDelivery(out sink, d *Delivery) {
	writeBody(out, encodeDelivery(d))
}

// writeBody writes the JSON reply b to out and finishes it.
func writeBody(out sink, b []byte) {
	if out.begin(http.StatusOK, jsonHeader, len(b)) == nil {
		_ = out.write(b)
	}
	out.end()
}

var jsonHeader = http.Header{
	"Content-Type":           {"application/json"},
	"Cache-Control":          {"no-store"},
	"X-Content-Type-Options": {"nosniff"},
}

// serve holds r's connection for s as hh, parking it where it can: then
// the handler returns at once, and the hub's poller watches the
// connection. Where it cannot, serve blocks until the hold ends or the
// request's context is done. first runs with s.mu held once hh is the
// session's held connection; it reports whether there is already
// something to send. A request with another pipelined behind it is
// answered at once, and the one behind is served after it.
func (s *Session) serve(w http.ResponseWriter, r *http.Request, hh *held, first func(*held) bool) {
	var hs *handlerSink
	switch cs, p := s.parkable(w, r); p {
	case pipelined:
		hh.out, hh.once = cs, true
	case parked:
		hh.out = cs
	default:
		hs = newHandlerSink(w)
		hh.out = hs
	}
	s.mu.Lock()
	s.holdLocked(hh)
	send := first(hh)
	if hh.once {
		hh.due = true
		s.flushLocked(hh)
	} else if send {
		s.notifyLocked()
	}
	s.mu.Unlock()
	if hh.parked() != nil && !hh.once {
		s.watch(hh)
	}
	if hs == nil {
		return
	}
	if hs.waitFor(r.Context()) {
		s.mu.Lock()
		if s.held == hh {
			s.detachLocked(hh)
		}
		s.mu.Unlock()
	}
	hs.leave()
}

// parkable parks r's connection, unless parking is off or there is no
// poller to watch parked connections.
func (s *Session) parkable(w http.ResponseWriter, r *http.Request) (*connSink, parking) {
	if s.hub.tc.NoParking || s.hub.poller() == nil {
		return nil, notParked
	}
	return park(w, r)
}

// watch puts hh's parked connection in the hub's poller, unless its reply
// has ended already. A connection the poller cannot watch stays parked
// unwatched: its hold still ends by time, and a write finds a peer gone.
func (s *Session) watch(hh *held) {
	c := hh.parked()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	w, err := s.hub.poller().watch(c.conn, 2*s.hub.tc.Heartbeat, &watch{s: s, hh: hh})
	if err == nil {
		c.w = w
	}
}

// onInput handles an event of the poller on hh's parked connection: its
// peer went away (the hold ends and the connection closes), or it sent
// bytes (the transport acts on them).
func (s *Session) onInput(hh *held) {
	c := hh.parked()
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	st := hh.socket()
	if _, isTLS := c.conn.(*tls.Conn); st != nil && !isTLS {
		// A WebSocket reads what arrived itself, and learns from it
		// that its page left.
		c.mu.Unlock()
		hh.t.input(s, hh)
		return
	}
	state := c.w.peek()
	if state == peerQuiet {
		c.w.rearm()
	}
	c.mu.Unlock()
	switch state {
	case peerGone:
		// Counted before the release, so whoever sees the release sees it.
		s.hub.stats.peerGone.Add(1)
		s.mu.Lock()
		if s.held == hh {
			s.detachLocked(hh)
		}
		s.mu.Unlock()
		c.drop()
		if st != nil {
			st.cancel()
		}
		if hh.mux != nil {
			hh.mux.finish(false)
		}
	case peerSent:
		hh.t.input(s, hh)
	}
}

// refuseWire is the body of an error reply the hub writes itself.
func refuseWire(code, message string) []byte {
	b, _ := json.Marshal(struct {
		Error wireError `json:"error"`
	}{wireError{Code: code, Message: message}})
	return b
}

// wireError is the {code, message} shape of rpc.Error, for the few errors
// the hub writes itself.
type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// netState is the hub's poller, started when a first connection parks.
type netState struct {
	once sync.Once
	p    *poller
}

// poller returns the hub's poller, starting it the first time; nil where
// there is none (see netpoll_other.go) or it could not start.
func (h *Hub) poller() *poller {
	h.net.once.Do(func() {
		p, err := newPoller(h)
		if err != nil {
			h.log.Debug("parley: held connections wait on their handlers", "err", err)
			return
		}
		h.net.p = p
	})
	return h.net.p
}

// close stops the poller, if it started. No connection parks after.
func (n *netState) close() {
	n.once.Do(func() {})
	if n.p != nil {
		n.p.close()
	}
}
