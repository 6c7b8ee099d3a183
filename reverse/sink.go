package reverse

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A sink is where a held transport writes its reply: a parked network
// connection, or the ResponseWriter of a handler that waits. Transports
// are tested against a fake sink that collects what is written.
type sink interface {
	// begin sends the reply's status line and headers. A contentLength
	// of -1 means the body runs until end (a stream).
	begin(status int, h http.Header, contentLength int) error
	// write sends part of the body, flushed to the network.
	write(p []byte) error
	// end finishes the reply and lets the connection go: kept for the
	// page's next request where it can (in the poller, or by net/http),
	// closed otherwise. Only the first call does anything; writes after
	// it fail.
	end()
	// drop closes the connection at once: its peer is gone.
	drop()
}

// writeTimeout bounds every write to a page: a page that stopped reading
// is cut after it.
const writeTimeout = 10 * time.Second

// connSink is a connection taken over from net/http (hijacked) and parked
// with no goroutine: the costs of a held page are the socket and a few
// small structs. The hub's poller watches it while it is parked, so a page
// that leaves is noticed at once and a request sent behind the held one
// is served. A finished reply keeps the connection open (keep-alive): a
// long-poll reply has a Content-Length, and its connection waits in the
// poller for the page's next poll (see keepalive.go); a stream is chunked,
// and its connection goes back to the http.Server it came from, which
// reads the page's next request.
type connSink struct {
	// conn is the connection; a request pipelined behind the held one,
	// which net/http had read already, is read from it first.
	conn net.Conn
	// from is what the reply keeps of its request: the headers set on
	// the ResponseWriter before it was taken over (by middleware, CORS, a
	// new cookie), which the reply carries after its own, and the
	// request's method and path.
	from *origin
	// srv is the server the connection goes back to when the reply is
	// done; nil when it cannot (HTTP/1.0, "Connection: close", a request
	// pipelined behind over TLS, a server shutting down): the reply then
	// says "Connection: close" and the connection is closed.
	srv *http.Server

	mu      sync.Mutex
	head    string // the status line and headers begin made, sent with the first write
	w       *watch // the poller's watch, while parked
	body    int    // bytes of a Content-Length body still to write
	chunked bool   // a stream's body is sent chunked
	ended   bool
	failed  bool // a write failed: the connection cannot be reused
	stopped bool // the watch was stopped
	// draining: what was written and the socket has not taken yet, kept
	// in tails, is written by a goroutine of its own (see writeLocked).
	// endLater: the reply ended meanwhile, and the drain finishes it.
	draining, endLater bool
}

// tails holds, by sink, what a draining sink's socket has not taken yet.
// Draining is rare (a page that reads slowly or not at all), so this is
// kept apart from connSink, which every held page has.
var tails struct {
	mu sync.Mutex
	m  map[*connSink][]byte
}

// addTail appends p, which the caller may reuse, to c's tail.
func addTail(c *connSink, p []byte) {
	tails.mu.Lock()
	if tails.m == nil {
		tails.m = map[*connSink][]byte{}
	}
	tails.m[c] = append(tails.m[c], p...)
	tails.mu.Unlock()
}

// takeTail takes c's tail, nil when it has none.
func takeTail(c *connSink) []byte {
	tails.mu.Lock()
	p := tails.m[c]
	delete(tails.m, c)
	tails.mu.Unlock()
	return p
}

// parking is what park did with a request's connection.
type parking int

const (
	// notParked: the connection is still net/http's; reply through the
	// ResponseWriter.
	notParked parking = iota
	// parked: the connection is the sink's. The ResponseWriter must not be
	// touched again.
	parked
	// pipelined: the connection was taken over, and another request is
	// pipelined behind this one. The caller answers the held request at
	// once through the sink; the request behind it is served after, on
	// the same connection. The ResponseWriter must not be touched again.
	pipelined
)

