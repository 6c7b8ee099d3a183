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
		c := &socketCaller{srv: s, r: newSocketRequest(r), httpID: httpID, script: script}
		s.hub.ServeWebSocket(w, r, script, x.req.Ack, reverse.SocketOptions{Calls: c.batch, MaxFrame: s.maxBody})
	}
}

// socketCaller runs the call frames of one socket. It keeps what a call
// may ask of the upgrade request, not the request itself.
type socketCaller struct {
	srv    *Server
	script *reverse.Session

	mu     sync.Mutex
	r      socketRequest // the upgrade request, with the cookies calls set since
	httpID string        // the browser id, renamed by SetUser
}

// socketRequest is what calls over a socket may read of the upgrade
// request: its URL, headers (cookies and credentials among them, but not
// the handshake's), addresses and TLS state. While the socket idles it is
// kept as written on the wire, one small allocation rather than a header
// map, and read back for each batch of calls.
type socketRequest struct {
	wire   string
	remote string
	tls    *tls.ConnectionState
}

// handshakeHeaders are the upgrade request's headers calls do not see.
var handshakeHeaders = []string{"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol"}

// newSocketRequest keeps what calls may read of r.
func newSocketRequest(r *http.Request) socketRequest {
	h := r.Header.Clone()
	for _, k := range handshakeHeaders {
		delete(h, k)
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // else Write adds Go's own
	}
	var b bytes.Buffer
	_ = (&http.Request{Method: r.Method, URL: r.URL, Header: h, Host: r.Host, Body: http.NoBody}).Write(&b)
	return socketRequest{wire: b.String(), remote: r.RemoteAddr, tls: r.TLS}
}

// request reads the request back, with ctx.
func (q socketRequest) request(ctx context.Context) *http.Request {
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(q.wire)))
	if err != nil { // it was written by Request.Write
		r = &http.Request{Method: http.MethodGet, URL: &url.URL{}, Header: http.Header{}}
	}
	r.RemoteAddr, r.TLS = q.remote, q.tls
	return r.WithContext(ctx)
}

// batch runs the calls of one call frame as POST call runs a batch, in
// ctx, which ends when the socket closes, and returns the body of the
// reply without reverse messages: those go in delivery frames. A frame
// that is not a valid batch gets the error POST call would answer.
func (c *socketCaller) batch(ctx context.Context, frame []byte) []byte {
	return c.batchOf(ctx, c.script, frame)
}

// batchOf is batch for the calls of script's page: on a multiplexed
// socket, the session the call frame names.
func (c *socketCaller) batchOf(ctx context.Context, script *reverse.Session, frame []byte) []byte {
	s := c.srv
	c.mu.Lock()
	x := &exchange{srv: s, r: c.r.request(ctx), httpID: c.httpID}
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
	r := c.r.request(context.Background())
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
	c.r = newSocketRequest(r)
	if newID != "" {
		c.httpID = newID
	}
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
