package rpc

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// socket is a page's end of a WebSocket.
type socket struct {
	t    *testing.T
	conn net.Conn
	r    io.Reader
}

// dialSocket opens GET ws for session with ack, carrying the client's
// cookies and header; it returns the socket, or the HTTP status of a
// refused upgrade.
func (c *client) dialSocket(session string, ack uint64, header http.Header) (*socket, int) {
	c.t.Helper()
	return c.dialQuery("session="+session+"&ack="+strconv.FormatUint(ack, 10), header)
}

// dialQuery opens GET ws?query with the client's cookies and header; it
// returns the socket, or the HTTP status of a refused upgrade.
func (c *client) dialQuery(query string, header http.Header) (*socket, int) {
	c.t.Helper()
	u, err := url.Parse(c.url)
	require.NoError(c.t, err)
	h := http.Header{}
	for _, ck := range c.http.Jar.Cookies(u) {
		h.Add("Cookie", ck.String())
	}
	for k, v := range header {
		h[k] = v
	}
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(h), Timeout: 10 * time.Second}
	conn, br, _, err := d.Dial(context.Background(), "ws"+strings.TrimPrefix(c.url, "http")+"/parley/ws?"+query)
	if se, ok := err.(ws.StatusError); ok {
		return nil, int(se)
	}
	require.NoError(c.t, err)
	c.t.Cleanup(func() { conn.Close() })
	require.NoError(c.t, conn.SetDeadline(time.Now().Add(60*time.Second)), "detects a hang")
	sk := &socket{t: c.t, conn: conn, r: conn}
	if br != nil {
		sk.r = io.MultiReader(br, conn)
	}
	return sk, http.StatusSwitchingProtocols
}

// next reads the next text frame as JSON, answering pings.
func (s *socket) next() map[string]any {
	s.t.Helper()
	for {
		f, err := ws.ReadFrame(s.r)
		require.NoError(s.t, err)
		switch f.Header.OpCode {
		case ws.OpText:
			var v map[string]any
			require.NoError(s.t, json.Unmarshal(f.Payload, &v), "%s", f.Payload)
			return v
		case ws.OpClose:
			s.t.Fatalf("socket closed: %q", f.Payload)
		}
	}
}

// send writes v as a masked text frame.
func (s *socket) send(v any) {
	s.t.Helper()
	b, err := json.Marshal(v)
	require.NoError(s.t, err)
	require.NoError(s.t, ws.WriteFrame(s.conn, ws.MaskFrameInPlace(ws.NewTextFrame(b))))
}

// closeCode reads up to the close frame and returns its code.
func (s *socket) closeCode() ws.StatusCode {
	s.t.Helper()
	for {
		f, err := ws.ReadFrame(s.r)
		require.NoError(s.t, err)
		if f.Header.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(f.Payload)
			return code
		}
	}
}

func TestWebSocketRefusedBeforeUpgrade(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(t)
	id := c.openSession("/p")
	other := f.client(t)
	otherID := other.openSession("/p")
	for _, tt := range []struct {
		name    string
		session string
		ack     uint64
		header  http.Header
		status  int
	}{
		{"origin", id, 0, http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"foreign session", otherID, 0, nil, http.StatusForbidden},
		{"ack beyond sent", id, 5, nil, http.StatusBadRequest},
		{"no session", "", 0, nil, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, status := c.dialSocket(tt.session, tt.ack, tt.header)
			assert.Equal(t, tt.status, status)
		})
	}
	t.Run("not an upgrade", func(t *testing.T) {
		res, err := c.http.Get(c.url + "/parley/ws?session=" + id)
		require.NoError(t, err)
		defer res.Body.Close()
		assert.Equal(t, http.StatusBadRequest, res.StatusCode)
		var body struct{ Error Error }
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		assert.Equal(t, CodeInvalidArgument, body.Error.Code)
	})
	t.Run("same origin passes", func(t *testing.T) {
		sk, status := c.dialSocket(id, 0, http.Header{"Origin": {c.url}})
		require.Equal(t, http.StatusSwitchingProtocols, status)
		assert.Equal(t, true, sk.next()["open"])
	})
}

func TestWebSocketGoneSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(t)
	c.openSession("/p") // sets the browser's id cookie
	sk, status := c.dialSocket("no-such-session", 0, nil)
	require.Equal(t, http.StatusSwitchingProtocols, status, "a gone session is told so over the socket")
	frame := sk.next()
	assert.Equal(t, map[string]any{"reason": "expired"}, frame["reset"])
	assert.Nil(t, frame["open"])
	assert.Equal(t, ws.StatusNormalClosure, sk.closeCode())
}

