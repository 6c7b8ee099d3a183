package rpc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"unique"

	"github.com/parley-go/parley/reverse"
)

// serveWebSocket serves the WebSocket transport: GET ws?session=ID&ack=N
// with a WebSocket upgrade. A bad origin, a request that is not an
// upgrade, a missing session, a foreign session and an ack beyond what was
// sent are refused before the upgrade with the protocol's HTTP error
// reply; a session that is gone is upgraded, sent a reset frame and
// closed (see reverse.ServeResetSocket).
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if err := s.checkOrigin(r); err != nil {
		s.refuse(w, err)
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		s.refuse(w, NewError(CodeInvalidArgument, "ws takes a WebSocket upgrade"))
		return
	}
	if r.URL.Query().Has("sessions") {
		s.serveMuxWebSocket(w, r)
		return
	}
	x, script, reset, ok := s.heldSession(w, r, r.URL.Query().Get("ack"), "ack", func(e *Error) { s.refuse(w, e) })
	switch {
	case !ok:
	case reset != nil:
		reverse.ServeResetSocket(w, r, reset.Reason)
	default:
		// The browser id is kept as the session's own string when it is
		// the same, else as a copy: not as a slice of the Cookie header.
		httpID := script.HTTPSession()
		if httpID != x.httpID {
			httpID = strings.Clone(x.httpID)
		}
		c := &socketCaller{srv: s, httpID: httpID}
		c.r = c.keep(newSocketRequest(r))
		s.hub.ServeWebSocket(w, r, script, x.req.Ack, reverse.SocketOptions{Calls: c, MaxFrame: s.maxBody})
	}
}

// socketCaller runs the call frames of one socket. It keeps what a call
// may ask of the upgrade request, not the request itself.
type socketCaller struct {
	srv *Server

	mu     sync.Mutex
	r      socketRequest // the upgrade request, with the cookies calls set since
	httpID string        // the browser id, renamed by SetUser
}

// socketRequest is what calls over a socket may read of the upgrade
// request: its URL (without the transport's own parameters), headers
// (cookies and credentials among them, but not the handshake's),
// addresses and TLS state. While the socket idles it is kept as written
// on the wire, rather than as a header map, in two parts: the browser's
// own (its address and cookies), and the rest, which every socket of the
// same site, browser make and language shares, and read back for each
// batch of calls.
type socketRequest struct {
	// shared is the request as written on the wire, without its Cookie
	// lines: one copy for every socket with the same.
	shared unique.Handle[string]
	// own is the values of the Cookie lines, each followed by a line
	// feed, then a NUL byte and RemoteAddr. A carriage return, which a
	// kept Cookie line has not, stands for the value of the browser id
	// cookie when it is the server's signature of the socket's browser
	// id (see socketCaller.keep).
	own string
	tls *tls.ConnectionState
}

// handshakeHeaders are the upgrade request's headers calls do not see.
var handshakeHeaders = []string{"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol"}

// transportParams are the upgrade URL's parameters calls do not see.
var transportParams = []string{"session", "sessions", "ack"}

// newSocketRequest keeps what calls may read of r.
func newSocketRequest(r *http.Request) socketRequest {
	h := r.Header.Clone()
	for _, k := range handshakeHeaders {
		delete(h, k)
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // else Write adds Go's own
	}
	var own strings.Builder
	for _, c := range h["Cookie"] {
		own.WriteString(lineBreaks.Replace(c))
		own.WriteByte('\n')
	}
	own.WriteByte(0)
	delete(h, "Cookie")
	u := *r.URL
	if q := u.Query(); len(q) > 0 {
		for _, k := range transportParams {
			delete(q, k)
		}
		u.RawQuery = q.Encode()
	}
	var b bytes.Buffer
	_ = (&http.Request{Method: r.Method, URL: &u, Header: h, Host: r.Host, Body: http.NoBody}).Write(&b)
	return socketRequest{shared: unique.Make(b.String()), own: own.String() + r.RemoteAddr, tls: r.TLS}
}

