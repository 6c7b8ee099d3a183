package reverse

import (
	"errors"
	"net"
	"net/http"
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
	// end finishes the reply and lets the connection go.
	end()
}

// writeTimeout bounds every write to a page, so a page that stopped
// reading cannot hold a writer.
const writeTimeout = 10 * time.Second

// connSink is a connection taken over from net/http (hijacked) and parked
// with no goroutine: the costs of a held page are the socket and a few
// small structs. Its replies close the connection when done.
type connSink struct {
	conn net.Conn
	// pre holds the headers set on the ResponseWriter before it was
	// taken over (by middleware, CORS, a new cookie): the reply carries
	// them under its own. Nil when there were none.
	pre http.Header
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
	// pipelined: the connection was taken over but another request is
	// pipelined behind this one, so it cannot be parked without a reader.
	// The caller answers this request through the sink, which closes the
	// connection. The ResponseWriter must not be touched again.
	pipelined
)

// park takes the connection of w over from net/http, if it can be (HTTP/1.x),
// so the handler can return while the page is held. Whatever it reports
// but notParked, w belongs to net/http no more.
func park(w http.ResponseWriter) (*connSink, parking) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, notParked
	}
	var pre http.Header
	if h := w.Header(); len(h) > 0 {
		pre = h.Clone()
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, notParked
	}
	if rw.Reader.Buffered() > 0 {
		return &connSink{conn: conn, pre: pre}, pipelined
	}
	return &connSink{conn: conn, pre: pre}, parked
}

// errPipelined is the message of the error that answers a held request
// with another request pipelined behind it on its connection.
const errPipelined = "a held request cannot have another request pipelined behind it; send it again on a connection of its own"

func (c *connSink) begin(status int, h http.Header, contentLength int) error {
	var b strings.Builder
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(status))
	b.WriteByte(' ')
	b.WriteString(http.StatusText(status))
	b.WriteString("\r\n")
	if c.pre != nil {
		merged := c.pre.Clone()
		for k, v := range h {
			merged[k] = v
		}
		h = merged
	}
	_ = h.WriteSubset(&b, map[string]bool{"Connection": true, "Content-Length": true, "Transfer-Encoding": true})
	if contentLength >= 0 {
		b.WriteString("Content-Length: ")
		b.WriteString(strconv.Itoa(contentLength))
		b.WriteString("\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	return c.write([]byte(b.String()))
}

func (c *connSink) write(p []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.conn.Write(p)
	return err
}

func (c *connSink) end() { _ = c.conn.Close() }

// handlerSink writes through the ResponseWriter of a handler that waits
// for done: the fallback where a connection cannot be parked (HTTP/2).
// Once the handler has left, writes fail instead of touching the
// finished ResponseWriter.
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

func (s *handlerSink) end() { s.once.Do(func() { close(s.done) }) }

// leave marks the handler as returned: no write reaches w after it.
func (s *handlerSink) leave() {
	s.mu.Lock()
	s.gone = true
	s.mu.Unlock()
}