func TestWebSocketCallsRunLikePostCall(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(t)
	id := c.openSession("/p")
	sk, status := c.dialSocket(id, 0, nil)
	require.Equal(t, http.StatusSwitchingProtocols, status)
	require.Equal(t, true, sk.next()["open"])

	sk.send(map[string]any{"re": 1, "calls": []any{call(1, "add", 2, 3), call(2, "fail"), call(3, "boom"), call(4, "whoami"), call(5, "nope")}})
	reply := sk.next()
	assert.EqualValues(t, 1, reply["re"])
	rs := results(reply)
	require.Len(t, rs, 5)
	assert.EqualValues(t, 5, rs[0]["result"])
	assert.Equal(t, map[string]any{"code": "failed_precondition", "message": "not now", "details": map[string]any{"retryIn": 5.0}}, rs[1]["error"])
	assert.Equal(t, "internal", rs[2]["error"].(map[string]any)["code"], "a panic is an internal error")
	assert.Equal(t, map[string]any{"method": "Calc.whoami", "script": id}, rs[3]["result"], "calls know the page's script session")
	assert.Equal(t, "unimplemented", rs[4]["error"].(map[string]any)["code"])
	assert.Contains(t, f.log.String(), "kaboom")

	sk.send(map[string]any{"re": 2, "calls": 5})
	bad := sk.next()
	assert.EqualValues(t, 2, bad["re"])
	assert.Equal(t, "invalid_argument", bad["error"].(map[string]any)["code"], "a malformed batch gets the error POST call gives")

	sk.send(map[string]any{"re": 3, "calls": []any{call(1, "push", "hello")}, "ordered": true})
	got := map[string]bool{}
	for range 2 { // the reply and the delivery, in either order
		frame := sk.next()
		switch {
		case frame["re"] != nil:
			assert.EqualValues(t, 3, frame["re"])
			assert.Nil(t, frame["messages"], "messages come in delivery frames only")
			got["reply"] = true
		case frame["messages"] != nil:
			got["delivery"] = true
		}
	}
	assert.Equal(t, map[string]bool{"reply": true, "delivery": true}, got)

	out := c.call(id, 1, call(1, "add", 1, 1))
	assert.EqualValues(t, 2, results(out)[0]["result"], "the server stays up, and HTTP calls still work")
}

func TestWebSocketCallContext(t *testing.T) {
	t.Parallel()
	started := make(chan *Call, 1)
	ended := make(chan error, 1)
	f := newFixture(t)
	f.srv.Register(ServiceDesc{Name: "Sock", Methods: []MethodDesc{{Name: "wait", Handler: func(ctx context.Context, _ Args) (any, error) {
		started <- CallFrom(ctx)
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, nil
	}}}})
	c := f.client(t)
	id := c.openSession("/p")
	sk, status := c.dialSocket(id, 0, nil)
	require.Equal(t, http.StatusSwitchingProtocols, status)
	sk.next()
	sk.send(map[string]any{"re": 1, "calls": []any{map[string]any{"id": 1, "service": "Sock", "method": "wait", "args": []any{}}}})
	call := <-started
	assert.Equal(t, id, call.ScriptSession.ID())
	assert.NotEmpty(t, call.HTTPSessionID)
	require.NotNil(t, call.Request)
	assert.NotEmpty(t, call.Request.Header.Get("Cookie"), "the request keeps what identifies the caller")
	assert.Empty(t, call.Request.Header.Get("Sec-WebSocket-Key"))
	require.NoError(t, sk.conn.Close())
	select {
	case err := <-ended:
		assert.ErrorIs(t, err, context.Canceled, "closing the socket cancels its calls")
	case <-time.After(10 * time.Second):
		t.Fatal("the call's context was not canceled") // detects a hang
	}
}

