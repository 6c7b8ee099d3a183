package reverse

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A long-poll reply ends on a connection the page keeps for its next
// poll. Handing the connection back to net/http would cost a goroutine,
// fresh buffers and a hijack for every delivery; instead the connection
// stays in the hub's poller, and the page's next request on it, when it
// is for the path of the long-poll and whole in what has arrived, is read
// (http.ReadRequest) and served by the server's handler on the hub's
// writers (on a goroutine of its own in a cluster, where it may wait on
// the bus), middleware included. Its reply is parked again, or written
// with a Content-Length; either way the connection is never handed back
// to net/http. A request that arrives in parts (a browser may send its
// headers and its body in two writes) waits in the poller until it is
// whole, its start kept with the connection. Any other request (a call, a
// file, one with a chunked body or "Expect: 100-continue", one too large
// or in too many parts) goes back to net/http with what was read of it.
// Connections over TLS, where a record may arrive in parts, always go back
// to net/http.

// keepAlive is a connection whose long-poll reply has ended, waiting in
// the poller for the page's next request.
type keepAlive struct {
	conn  net.Conn
	srv   *http.Server
	from  *origin
	w     *watch
	idle  atomic.Pointer[deadline] // ends the wait after srv's idle timeout, if it has one
	taken atomic.Bool              // the connection left the wait: served, closed or handed back
	part  *partial                 // the start of a request that arrived in parts, if any
}

// partial is the start of a request that has arrived in parts, kept with
// its connection until the rest arrives.
type partial struct {
	b     []byte
	parts int // the reads it took so far
}

// maxParts bounds the reads a request on a kept connection may take: one
// that trickles in past it goes back to net/http, whose timeouts govern
// it from then on.
const maxParts = 4

// idleTimeout is how long srv keeps an idle connection: its IdleTimeout,
// else its ReadTimeout; 0 is for ever.
func idleTimeout(srv *http.Server) time.Duration {
	if srv.IdleTimeout > 0 {
		return srv.IdleTimeout
	}
	return srv.ReadTimeout
}

// take ends ka's wait, and its deadline, and reports whether the caller
// is the one to.
func (ka *keepAlive) take() bool {
	if !ka.end() {
		return false
	}
	if dl := ka.idle.Load(); dl != nil {
		ka.w.p.h.timers.remove(dl)
	}
	return true
}

// timeOut ends ka's wait after d, unless it has ended by then. It is set
// once ka waits, so that its end finds the connection in the poller.
func (ka *keepAlive) timeOut(d time.Duration) {
	t := &ka.w.p.h.timers
	dl := t.addKept(d, ka)
	ka.idle.Store(dl)
	if ka.taken.Load() {
		t.remove(dl) // the wait ended before its deadline was set
	}
}

// end ends ka's wait, and reports whether the caller is the one to.
func (ka *keepAlive) end() bool {
	if !ka.taken.CompareAndSwap(false, true) {
		return false
	}
	ka.w.p.h.stats.kept.Add(-1)
	return true
}

// expire closes ka's connection, unless it left the wait.
func (ka *keepAlive) expire() {
	if ka.take() {
		ka.drop()
	}
}

// idled closes ka's connection, unless it left the wait: its deadline
// passed, and has left the timers.
func (ka *keepAlive) idled() {
	if ka.end() {
		ka.drop()
	}
}

// drop takes ka's connection out of the poller and closes it.
func (ka *keepAlive) drop() {
	ka.w.stop()
	_ = ka.conn.Close()
}

// next acts on what the poller found on ka's connection, on a writer: the
// page's next request, or its going away.
func (ka *keepAlive) next(h *Hub) {
	if !ka.take() {
		return
	}
	ka.w.leave()
	if h.shared() {
		// On a cluster the poll may wait on the bus, for a session that
		// moves between hubs: it runs on a goroutine of its own rather
		// than hold up a writer.
		go h.safely("a request on a kept connection", func() { h.serveKept(ka) })
		return
	}
	h.serveKept(ka)
}

// keptBuf is what serving one kept connection's requests takes: room for
// the bytes that arrived, a reader of them, and the reply.
type keptBuf struct {
	in   [keptRequestMax]byte
	rd   bytes.Reader
	br   *bufio.Reader
	out  bytes.Buffer // the reply's body
	head bytes.Buffer // the reply, whole
}

// keptRequestMax is the most a request served on a kept connection may
// take, body included: a larger one goes back to net/http.
const keptRequestMax = 8 << 10

var keptBufs = sync.Pool{New: func() any {
	b := new(keptBuf)
	b.br = bufio.NewReaderSize(&b.rd, keptRequestMax)
	return b
}}