// park takes the connection of w over from net/http, if it can be (HTTP/1.x
// through http.ResponseController, which sees through wrapped writers), so
// the handler can return while the page is held. Whatever it reports but
// notParked, w belongs to net/http no more.
func park(w http.ResponseWriter, r *http.Request) (*connSink, parking) {
	if r.ProtoMajor != 1 {
		return nil, notParked
	}
	from := origins.intern(w.Header(), r)
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, notParked
	}
	conn = unread(conn)
	cs := &connSink{conn: conn, from: from}
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && r.ProtoAtLeast(1, 1) && !r.Close {
		cs.srv = srv
	}
	n := rw.Reader.Buffered()
	if n == 0 {
		return cs, parked
	}
	if _, isTLS := conn.(*tls.Conn); isTLS {
		// What net/http read past the request is plaintext a TLS
		// connection cannot take back: the reply closes the connection,
		// and the client sends the rest again.
		cs.srv = nil
	} else {
		rest, _ := rw.Reader.Peek(n)
		cs.conn = readFirst(conn, rest)
	}
	return cs, pipelined
}

// framing names the headers a parked reply sets itself, from the shape of
// its body.
var framing = map[string]bool{"Connection": true, "Content-Length": true, "Transfer-Encoding": true}

// ownHeaders names the headers a held transport's reply sets, which
// override those set before the connection was taken over.
var ownHeaders = func() map[string]bool {
	own := maps.Clone(framing)
	for _, h := range []http.Header{jsonHeader, sseHeader} {
		for k := range h {
			own[k] = true
		}
	}
	return own
}()

// origin is what a parked reply keeps of its request.
type origin struct {
	// pre is the headers set before the connection was taken over, less
	// those the reply sets itself, as written on the wire.
	pre string
	// method, path and host are the request's: the next request on the
	// connection that has the same is served by the hub itself (see
	// keepalive.go).
	method, path, host string
}

// originCache interns origins: every page of a site usually gets the
// same headers (from the same middleware) on the same path, so parked
// pages share one copy. A set with a cookie is a page's own and is not
// interned.
type originCache struct {
	mu sync.Mutex
	m  map[origin]*origin
}

// maxInterned bounds the distinct origins an originCache keeps; past it,
// each parked page keeps its own.
const maxInterned = 256

var origins originCache

