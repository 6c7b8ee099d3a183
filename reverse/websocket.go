package reverse

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// SocketOptions configure one socket served by Hub.ServeWebSocket.
type SocketOptions struct {
	// Calls runs the page's call frames. Nil: call frames are answered
	// with an unimplemented error.
	Calls SocketCaller
	// MaxFrame is the largest message, in bytes, read from the page; a
	// larger one closes the socket with 1009. Default 1 MiB; a value over
	// math.MaxInt32 counts as math.MaxInt32.
	MaxFrame int64
}

// SocketCaller runs the calls a page sends over its WebSocket. A server
// keeps one per idle socket: a value that is the socket's state itself,
// with no function made for it, costs the least.
type SocketCaller interface {
	// Calls runs the batch of calls of one call frame of s's page, given
	// the frame's whole JSON text, and returns the JSON object a reply to
	// the same batch over HTTP would carry: the hub adds the frame's "re"
	// to it. It runs on a goroutine of its own, so it may block; ctx is
	// canceled when the socket closes.
	Calls(ctx context.Context, s *Session, frame []byte) []byte
}

// CallsFunc is a function that is a SocketCaller.
type CallsFunc func(ctx context.Context, s *Session, frame []byte) []byte

// Calls returns f(ctx, s, frame).
func (f CallsFunc) Calls(ctx context.Context, s *Session, frame []byte) []byte {
	return f(ctx, s, frame)
}

// wsState is a held WebSocket's own state, and its transport: it carries
// deliveries to the page, and acks and calls from it, as text frames on
// one socket. Between frames the socket is parked in the hub's poller
// like any held connection: an idle page costs no goroutine and no
// buffer. Every held page keeps one: its small fields come last, packed
// together.
type wsState struct {
	calls SocketCaller
	// run is the context of the calls: until the first, the upgrade
	// request's values without its cancellation, which the sockets of a
	// listener often share (see Hub.socketCalls); from the first, the
	// socket's own, canceled when it closes (see callContext).
	run atomic.Pointer[socketCalls]
	// maxFrame is SocketOptions.MaxFrame, at most math.MaxInt32.
	maxFrame int32
	// flags holds wsClosed, wsEnded, and in its wsUnheard bits the count
	// of heartbeats since the page last sent a frame or a pong.
	flags atomic.Uint32
}

// The bits of wsState.flags.
const (
	wsClosed  uint32 = 1 << 31     // the close frame was written, or the socket dropped
	wsEnded   uint32 = 1 << 30     // the socket is gone: its calls are canceled
	wsUnheard        = wsEnded - 1 // the heartbeats since the page was heard
)

func (*wsState) name() string { return WebSocket }

// closed reports whether the close frame was written or the socket
// dropped.
func (st *wsState) closed() bool { return st.flags.Load()&wsClosed != 0 }

// frameLimit returns the wsState's maxFrame for SocketOptions.MaxFrame n:
// 1 MiB when n is 0 or less, else n up to math.MaxInt32.
func frameLimit(n int64) int32 {
	if n <= 0 {
		return 1 << 20
	}
	return int32(min(n, math.MaxInt32))
}

// socketCalls is the context of a socket's calls and its cancellation:
// none yet on the one a socket starts with, made of its upgrade
// request's values, which it may share.
type socketCalls struct {
	ctx  context.Context
	stop context.CancelFunc
}

// socketCalls returns what a socket upgraded from r starts with as the
// context of its calls: r's values (see socketBase), with no
// cancellation. Sockets whose values the hub shares share it.
func (h *Hub) socketCalls(r *http.Request) *socketCalls {
	ctx := h.socketBase(r)
	// Compared with the shared context, whose type is comparable, never
	// with r's, whose type may not be.
	b := h.base.Load()
	if b == nil || b.ctx != ctx {
		return &socketCalls{ctx: ctx}
	}
	if c := h.baseCalls.Load(); c != nil && c.ctx == b.ctx {
		return c
	}
	c := &socketCalls{ctx: b.ctx}
	h.baseCalls.Store(c)
	return c
}

// readFrame decodes the JSON text msg from the page into f, refusing
// members f does not have, and returns the frame's "re", read into *raw:
// 0 when absent, else a positive integer.
func readFrame(msg []byte, f any, raw *json.RawMessage) (uint64, error) {
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(f); err != nil {
		return 0, err
	}
	if *raw == nil {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(*raw), 10, 64)
	if err != nil || n == 0 {
		return 0, errors.New(`"re" must be a positive integer`)
	}
	return n, nil
}