// lineBreaks turns what would end a kept Cookie line early into spaces,
// as http.Header.Write does.
var lineBreaks = strings.NewReplacer("\r", " ", "\n", " ", "\x00", " ")

// request reads the request back, with ctx.
func (q socketRequest) request(ctx context.Context) *http.Request {
	cookies, remote, _ := strings.Cut(q.own, "\x00")
	var wire strings.Builder
	wire.WriteString(strings.TrimSuffix(q.shared.Value(), "\r\n")) // the blank line that ends the headers
	for c := range strings.Lines(cookies) {
		wire.WriteString("Cookie: ")
		wire.WriteString(strings.TrimSuffix(c, "\n"))
		wire.WriteString("\r\n")
	}
	wire.WriteString("\r\n")
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(wire.String())))
	if err != nil { // it was written by Request.Write
		r = &http.Request{Method: http.MethodGet, URL: &url.URL{}, Header: http.Header{}}
	}
	r.RemoteAddr, r.TLS = remote, q.tls
	return r.WithContext(ctx)
}

// Calls runs the calls of one call frame of script's page.
func (c *socketCaller) Calls(ctx context.Context, script *reverse.Session, frame []byte) []byte {
	return c.batchOf(ctx, script, frame)
}

// batchOf runs the calls of one call frame of script's page (on a
// multiplexed socket, the session the frame names) as POST call runs a
// batch, in ctx, which ends when the socket closes, and returns the body
// of the reply without reverse messages: those go in delivery frames. A
// frame that is not a valid batch gets the error POST call would answer.
func (c *socketCaller) batchOf(ctx context.Context, script *reverse.Session, frame []byte) []byte {
	s := c.srv
	c.mu.Lock()
	x := &exchange{srv: s, r: c.request(ctx), httpID: c.httpID}
	c.mu.Unlock()
	var e *Error
	if e = s.decodeRequest(frame, &x.req, &x.spare); e == nil && x.req.Calls == nil {
		e = NewError(CodeInvalidArgument, "calls must be an array of {id, service, method, args}")
	}
	if e != nil {
		if obs := s.observers.list.Load(); obs != nil {
			for _, o := range *obs {
				o.ObserveRefusal(e.Code)
			}
		}
		return append(s.appendError([]byte(`{"error":`), e), '}')
	}
	b := s.runBatch([]byte{'{'}, x.r, x, script)
	var sink cookieSink
	s.saveSession(&sink, x)
	if set := sink.h["Set-Cookie"]; len(set) > 0 {
		// A frame cannot set a cookie: the page fetches it with POST ack,
		// which it sends before it settles the calls of this reply.
		if err := stashCookies(script, set); err != nil {
			s.log.Error("parley: cookies set over a WebSocket not kept", "err", err)
		}
		b = append(b, `,"cookie":true`...)
		c.setCookies(set, x.newID)
	}
	return append(b, '}')
}

// setCookies makes the socket's later calls see the cookies set (the
// Set-Cookie values a batch gave) and the browser id newID, if not empty,
// as the browser's next requests will.
func (c *socketCaller) setCookies(set []string, newID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.request(context.Background())
	jar := map[string]*http.Cookie{}
	var order []string
	for _, ck := range r.Cookies() {
		if jar[ck.Name] == nil {
			order = append(order, ck.Name)
		}
		jar[ck.Name] = ck
	}
	for _, line := range set {
		ck, err := http.ParseSetCookie(line)
		if err != nil {
			continue
		}
		if jar[ck.Name] == nil {
			order = append(order, ck.Name)
		}
		if ck.MaxAge < 0 {
			jar[ck.Name] = nil
			continue
		}
		jar[ck.Name] = &http.Cookie{Name: ck.Name, Value: ck.Value}
	}
	r.Header.Del("Cookie")
	for _, name := range order {
		if ck := jar[name]; ck != nil {
			r.AddCookie(ck)
		}
	}
	if newID != "" {
		c.httpID = newID
	}
	c.r = c.keep(newSocketRequest(r))
}