// intern returns the origin of r, whose ResponseWriter had the headers h,
// shared with every page that had the same.
func (c *originCache) intern(h http.Header, r *http.Request) *origin {
	var b strings.Builder
	_ = h.WriteSubset(&b, ownHeaders)
	o := origin{pre: b.String(), method: r.Method, path: r.URL.Path, host: r.Host}
	if _, ok := h["Set-Cookie"]; ok {
		return &o // this page's own
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if u, ok := c.m[o]; ok {
		return u
	}
	u := &o
	if len(c.m) < maxInterned {
		if c.m == nil {
			c.m = map[origin]*origin{}
		}
		c.m[o] = u
	}
	return u
}

// socketOf returns the network connection under c: the socket under a
// TLS connection, or c itself.
func socketOf(c net.Conn) net.Conn {
	if t, ok := c.(*tls.Conn); ok {
		return t.NetConn()
	}
	return c
}

// headRoom is what a reply's head takes beside the headers middleware set
// (origin.pre): the status line, the transport's headers and the framing.
// Sized up front, it is built in one allocation.
const headRoom = 192

func (c *connSink) begin(status int, h http.Header, contentLength int) error {
	var b strings.Builder
	room := headRoom
	if c.from != nil {
		room += len(c.from.pre)
	}
	b.Grow(room)
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(status))
	b.WriteByte(' ')
	b.WriteString(http.StatusText(status))
	b.WriteString("\r\n")
	_ = h.WriteSubset(&b, framing)
	if c.from != nil {
		b.WriteString(c.from.pre)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	keep := c.srv != nil
	switch {
	case contentLength >= 0:
		b.WriteString("Content-Length: ")
		b.WriteString(strconv.Itoa(contentLength))
		b.WriteString("\r\n")
		c.body = contentLength
	case keep:
		b.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if !keep {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	if c.failed || c.ended {
		return errGone
	}
	c.head = b.String()
	c.chunked = contentLength < 0 && keep
	return nil
}

func (c *connSink) write(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return errGone
	}
	if !c.chunked && c.head == "" {
		c.body -= len(p)
		return c.writeLocked(p)
	}
	return c.writeBodyLocked(p, false)
}

// chunkBufs recycles the buffers chunks are framed in.
var chunkBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeBodyLocked writes, in one write, the headers begin left pending,
// then p (framed as a chunk if the body is chunked), then the last chunk
// if last. Called with c.mu held.
func (c *connSink) writeBodyLocked(p []byte, last bool) error {
	b := chunkBufs.Get().(*bytes.Buffer)
	defer chunkBufs.Put(b)
	b.Reset()
	b.WriteString(c.head)
	c.head = ""
	if !c.chunked {
		c.body -= len(p)
		b.Write(p)
		return c.writeLocked(b.Bytes())
	}
	cw := httputil.NewChunkedWriter(b)
	if len(p) > 0 {
		_, _ = cw.Write(p)
	}
	if last {
		_ = cw.Close()
		b.WriteString("\r\n") // the end of an empty trailer
	}
	return c.writeLocked(b.Bytes())
}

// writeLocked writes p to the connection. Called with c.mu held. A
// watched connection without TLS is written to directly, without
// waiting: the socket's buffer nearly always takes the whole of p. What
// it does not take, from a page that reads slowly or not at all, a
// goroutine of its own writes (drain), within writeTimeout, so that the
// page holds none of the hub's writers meanwhile; what is written before
// it is done joins it. Other connections are written to with a deadline.
func (c *connSink) writeLocked(p []byte) error {
	if c.failed {
		return errGone
	}
	if c.draining {
		addTail(c, p)
		return nil
	}
	if _, isTLS := c.conn.(*tls.Conn); c.w != nil && !isTLS {
		n, err := c.w.write(p)
		switch {
		case err != nil:
			c.failed = true
			return err
		case n < len(p):
			addTail(c, p[n:])
			c.draining = true
			go c.drain()
		}
		return nil
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.conn.Write(p); err != nil {
		c.failed = true
		return err
	}
	return nil
}

// drain writes c's tail until it is empty, each part within
// writeTimeout, then finishes the reply if it ended meanwhile. A write
// that fails shuts the socket down, and the poller then finds the page
// gone, as when it leaves.
func (c *connSink) drain() {
	c.mu.Lock()
	for !c.failed {
		p := takeTail(c)
		if len(p) == 0 {
			break
		}
		c.mu.Unlock()
		_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := c.conn.Write(p)
		c.mu.Lock()
		if err != nil && !c.failed {
			c.failed = true
			if c.w != nil && !c.stopped {
				c.w.shut()
			}
		}
	}
	takeTail(c) // what a failed connection could not take
	c.draining = false
	if c.endLater {
		c.releaseLocked()
		return
	}
	c.mu.Unlock()
}

func (c *connSink) end() {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	if (c.chunked || c.head != "") && !c.failed {
		_ = c.writeBodyLocked(nil, c.chunked)
	}
	if c.draining {
		c.endLater = true
		c.mu.Unlock()
		return
	}
	c.releaseLocked()
}

// releaseLocked lets the connection of the ended reply go, once all of it
// is written: kept for the page's next request where it can be, closed
// otherwise. Called with c.mu held; it unlocks it.
func (c *connSink) releaseLocked() {
	reuse := c.srv != nil && !c.failed && c.body == 0
	if reuse && !c.chunked && c.w != nil && !c.stopped && c.w.p.keep(c.w, c.conn, c.srv, c.from, nil) {
		// A long-poll reply: the connection waits in the poller for
		// the page's next poll (see keepalive.go).
		c.stopped = true
		c.mu.Unlock()
		return
	}
	c.stopWatchLocked()
	c.mu.Unlock()
	if !reuse {
		_ = c.conn.Close()
		return
	}
	_ = c.conn.SetWriteDeadline(time.Time{})
	resume(c.srv, c.conn)
}

func (c *connSink) drop() {
	c.mu.Lock()
	c.ended = true
	c.failed = true
	c.stopWatchLocked()
	c.mu.Unlock()
	_ = c.conn.Close()
}

// stopWatchLocked takes the connection out of the poller. Called with c.mu
// held.
func (c *connSink) stopWatchLocked() {
	if c.w != nil && !c.stopped {
		c.stopped = true
		c.w.stop()
	}
}

// pipelinedConn is a connection whose first bytes were read already: a
// request pipelined behind a held one, or one the hub read and left to
// net/http.
type pipelinedConn struct {
	net.Conn
	first *bytes.Reader
}

// readFirst returns conn, reading a copy of first before what conn has.
func readFirst(conn net.Conn, first []byte) net.Conn {
	return &pipelinedConn{Conn: conn, first: bytes.NewReader(bytes.Clone(first))}
}

func (c *pipelinedConn) Read(p []byte) (int, error) {
	if c.first.Len() > 0 {
		return c.first.Read(p)
	}
	return c.Conn.Read(p)
}

// unread returns c's connection itself once its first bytes are read.
func unread(c net.Conn) net.Conn {
	if pc, ok := c.(*pipelinedConn); ok && pc.first.Len() == 0 {
		return pc.Conn
	}
	return c
}

// resume hands conn back to srv, which reads and serves the requests that
// follow on it as on any kept-alive connection (its ConnState hook sees it
// as new). A server that is shutting down closes it.
func resume(srv *http.Server, conn net.Conn) {
	l := &oneConn{conn: conn}
	if err := srv.Serve(l); err != nil && !l.taken {
		_ = conn.Close()
	}
}

// oneConn is a listener that yields one connection, then fails: what
// http.Server.Serve takes to serve a connection handed back to it.
type oneConn struct {
	conn  net.Conn
	taken bool
}

// errOneConn ends the Serve of a oneConn once it has its connection.
var errOneConn = errors.New("reverse: connection handed back")

func (l *oneConn) Accept() (net.Conn, error) {
	if l.taken {
		return nil, errOneConn
	}
	l.taken = true
	return l.conn, nil
}

func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return l.conn.LocalAddr() }

// handlerSink writes through the ResponseWriter of a handler that waits
// for done: the fallback where a connection cannot be parked (HTTP/2, a
// system without a poller, Transports.NoParking). net/http notices a peer
// that goes away and cancels the request's context. Once the handler has
// left, writes fail instead of touching the finished ResponseWriter.
type handlerSink struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	done chan struct{}
	once sync.Once

	mu   sync.Mutex
	gone bool
}

func newHandlerSink(w http.ResponseWriter) *handlerSink {
	return &handlerSink{w: w, rc: http.NewResponseController(w), done: make(chan struct{})}
}

var errGone = errors.New("reverse: the request has finished")

func (s *handlerSink) begin(status int, h http.Header, contentLength int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		return errGone
	}
	dst := s.w.Header()
	for k, v := range h {
		dst[k] = v
	}
	if contentLength >= 0 {
		dst.Set("Content-Length", strconv.Itoa(contentLength))
	}
	s.w.WriteHeader(status)
	return s.rc.Flush()
}

func (s *handlerSink) write(p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		return errGone
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := s.w.Write(p); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *handlerSink) end()  { s.once.Do(func() { close(s.done) }) }
func (s *handlerSink) drop() { s.end() }

// leave marks the handler as returned: no write reaches w after it.
func (s *handlerSink) leave() {
	s.mu.Lock()
	s.gone = true
	s.mu.Unlock()
}

// waitFor blocks the handler until the hold ends or ctx is done, and
// reports whether ctx ended it.
func (s *handlerSink) waitFor(ctx context.Context) bool {
	select {
	case <-s.done:
		return false
	case <-ctx.Done():
		return true
	}
}