// appendBeat appends a ping to buf when beat asks for a heartbeat, unless
// the page has been silent (no frame, no pong) since the last two pings:
// it reports that instead, and the socket is to be dropped.
func (st *wsState) appendBeat(buf []byte, beat bool) ([]byte, bool) {
	if !beat {
		return buf, false
	}
	// The first heartbeat after the page was heard counts 1.
	if st.flags.Add(1)&wsUnheard > 2 {
		return buf, true
	}
	return appendFrame(buf, ws.OpPing, nil), false
}

// afterWrite settles a write to the socket hh, the held connection of s:
// a failed write or a silent page drops the socket; the shutdown notice
// (goingAway) closes it with 1001; a reset written (ends), or hh no
// longer held, closes it with 1000. It reports whether more arrived
// while writing, to be written now.
func (st *wsState) afterWrite(s *Session, hh *held, err error, silent, goingAway, ends bool) bool {
	s.mu.Lock()
	hh.flushing = false
	again := hh.again
	hh.again = false
	stop := err != nil || silent || goingAway || ends
	if stop && s.held == hh {
		s.detachLocked(hh)
	}
	gone := s.held != hh
	s.mu.Unlock()
	switch {
	case err != nil, silent:
		st.drop(hh)
		return false
	case goingAway:
		st.close(hh, ws.StatusGoingAway, "")
		return false
	case stop, gone:
		st.close(hh, ws.StatusNormalClosure, "")
		return false
	}
	return again
}

// callContext returns the context of the socket's calls, which ends when
// the socket closes. It is made for the first batch of calls: an idle
// socket keeps none.
func (st *wsState) callContext() context.Context {
	base := st.run.Load()
	if base.stop != nil {
		return base.ctx
	}
	ctx, stop := context.WithCancel(context.WithoutCancel(base.ctx))
	if !st.run.CompareAndSwap(base, &socketCalls{ctx: ctx, stop: stop}) {
		stop()
		return st.run.Load().ctx
	}
	// cancel sets wsEnded before it loads run: one of the two stops it.
	if st.flags.Load()&wsEnded != 0 {
		stop()
	}
	return ctx
}

// cancel ends the socket's calls: the socket is gone.
func (st *wsState) cancel() {
	st.flags.Or(wsEnded)
	if run := st.run.Load(); run.stop != nil {
		run.stop()
	}
}

// end ends the socket's calls and, on a multiplexed socket hh, the
// sessions it carries: the socket is gone.
func (st *wsState) end(hh *held) {
	st.cancel()
	if hh.mux != nil {
		hh.mux.finish(false)
	}
}

// frameTimeout bounds how long the rest of a frame may take to arrive
// once its first bytes have.
const frameTimeout = 10 * time.Second

// ServeWebSocket upgrades r to a WebSocket (RFC 6455, no subprotocol) and
// makes it s's held connection, for a page that has run every message up
// to ack. The first frame is {"open":true} with the advice, if any; then
// delivery frames carry the messages as a poll reply does, coalescing
// what is new into one frame, and the end of the session (a reset, then
// close 1000) or of the server (the shutdown notice, then close 1001). A
// newer request of the page closes an older socket with 1000. The page
// sends ack frames ({"ack":N}) and call frames ({"re":N,"calls":[...]}),
// which o.Calls answers. The hub pings the page at every heartbeat and
// closes a socket that sent nothing, not even a pong, for two of them. A
// frame the hub cannot read closes the socket with 1002, 1007 or 1009; a
// frame it can read but not use is answered with {"error":{...}}.
//
// Where it can, the socket is parked and watched by the hub's poller, and
// the handler returns at once; elsewhere (no poller, or
// Transports.NoParking) the handler reads the socket until it closes. The
// caller checks the origin, the session and the ack before: a failed
// upgrade is answered by the WebSocket library with a plain HTTP error.
func (h *Hub) ServeWebSocket(w http.ResponseWriter, r *http.Request, s *Session, ack uint64, o SocketOptions) {
	conn, ok := upgrade(w, r)
	if !ok {
		return
	}
	cs := &connSink{conn: conn}
	st := &wsState{calls: o.Calls, maxFrame: frameLimit(o.MaxFrame)}
	st.run.Store(h.socketCalls(r))
	hh := &held{t: st, out: cs, since: stampOf(h.now())}

	s.mu.Lock()
	s.ackLocked(ack)
	s.lastSeen = stampOf(h.now())
	advice := h.adviseLocked(s, WebSocket)
	s.mu.Unlock()
	if !st.open(hh, advice) {
		return
	}

	s.mu.Lock()
	s.holdLocked(hh)
	hh.sent = s.acked
	if s.deliverableLocked() || s.ended != "" || h.drain.on.Load() {
		s.flushLocked(hh)
	}
	s.mu.Unlock()
	st.serve(s, hh)
}