// serveKept serves the requests that arrived on ka's connection, which
// has left the poller, then has it wait there again for the next, or
// hands it back to net/http.
func (h *Hub) serveKept(ka *keepAlive) {
	conn, srv, from := ka.conn, ka.srv, ka.from
	buf := keptBufs.Get().(*keptBuf)
	pooled := true
	defer func() {
		if pooled {
			keptBufs.Put(buf)
		}
	}()
	had, parts := 0, 1
	if ka.part != nil {
		had, parts = copy(buf.in[:], ka.part.b), ka.part.parts+1
	}
	n, state := ka.w.read(buf.in[had:])
	switch state {
	case peerGone:
		_ = conn.Close()
		return
	case peerQuiet:
		h.keepWaiting(conn, srv, from, ka.part)
		return
	}
	data := buf.in[:had+n]
	for len(data) > 0 {
		if !headersEnd(data) {
			h.awaitRest(conn, srv, from, data, parts)
			return
		}
		buf.rd.Reset(data)
		buf.br.Reset(&buf.rd)
		req, err := http.ReadRequest(buf.br)
		head := len(data) - buf.br.Buffered()
		if err != nil || !from.serves(req, srv, head) || req.ContentLength > int64(keptRequestMax-head) {
			handBack(srv, conn, data)
			return
		}
		if req.ContentLength > int64(buf.br.Buffered()) {
			h.awaitRest(conn, srv, from, data, parts)
			return
		}
		kw := &keptWriter{conn: conn, br: buf.br, header: http.Header{}, buf: buf}
		if !h.serveKeptRequest(srv, conn, req, kw) {
			return
		}
		if kw.hijacked {
			// The handler has the connection, parked again: what it
			// read past the request it took with it.
			pooled = buf.br.Buffered() == 0
			return
		}
		if !kw.keep {
			_ = conn.Close()
			return
		}
		data = data[len(data)-buf.br.Buffered():]
		parts = 1 // the next request began in this read
	}
	h.keepWaiting(conn, srv, from, nil)
}

// headersEnd reports whether data, the start of a request, holds the
// blank line that ends its headers (a line may end in CRLF or in LF
// alone, as net/http reads them).
func headersEnd(data []byte) bool {
	return bytes.Contains(data, []byte("\n\r\n")) || bytes.Contains(data, []byte("\n\n"))
}

// awaitRest has conn wait in the poller for the rest of a request whose
// start, data, took parts reads so far; or hands it back to net/http if
// the request may take no more.
func (h *Hub) awaitRest(conn net.Conn, srv *http.Server, from *origin, data []byte, parts int) {
	if parts >= maxParts || len(data) >= keptRequestMax {
		handBack(srv, conn, data)
		return
	}
	h.keepWaiting(conn, srv, from, &partial{b: bytes.Clone(data), parts: parts})
}

// serveKeptRequest runs srv's handler for req, which arrived on conn, and
// writes its reply unless the handler took the connection over. It
// reports false if the connection is gone: the handler panicked, or the
// reply could not be written.
func (h *Hub) serveKeptRequest(srv *http.Server, conn net.Conn, req *http.Request, kw *keptWriter) (ok bool) {
	ctx := context.Background()
	if srv.BaseContext != nil {
		ctx = srv.BaseContext(&oneConn{conn: conn, taken: true})
	}
	ctx = context.WithValue(ctx, http.ServerContextKey, srv)
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, conn.LocalAddr())
	if srv.ConnContext != nil {
		ctx = srv.ConnContext(ctx, conn)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req = req.WithContext(ctx)
	req.RemoteAddr = remoteAddr(conn)
	defer func() {
		if !ok && !kw.hijacked {
			_ = conn.Close()
		}
	}()
	handler := srv.Handler
	if handler == nil {
		handler = http.DefaultServeMux
	}
	h.stats.keptServed.Add(1)
	handler.ServeHTTP(kw, req)
	if kw.hijacked {
		return true
	}
	_, _ = io.Copy(io.Discard, req.Body)
	return kw.reply(req) == nil
}

// remoteAddr is conn's peer address as net/http gives it to a request,
// formatted at a third of net.TCPAddr's cost for a TCP peer.
func remoteAddr(conn net.Conn) string {
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	}
	return conn.RemoteAddr().String()
}