// keep returns q with a carriage return for the value of its browser id
// cookie when that is the one the server signs for the socket's browser
// id, which the socket keeps anyway: request puts it back. Called with
// c.mu held, or before the socket serves calls.
func (c *socketCaller) keep(q socketRequest) socketRequest {
	if len(c.httpID) != browserIDLen {
		return q
	}
	signed := c.srv.ids.sign(c.httpID)
	for _, name := range []string{c.srv.ids.name, hostPrefix + c.srv.ids.name} {
		if at, end, n := keptCookie(q.own, name); n == 1 && q.own[at:end] == signed {
			q.own = q.own[:at] + "\r" + q.own[end:]
			return q
		}
	}
	return q
}

// request reads the socket's request back, with ctx. Called with c.mu
// held, or before the socket serves calls.
func (c *socketCaller) request(ctx context.Context) *http.Request {
	q := c.r
	cookies, _, _ := strings.Cut(q.own, "\x00")
	if at := strings.IndexByte(cookies, '\r'); at >= 0 {
		q.own = q.own[:at] + c.srv.ids.sign(c.httpID) + q.own[at+1:]
	}
	return q.request(ctx)
}

// keptCookie returns where the value of the last cookie named name
// starts and ends in the kept Cookie values own (see socketRequest), and
// how many cookies of that name there are.
func keptCookie(own string, name string) (at, end, n int) {
	cookies, _, _ := strings.Cut(own, "\x00")
	start := 0
	for i := 0; i <= len(cookies); i++ {
		if i < len(cookies) && cookies[i] != ';' && cookies[i] != '\n' {
			continue
		}
		part := strings.TrimLeft(cookies[start:i], " \t")
		if k, v, ok := strings.Cut(part, "="); ok && strings.TrimSpace(k) == name {
			n++
			at = i - len(part) + len(k) + 1
			end = at + len(strings.TrimRight(v, " \t"))
		}
		start = i + 1
	}
	return at, end, n
}

// stashCookies keeps the Set-Cookie headers set, which calls over
// script's WebSocket set, for the page's next POST ack with "cookie":
// true, which any server of a cluster may receive (reverse.Session.Stash).
func stashCookies(script *reverse.Session, set []string) error {
	pending, err := stashed(script)
	if err != nil {
		return err
	}
	b, err := json.Marshal(append(pending, set...))
	if err != nil {
		return err
	}
	return script.Stash(b)
}

// stashed takes the Set-Cookie headers kept for script's page.
func stashed(script *reverse.Session) ([]string, error) {
	b, err := script.TakeStash()
	if err != nil || b == nil {
		return nil, err
	}
	var set []string
	return set, json.Unmarshal(b, &set)
}

// takeCookies adds to w the cookies calls over script's WebSocket set
// and no reply has carried yet.
func (s *Server) takeCookies(w http.ResponseWriter, script *reverse.Session) {
	set, err := stashed(script)
	if err != nil {
		s.log.Error("parley: cookies set over a WebSocket lost", "err", err)
	}
	for _, c := range set {
		w.Header().Add("Set-Cookie", c)
	}
}

// cookieSink is the ResponseWriter a socket's batch saves the HTTP
// session through: a store that keeps sessions on the server saves them,
// and the cookies, which a socket cannot set, are kept for POST ack.
type cookieSink struct{ h http.Header }

func (c *cookieSink) Header() http.Header {
	if c.h == nil {
		c.h = http.Header{}
	}
	return c.h
}

func (*cookieSink) Write(p []byte) (int, error) { return len(p), nil }
func (*cookieSink) WriteHeader(int)             {}