// open writes the socket's first frame, {"open":true} with advice if any,
// and closes the socket if the advice is to poll. It reports whether the
// socket goes on.
func (st *wsState) open(hh *held, advice *Advice) bool {
	open, _ := json.Marshal(struct {
		Open   bool    `json:"open"`
		Advice *Advice `json:"advice,omitempty"`
	}{true, advice})
	if hh.out.write(appendFrame(nil, ws.OpText, open)) != nil {
		st.drop(hh)
		return false
	}
	if advice != nil && advice.Transport == Polling {
		st.close(hh, ws.StatusNormalClosure, "")
		return false
	}
	return true
}

// serve has the hub's poller watch the socket hh, held for s; where it
// cannot, it reads the socket on this goroutine until it closes.
func (st *wsState) serve(s *Session, hh *held) {
	cs := hh.parked()
	if !s.hub.tc.NoParking && s.hub.poller() != nil {
		s.watch(hh)
		cs.mu.Lock()
		watched := cs.w != nil || cs.ended
		cs.mu.Unlock()
		if watched {
			return
		}
	}
	br := bufio.NewReader(cs.conn)
	for st.readMessage(s, hh, br, false) {
	}
}

// upgrade answers r's WebSocket handshake and takes its connection over,
// with the headers set on w before (by middleware, say) on the 101 reply.
// A page must wait for the reply before it sends a frame: one that sent
// bytes already is closed with 1002.
func upgrade(w http.ResponseWriter, r *http.Request) (net.Conn, bool) {
	u := ws.HTTPUpgrader{Timeout: writeTimeout}
	if hdr := w.Header(); len(hdr) > 0 {
		u.Header = hdr.Clone()
	}
	conn, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		return nil, false
	}
	if rw.Reader.Buffered() > 0 {
		_ = ws.WriteFrame(conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusProtocolError, "frame before the handshake reply")))
		_ = conn.Close()
		return nil, false
	}
	return conn, true
}