func TestWebSocketCallSettingCookieHandsItToPostAck(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.srv.Register(loginService())
	f.srv.Register(ServiceDesc{Name: "Note", Methods: []MethodDesc{
		{Name: "set", Params: []string{"v"}, Handler: func(ctx context.Context, args Args) (any, error) {
			var v string
			if err := args.Decode(0, &v); err != nil {
				return nil, err
			}
			CallFrom(ctx).SetSessionValue("note", v)
			return nil, nil
		}},
		{Name: "get", Handler: func(ctx context.Context, args Args) (any, error) {
			return CallFrom(ctx).SessionValue("note"), nil
		}},
	}})
	u, err := url.Parse(f.ts.URL)
	require.NoError(t, err)
	c := f.client(t)
	page := c.openSession("/app")
	before := c.http.Jar.Cookies(u)
	require.Len(t, before, 1)
	sk, status := c.dialSocket(page, 0, nil)
	require.Equal(t, http.StatusSwitchingProtocols, status)
	assert.Equal(t, true, sk.next()["open"])

	sk.send(map[string]any{"re": 1, "calls": []any{map[string]any{"id": 1, "service": "Login", "method": "as", "args": []any{"alice"}}}})
	reply := sk.next()
	assert.Equal(t, true, reply["cookie"], "the reply says a cookie waits: %v", reply)
	assert.Equal(t, before, c.http.Jar.Cookies(u), "a frame cannot set it")

	status, out := c.post("ack", map[string]any{"session": page, "ack": 0})
	require.Equal(t, http.StatusOK, status, "%v", out)
	assert.Equal(t, before, c.http.Jar.Cookies(u), "an ack that does not ask for the cookie leaves it kept")
	status, out = c.post("ack", map[string]any{"session": page, "ack": 0, "cookie": true})
	require.Equal(t, http.StatusOK, status, "%v", out)
	after := c.http.Jar.Cookies(u)
	require.Len(t, after, 1)
	assert.NotEqual(t, before[0].Value, after[0].Value, "POST ack carries the new browser id")
	status, _ = c.post("ack", map[string]any{"session": page, "ack": 0, "cookie": true})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, after, c.http.Jar.Cookies(u), "the cookie is handed over once")

	// The socket's later calls see what earlier ones set in the cookie.
	sk.send(map[string]any{"re": 2, "calls": []any{map[string]any{"id": 2, "service": "Note", "method": "set", "args": []any{"hi"}}}})
	assert.Equal(t, true, sk.next()["cookie"])
	sk.send(map[string]any{"re": 3, "calls": []any{map[string]any{"id": 3, "service": "Note", "method": "get", "args": []any{}}}})
	got := sk.next()
	assert.Equal(t, "hi", got["results"].([]any)[0].(map[string]any)["result"], "%v", got)

	require.NoError(t, f.hub.User("alice").Call("secret"))
	assert.Equal(t, []string{"secret"}, messagesOf(t, c, page), "the page is alice's with its new cookie")
}

// TestPostCallSettingCookieSaysSo: the reply to a POST call that sets a
// cookie says so, for a page whose socket opened with the cookies of
// before; one that sets none does not.
func TestPostCallSettingCookieSaysSo(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.srv.Register(ServiceDesc{Name: "Note", Methods: []MethodDesc{
		{Name: "set", Handler: func(ctx context.Context, args Args) (any, error) {
			CallFrom(ctx).SetSessionValue("note", "hi")
			return nil, nil
		}},
		{Name: "get", Handler: func(ctx context.Context, args Args) (any, error) {
			return CallFrom(ctx).SessionValue("note"), nil
		}},
	}})
	c := f.client(t)
	page := c.openSession("/app")
	for _, tc := range []struct {
		method string
		cookie any
	}{{"set", true}, {"get", nil}} {
		status, out := c.post("call", map[string]any{"session": page, "calls": []any{map[string]any{"id": 1, "service": "Note", "method": tc.method, "args": []any{}}}})
		require.Equal(t, http.StatusOK, status, "%v", out)
		assert.Equal(t, tc.cookie, out["cookie"], "%s: %v", tc.method, out)
	}
}

// TestWebSocketCallsSeeTheUpgradeRequest: a call over a socket sees its
// upgrade request as a call over HTTP sees its own: the values a
// middleware put in its context, its headers and cookies (not the
// handshake's), its addresses and its URL, without the transport's own
// parameters.
func TestWebSocketCallsSeeTheUpgradeRequest(t *testing.T) {
	t.Parallel()
	type userKey struct{}
	type seen struct {
		user, local any
		r           *http.Request
	}
	got := make(chan seen, 1)
	f := newFixture(t)
	f.srv.Register(ServiceDesc{Name: "Sock", Methods: []MethodDesc{{Name: "see", Handler: func(ctx context.Context, _ Args) (any, error) {
		got <- seen{ctx.Value(userKey{}), ctx.Value(http.LocalAddrContextKey), CallFrom(ctx).Request}
		return nil, nil
	}}}})
	mw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.srv.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, "ann")))
	}))
	t.Cleanup(mw.Close)
	for _, tt := range []struct {
		name string
		url  string
		user any
	}{
		{"served by net/http", f.ts.URL, nil},
		{"behind a middleware", mw.URL, "ann"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := f.client(t)
			c.url = tt.url
			id := c.openSession("/p")
			sk, status := c.dialQuery("session="+id+"&ack=0&room=7", http.Header{"X-Team": {"blue"}})
			require.Equal(t, http.StatusSwitchingProtocols, status)
			sk.next()
			sk.send(map[string]any{"re": 1, "calls": []any{map[string]any{"id": 1, "service": "Sock", "method": "see", "args": []any{}}}})
			v := <-got
			sk.next()
			assert.Equal(t, tt.user, v.user, "the middleware's value")
			assert.NotNil(t, v.local, "net/http's values")
			require.NotNil(t, v.r)
			assert.Equal(t, "/parley/ws", v.r.URL.Path)
			assert.Equal(t, "room=7", v.r.URL.RawQuery, "without session and ack")
			assert.Equal(t, "blue", v.r.Header.Get("X-Team"))
			assert.Empty(t, v.r.Header.Get("Sec-WebSocket-Key"))
			u, err := url.Parse(tt.url)
			require.NoError(t, err)
			ck := c.http.Jar.Cookies(u)
			require.Len(t, ck, 1)
			got, err := v.r.Cookie(ck[0].Name)
			require.NoError(t, err)
			assert.Equal(t, ck[0].Value, got.Value)
			assert.Equal(t, sk.conn.LocalAddr().String(), v.r.RemoteAddr)
			assert.Equal(t, u.Host, v.r.Host)
		})
	}
}