// replyKept answers r with the JSON body on its connection, taken over
// from net/http, which then waits in the poller for the page's next
// request, as after a long-poll reply. It reports false, leaving w to the
// caller, where the connection is not to be kept: no poller, TLS (see
// poller.keep), HTTP/2, or a request already served on a kept connection,
// whose connection serveKept keeps itself.
func (h *Hub) replyKept(w http.ResponseWriter, r *http.Request, body []byte) bool {
	if _, kept := w.(*keptWriter); kept || r.TLS != nil || h.tc.NoParking || h.poller() == nil {
		return false
	}
	cs, how := park(w, r)
	switch {
	case how == notParked:
		return false
	case how == pipelined || cs.srv == nil:
		// The reply goes out as a held one's, and the connection back
		// to net/http, or closed.
		writeBody(cs, body)
		return true
	}
	if cs.begin(http.StatusOK, jsonHeader, len(body)) != nil || cs.write(body) != nil {
		_ = cs.conn.Close()
		return true
	}
	h.keepWaiting(cs.conn, cs.srv, cs.from, nil)
	return true
}

// keepWaiting puts conn, which came from srv, in the poller to wait for
// the page's next request, or the rest of it if part is its start; or
// hands it back to net/http if it cannot. from is what the reply before
// it kept of its request.
func (h *Hub) keepWaiting(conn net.Conn, srv *http.Server, from *origin, part *partial) {
	if !h.poller().keep(nil, conn, srv, from, part) {
		var read []byte
		if part != nil {
			read = part.b
		}
		handBack(srv, conn, read)
	}
}

// handBack gives conn back to srv, which reads the page's next request
// from it, starting with read, the bytes of it read already.
func handBack(srv *http.Server, conn net.Conn, read []byte) {
	_ = conn.SetWriteDeadline(time.Time{})
	if len(read) > 0 {
		conn = readFirst(conn, read)
	}
	resume(srv, conn)
}

// serves reports whether the hub serves req, read by http.ReadRequest,
// itself on a kept connection of srv: a request for the held path and
// host (which net/http checked when it read the held request), within
// srv's header limit, with no part of HTTP the hub leaves to net/http.
func (o *origin) serves(req *http.Request, srv *http.Server, headerLen int) bool {
	return req.Method == o.method && req.URL.Path == o.path && req.Host == o.host &&
		req.ProtoMajor == 1 && req.ProtoMinor == 1 &&
		len(req.TransferEncoding) == 0 && req.ContentLength >= 0 &&
		req.Header["Expect"] == nil && req.Header["Upgrade"] == nil &&
		(srv.MaxHeaderBytes <= 0 || headerLen <= srv.MaxHeaderBytes)
}

// keptWriter is the ResponseWriter of a request served on a kept
// connection. It gathers the reply and writes it whole, with a
// Content-Length, when the handler returns; or it gives the connection to
// the handler (http.Hijacker), as a held transport takes it. It is not an
// http.Flusher: nothing is written before the handler returns.
type keptWriter struct {
	conn     net.Conn
	br       *bufio.Reader // what arrived past the request
	header   http.Header
	status   int
	buf      *keptBuf // out gathers the body
	hijacked bool
	keep     bool // the connection stays open after the reply
}

func (w *keptWriter) Header() http.Header { return w.header }

func (w *keptWriter) WriteHeader(code int) {
	if w.status == 0 && !w.hijacked && code >= 200 {
		w.status = code
	}
}

func (w *keptWriter) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	w.WriteHeader(http.StatusOK)
	return w.buf.out.Write(p)
}

// Hijack gives the connection to the handler, with what arrived past the
// request in the reader.
func (w *keptWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	w.hijacked = true
	return w.conn, bufio.NewReadWriter(w.br, bufio.NewWriterSize(w.conn, 64)), nil
}

// reply writes the reply the handler made to req, in one write.
func (w *keptWriter) reply(req *http.Request) error {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	body := w.buf.out.Bytes()
	bodyAllowed := status != http.StatusNoContent && status != http.StatusNotModified
	if !bodyAllowed {
		body = nil
	}
	if _, ok := w.header["Content-Type"]; !ok && len(body) > 0 {
		w.header.Set("Content-Type", http.DetectContentType(body))
	}
	w.keep = !req.Close && w.header.Get("Connection") != "close"
	b := &w.buf.head
	b.Reset()
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(status))
	b.WriteByte(' ')
	b.WriteString(http.StatusText(status))
	b.WriteString("\r\n")
	if _, ok := w.header["Date"]; !ok {
		b.WriteString("Date: ")
		b.Write(time.Now().UTC().AppendFormat(nil, http.TimeFormat))
		b.WriteString("\r\n")
	}
	_ = w.header.WriteSubset(b, framing)
	if bodyAllowed {
		b.WriteString("Content-Length: ")
		b.WriteString(strconv.Itoa(len(body)))
		b.WriteString("\r\n")
	}
	if !w.keep {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	w.buf.out.Reset()
	_ = w.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := w.conn.Write(b.Bytes())
	return err
}

// stopped reports whether the hub has closed.
func (h *Hub) stopped() bool {
	select {
	case <-h.stop:
		return true
	default:
		return false
	}
}