// ServeResetSocket answers a WebSocket request for a session that is gone:
// it upgrades r, sends one frame {"reset":{"reason":reason}} and closes
// with 1000. The page opens a fresh session.
func ServeResetSocket(w http.ResponseWriter, r *http.Request, reason string) {
	conn, ok := upgrade(w, r)
	if !ok {
		return
	}
	body, _ := json.Marshal(Delivery{Reset: &Reset{Reason: reason}})
	buf := appendFrame(nil, ws.OpText, body)
	buf = appendFrame(buf, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, _ = conn.Write(buf)
	_ = conn.Close()
}

// appendFrame appends a whole, unmasked frame with payload p: a frame is
// written to the socket in one write, so frames written from several
// goroutines (the writers, call replies) never interleave.
func appendFrame(buf []byte, op ws.OpCode, p []byte) []byte {
	b := bytes.NewBuffer(buf)
	_ = ws.WriteHeader(b, ws.Header{Fin: true, OpCode: op, Length: int64(len(p))})
	b.Write(p)
	return b.Bytes()
}

// flush writes the page a delivery frame with the messages it has not
// been sent yet, and the reset or shutdown notice that ends the socket;
// at a heartbeat it pings, or closes a socket that stayed silent for two.
func (st *wsState) flush(s *Session, hh *held, beat bool) {
	for {
		s.mu.Lock()
		if !s.claimWriteLocked(hh) {
			s.mu.Unlock()
			return
		}
		var d Delivery
		for _, m := range s.msgs {
			if m.Seq > hh.sent && !s.heldBack {
				d.Messages = append(d.Messages, m)
				hh.sent = m.Seq
			}
		}
		s.sentLocked(hh.sent)
		if s.ended != "" {
			d.Reset = &Reset{Reason: s.ended}
		}
		s.hub.addNotice(&d)
		s.mu.Unlock()

		var buf []byte
		if d.Messages != nil || d.Reset != nil || d.Shutdown != nil {
			buf = appendFrame(buf, ws.OpText, encodeDelivery(&d))
		}
		buf, silent := st.appendBeat(buf, beat)
		var err error
		if len(buf) > 0 {
			err = hh.out.write(buf)
		}

		if !st.afterWrite(s, hh, err, silent, d.Shutdown != nil, d.Reset != nil) {
			return
		}
		beat = false
	}
}

// release closes the socket with 1000: a newer request of the page
// replaced it, or the hub let it go.
func (st *wsState) release(_ *Session, hh *held) {
	st.close(hh, ws.StatusNormalClosure, "")
}

// input reads the frames the page sent, then parks the socket again. On
// TLS, frames the TLS layer read already are read too: the poller sees
// only the socket.
func (st *wsState) input(s *Session, hh *held) {
	c := hh.parked()
	in := inputs.Get().(*socketInput)
	defer func() {
		in.br.Reset(nil)
		in.c, in.first = nil, nil
		inputs.Put(in)
	}()
	in.c, in.waited = c, false
	_, isTLS := c.conn.(*tls.Conn)
	if !isTLS {
		// What arrived is read at once, without waiting: a page's ack or
		// batch of calls is nearly always whole in it, and then no read
		// deadline needs setting.
		n, state := c.w.read(in.buf[:])
		switch state {
		case peerQuiet:
			c.w.rearm()
			return
		case peerGone:
			st.readFailed(s, hh, io.EOF)
			return
		}
		in.first = in.buf[:n]
	}
	in.br.Reset(in)
	for {
		if !st.readMessage(s, hh, in.br, true) {
			return
		}
		if in.br.Buffered() > 0 || len(in.first) > 0 {
			continue
		}
		if !isTLS {
			break
		}
		// A read past its deadline returns only what TLS holds already.
		_ = c.conn.SetReadDeadline(time.Now())
		if _, err := in.br.Peek(1); err != nil {
			break
		}
		in.waited = false
	}
	if in.waited || isTLS {
		// A deadline left set would keep a runtime timer for the idle
		// socket.
		_ = c.conn.SetReadDeadline(time.Time{})
	}
	c.mu.Lock()
	if !c.stopped && c.w != nil {
		c.w.rearm()
	}
	c.mu.Unlock()
}

// socketInput is what reading a parked socket's input takes: the bytes
// that had arrived when it was read at once, then the socket itself,
// waited on for at most frameTimeout: once bytes of a frame have come,
// the rest is on its way.
type socketInput struct {
	c      *connSink
	buf    [4096]byte
	first  []byte // what had arrived, not yet read
	waited bool   // the socket's read deadline is set
	br     *bufio.Reader
}

// inputs lend what reading a parked socket's input takes; an idle socket
// keeps none.
var inputs = sync.Pool{New: func() any {
	in := new(socketInput)
	in.br = bufio.NewReaderSize(nil, 4096)
	return in
}}

func (in *socketInput) Read(p []byte) (int, error) {
	if len(in.first) > 0 {
		n := copy(p, in.first)
		in.first = in.first[n:]
		return n, nil
	}
	if !in.waited {
		in.waited = true
		_ = in.c.conn.SetReadDeadline(time.Now().Add(frameTimeout))
	}
	return in.c.conn.Read(p)
}

// readMessage reads one message from the page, with the control frames
// before it, and acts on it. It reports false once the socket is closed.
// parked says br reads a parked socket's input (see socketInput), which
// bounds the wait for the message's bytes: they are known to be
// arriving.
func (st *wsState) readMessage(s *Session, hh *held, br *bufio.Reader, parked bool) bool {
	var msg []byte
	text := false
	for {
		h, err := ws.ReadHeader(br)
		if err != nil {
			return st.readFailed(s, hh, err)
		}
		state := ws.StateServerSide
		if text {
			state = state.Set(ws.StateFragmented)
		}
		if ws.CheckHeader(h, state) != nil {
			return st.fail(s, hh, ws.StatusProtocolError, "malformed frame")
		}
		if h.Length > int64(st.maxFrame)-int64(len(msg)) {
			return st.fail(s, hh, ws.StatusMessageTooBig, "message over "+strconv.Itoa(int(st.maxFrame))+" bytes")
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(br, p); err != nil {
			return st.readFailed(s, hh, err)
		}
		ws.Cipher(p, h.Mask, 0)
		st.flags.And(^wsUnheard)
		switch h.OpCode {
		case ws.OpPing, ws.OpPong:
			if h.OpCode == ws.OpPing {
				_ = hh.out.write(appendFrame(nil, ws.OpPong, p))
			}
			if parked && !text {
				// A control frame alone (a pong to the hub's ping): no
				// message follows it, so the socket parks again rather
				// than wait for one.
				return true
			}
			continue
		case ws.OpClose:
			s.hub.stats.peerGone.Add(1)
			return st.fail(s, hh, ws.StatusNormalClosure, "")
		case ws.OpBinary:
			return st.fail(s, hh, ws.StatusInvalidFramePayloadData, "binary frames are not read")
		case ws.OpText:
			text = true
		}
		msg = append(msg, p...)
		if h.Fin {
			break
		}
	}
	if !utf8.Valid(msg) || !json.Valid(msg) {
		return st.fail(s, hh, ws.StatusInvalidFramePayloadData, "a frame is not one JSON object")
	}
	if hh.mux != nil {
		hh.mux.frame(msg)
		return true
	}
	st.handle(s, hh, msg)
	return true
}

// inFrame is a frame from the page: an ack, or a batch of calls.
type inFrame struct {
	Ack     *uint64         `json:"ack"`
	Re      json.RawMessage `json:"re"`
	Calls   json.RawMessage `json:"calls"`
	Ordered *bool           `json:"ordered"`
}

// handle acts on a frame of valid JSON: it records its ack, and runs its
// calls on a goroutine of their own, which writes the reply frame. A
// frame that is not an ack or a batch of calls is answered with an error
// frame, with the frame's re when it has a valid one.
func (st *wsState) handle(s *Session, hh *held, msg []byte) {
	var f inFrame
	re, err := readFrame(msg, &f, &f.Re)
	if err == nil && re == 0 && (f.Calls != nil || f.Ordered != nil) {
		err = errors.New(`a frame with calls needs "re"`)
	}
	if err != nil {
		st.write(hh, refuseWire("invalid_argument", "frame refused: "+err.Error()))
		return
	}
	if f.Ack != nil {
		s.Ack(*f.Ack)
	}
	if re == 0 {
		return
	}
	if st.calls == nil {
		st.write(hh, []byte(`{"re":`+strconv.FormatUint(re, 10)+`,"error":{"code":"unimplemented","message":"calls are not served on this socket"}}`))
		return
	}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				s.hub.log.Error("parley: panic in the calls of a WebSocket frame", "panic", p)
				st.write(hh, []byte(`{"re":`+strconv.FormatUint(re, 10)+`,"error":{"code":"internal","message":"internal error"}}`))
			}
		}()
		reply := st.calls.Calls(st.callContext(), s, msg)
		if len(reply) < 2 || reply[0] != '{' {
			reply = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
		}
		out := strconv.AppendUint([]byte(`{"re":`), re, 10)
		if len(reply) > 2 {
			out = append(out, ',')
		}
		st.write(hh, append(out, reply[1:]...))
	}()
}