// TestSocketRequestKeepsTheRequest: what a socket keeps of its upgrade
// request reads back as that request, whatever a middleware put in its
// Cookie lines or RemoteAddr: no line of it becomes a header of its own.
func TestSocketRequestKeepsTheRequest(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		cookies []string
		remote  string
		want    []string // the Cookie lines read back
	}{
		{"one cookie line", []string{"a=1; b=2"}, "192.0.2.1:1234", []string{"a=1; b=2"}},
		{"two cookie lines", []string{"a=1", "b=2"}, "192.0.2.1:1234", []string{"a=1", "b=2"}},
		{"no cookie", nil, "192.0.2.1:1234", nil},
		{"line breaks in a cookie", []string{"a=1\r\nX-Admin: yes", "b=2\x00c"}, "192.0.2.1:1234", []string{"a=1  X-Admin: yes", "b=2 c"}},
		{"line breaks in the address", []string{"a=1"}, "192.0.2.1:1\r\nX-Admin: yes\x00\n", []string{"a=1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "http://example.com/parley/ws?session=S&ack=3&room=7", nil)
			r.Header = http.Header{"Upgrade": {"websocket"}, "Sec-Websocket-Key": {"k"}, "X-Team": {"blue"}}
			if tt.cookies != nil {
				r.Header["Cookie"] = tt.cookies
			}
			r.RemoteAddr = tt.remote
			got := newSocketRequest(r).request(context.Background())
			assert.Equal(t, tt.want, got.Header["Cookie"])
			assert.Empty(t, got.Header.Get("X-Admin"), "no header injected")
			assert.Equal(t, tt.remote, got.RemoteAddr)
			assert.Equal(t, "blue", got.Header.Get("X-Team"))
			assert.Empty(t, got.Header.Get("Upgrade"))
			assert.Equal(t, "room=7", got.URL.RawQuery)
			assert.Equal(t, "example.com", got.Host)
		})
	}
}

// TestSocketKeepsNoCopyOfTheIDCookie: a socket keeps its browser id
// cookie without the value it can sign again from the browser id, and
// its calls read the Cookie lines back as they came; any other cookie,
// and an id cookie it cannot tell apart, are kept whole.
func TestSocketKeepsNoCopyOfTheIDCookie(t *testing.T) {
	t.Parallel()
	s := newFixture(t).srv
	id := strings.Repeat("A", browserIDLen)
	signed := s.ids.sign(id)
	other := s.ids.sign(strings.Repeat("B", browserIDLen))
	for _, tt := range []struct {
		name    string
		cookies []string
		elided  bool
	}{
		{"the id cookie alone", []string{"parley_id=" + signed}, true},
		{"among others", []string{"a=1; parley_id=" + signed + "; b=2"}, true},
		{"on a line of its own", []string{"a=1", "parley_id=" + signed}, true},
		{"with the __Host- prefix", []string{"__Host-parley_id=" + signed + "; a=1"}, true},
		{"another browser's", []string{"parley_id=" + other}, false},
		{"twice", []string{"parley_id=" + signed + "; parley_id=" + signed}, false},
		{"a longer value", []string{"parley_id=" + signed + "x"}, false},
		{"a name that ends like it", []string{"xparley_id=" + signed}, false},
		{"none", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/parley/ws", nil)
			r.Header = http.Header{}
			if tt.cookies != nil {
				r.Header["Cookie"] = tt.cookies
			}
			c := &socketCaller{srv: s, httpID: id}
			c.r = c.keep(newSocketRequest(r))
			assert.Equal(t, tt.elided, strings.Contains(c.r.own, "\r"))
			if tt.elided {
				assert.NotContains(t, c.r.own, signed, "the value is not kept")
			}
			assert.Equal(t, tt.cookies, c.request(context.Background()).Header["Cookie"])
		})
	}
}

// TestSocketCallerFitsItsSizeClass: every idle socket keeps a
// socketCaller, and nothing else of rpc's: it fits the allocator's 64-byte
// size class.
func TestSocketCallerFitsItsSizeClass(t *testing.T) {
	t.Parallel()
	assert.LessOrEqual(t, unsafe.Sizeof(socketCaller{}), uintptr(64))
}