// write writes a text frame, unless the socket is closed.
func (st *wsState) write(hh *held, p []byte) {
	if !st.closed() {
		_ = hh.out.write(appendFrame(nil, ws.OpText, p))
	}
}

// readFailed ends the socket after a read failed: the page left, or a
// frame did not arrive whole in time. It reports false, for readMessage.
func (st *wsState) readFailed(s *Session, hh *held, err error) bool {
	if !st.closed() && !errors.Is(err, os.ErrDeadlineExceeded) {
		s.hub.stats.peerGone.Add(1)
	}
	s.mu.Lock()
	if s.held == hh {
		s.detachLocked(hh)
	}
	s.mu.Unlock()
	st.drop(hh)
	return false
}

// fail ends the socket with a close frame of code: the page sent what the
// hub cannot read. It reports false, for readMessage.
func (st *wsState) fail(s *Session, hh *held, code ws.StatusCode, reason string) bool {
	s.mu.Lock()
	if s.held == hh {
		s.detachLocked(hh)
	}
	s.mu.Unlock()
	st.close(hh, code, reason)
	return false
}

// close writes the close frame with code, once, and closes the socket;
// its calls' context is canceled. The page's session is not touched.
func (st *wsState) close(hh *held, code ws.StatusCode, reason string) {
	if st.flags.Or(wsClosed)&wsClosed != 0 {
		return
	}
	_ = hh.out.write(appendFrame(nil, ws.OpClose, ws.NewCloseFrameBody(code, reason)))
	st.end(hh)
	hh.out.end()
}

// drop closes the socket with no close frame: it cannot be written to.
func (st *wsState) drop(hh *held) {
	st.flags.Or(wsClosed)
	st.end(hh)
	hh.out.drop()
}
