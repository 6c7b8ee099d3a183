package reverse

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wsServer serves s's sockets at /ws?session=ID&ack=N, with calls for the
// call frames, the way rpc.Server does, and returns its ws:// URL.
func wsServer(t *testing.T, h *Hub, calls func(context.Context, []byte) []byte) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := h.Lookup(r.URL.Query().Get("session"), "h")
		if err != nil {
			ServeResetSocket(w, r, ReasonExpired)
			return
		}
		ack, _ := strconv.ParseUint(r.URL.Query().Get("ack"), 10, 64)
		o := SocketOptions{MaxFrame: 1024}
		if calls != nil {
			o.Calls = CallsFunc(func(ctx context.Context, _ *Session, frame []byte) []byte { return calls(ctx, frame) })
		}
		h.ServeWebSocket(w, r, s, ack, o)
	}))
	t.Cleanup(func() { closeBoth(h, ts) })
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"
}

// wsConn is a page's end of a socket.
type wsConn struct {
	t    *testing.T
	conn net.Conn
	r    io.Reader
}

// dialWS opens a socket for session id, having run every message up to ack.
func dialWS(t *testing.T, url, id string, ack uint64) *wsConn {
	t.Helper()
	conn, br, _, err := ws.Dial(context.Background(), url+"?session="+id+"&ack="+strconv.FormatUint(ack, 10))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)), "detects a hang")
	c := &wsConn{t: t, conn: conn, r: conn}
	if br != nil {
		c.r = io.MultiReader(br, conn)
	}
	return c
}

// frame reads the next frame, control frames included.
func (c *wsConn) frame() ws.Frame {
	c.t.Helper()
	f, err := ws.ReadFrame(c.r)
	require.NoError(c.t, err)
	return f
}

// next reads the next text frame into v, answering pings.
func (c *wsConn) next(v any) {
	c.t.Helper()
	for {
		f := c.frame()
		switch f.Header.OpCode {
		case ws.OpPing:
			c.send(ws.OpPong, f.Payload)
			continue
		case ws.OpText:
			require.NoError(c.t, json.Unmarshal(f.Payload, v), "%s", f.Payload)
			return
		}
		c.t.Fatalf("unexpected frame %v %q", f.Header.OpCode, f.Payload)
	}
}

// closed reads frames up to the close frame and returns its code.
func (c *wsConn) closed() ws.StatusCode {
	c.t.Helper()
	for {
		f := c.frame()
		if f.Header.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(f.Payload)
			return code
		}
	}
}

// send writes a masked frame, as a browser does.
func (c *wsConn) send(op ws.OpCode, p []byte) {
	c.t.Helper()
	require.NoError(c.t, ws.WriteFrame(c.conn, ws.MaskFrameInPlace(ws.NewFrame(op, true, append([]byte(nil), p...)))))
}

func (c *wsConn) text(s string) { c.send(ws.OpText, []byte(s)) }

// wsFrame is any frame the hub sends a page.
type wsFrame struct {
	Open     bool
	Advice   *Advice
	Messages []struct{ Seq uint64 }
	Reset    *Reset
	Shutdown *Shutdown
	Re       uint64
	Results  []any
	Error    *wireError
}

func TestWebSocketDelivers(t *testing.T) {
	t.Parallel()
	forEachHolding(t, func(t *testing.T, tc Transports) {
		h := newTestHub(t, WithTransports(tc))
		url := wsServer(t, h, nil)
		s := open(t, h, "/", "h")
		require.NoError(t, s.Call("before"))
		c := dialWS(t, url, s.ID(), 0)
		var f wsFrame
		c.next(&f)
		assert.True(t, f.Open, "the first frame opens")
		c.next(&f)
		require.Len(t, f.Messages, 1, "what waited is sent at once")
		assert.EqualValues(t, 1, h.Stats().Held[WebSocket], "once held, it is sent what waits")

		require.NoError(t, s.Call("after"))
		f = wsFrame{}
		c.next(&f)
		require.Len(t, f.Messages, 1)
		assert.EqualValues(t, 2, f.Messages[0].Seq)

		c.text(`{"ack":2}`)
		require.Eventually(t, func() bool { return h.Stats().OutboxMessages == 0 }, 5*time.Second, time.Millisecond,
			"an ack frame empties the outbox")

		s.Close()
		f = wsFrame{}
		c.next(&f)
		require.NotNil(t, f.Reset)
		assert.Equal(t, ReasonClosed, f.Reset.Reason)
		assert.Equal(t, ws.StatusNormalClosure, c.closed())
	})
}

func TestWebSocketExactlyOnceAcrossReconnects(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithLimits(Limits{OutboxMessages: 2000}))
	url := wsServer(t, h, nil)
	s := open(t, h, "/", "h")
	const total = 1000
	go func() {
		for i := 1; i <= total; i++ {
			if s.Call("f", i) != nil {
				return
			}
		}
	}()
	var ran []uint64
	var last uint64
	for conns := 0; last < total; conns++ {
		require.Less(t, conns, 100, "every socket delivers something")
		c := dialWS(t, url, s.ID(), last)
		var open wsFrame
		c.next(&open)
		require.True(t, open.Open)
		// Each socket runs some messages, acks some of them, and is cut.
		for n := 0; n < 150 && last < total; {
			var f wsFrame
			c.next(&f)
			for _, m := range f.Messages {
				if m.Seq <= last {
					continue // a repeat after a reconnect: already run
				}
				ran = append(ran, m.Seq)
				last = m.Seq
				n++
			}
			if n%7 == 0 {
				c.text(`{"ack":` + strconv.FormatUint(last, 10) + `}`)
			}
		}
		require.NoError(t, c.conn.Close())
	}
	require.Len(t, ran, total)
	for i, seq := range ran {
		require.EqualValues(t, i+1, seq, "exactly once, in order")
	}
}

func TestWebSocketCalls(t *testing.T) {
	t.Parallel()
	calls := func(ctx context.Context, frame []byte) []byte {
		switch {
		case strings.Contains(string(frame), "panic"):
			panic("kaboom")
		case strings.Contains(string(frame), "fail"):
			return []byte(`{"error":{"code":"invalid_argument","message":"no"}}`)
		}
		return []byte(`{"results":[{"id":1,"result":42}]}`)
	}
	forEachHolding(t, func(t *testing.T, tc Transports) {
		h := newTestHub(t, WithTransports(tc))
		url := wsServer(t, h, calls)
		s := open(t, h, "/", "h")
		c := dialWS(t, url, s.ID(), 0)
		var f wsFrame
		c.next(&f)
		for _, tt := range []struct {
			frame, code string
			re          uint64
		}{
			{`{"re":1,"calls":[{"id":1}],"ack":0}`, "", 1},
			{`{"re":2,"calls":["fail"]}`, "invalid_argument", 2},
			{`{"re":3,"calls":["panic"]}`, "internal", 3},
			{`{"re":4,"calls":[],"ordered":true}`, "", 4},
		} {
			c.text(tt.frame)
			var r wsFrame
			c.next(&r)
			assert.Equal(t, tt.re, r.Re, tt.frame)
			if tt.code == "" {
				assert.Nil(t, r.Error)
				assert.Equal(t, []any{map[string]any{"id": 1.0, "result": 42.0}}, r.Results)
			} else if assert.NotNil(t, r.Error, tt.frame) {
				assert.Equal(t, tt.code, r.Error.Code)
			}
		}
	})
}

func TestWebSocketHostileFrames(t *testing.T) {
	t.Parallel()
	refused := []struct{ name, frame, want string }{
		{"unknown field", `{"ack":1,"nope":2}`, "nope"},
		{"re not a number", `{"re":"7","calls":[]}`, "re"},
		{"re zero", `{"re":0,"calls":[]}`, "re"},
		{"re negative", `{"re":-3,"calls":[]}`, "re"},
		{"re fraction", `{"re":1.5,"calls":[]}`, "re"},
		{"calls without re", `{"calls":[]}`, "re"},
		{"ack not a number", `{"ack":"x"}`, "ack"},
		{"not an object", `[1,2]`, "frame refused"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHub(t)
			url := wsServer(t, h, func(context.Context, []byte) []byte { return []byte(`{"results":[]}`) })
			s := open(t, h, "/", "h")
			c := dialWS(t, url, s.ID(), 0)
			var f wsFrame
			c.next(&f)
			c.text(tt.frame)
			var r wsFrame
			c.next(&r)
			require.NotNil(t, r.Error, "a frame the hub can read but not use is answered")
			assert.Equal(t, "invalid_argument", r.Error.Code)
			assert.Contains(t, r.Error.Message, tt.want)
			assert.Zero(t, r.Re)
			c.text(`{"re":9,"calls":[]}`)
			c.next(&r)
			assert.EqualValues(t, 9, r.Re, "and the socket still serves")
		})
	}
	closing := []struct {
		name string
		op   ws.OpCode
		p    []byte
		code ws.StatusCode
	}{
		{"binary", ws.OpBinary, []byte(`{"ack":1}`), ws.StatusInvalidFramePayloadData},
		{"invalid JSON", ws.OpText, []byte(`{"ack":`), ws.StatusInvalidFramePayloadData},
		{"invalid UTF-8", ws.OpText, []byte("{\"ack\":\"\xff\"}"), ws.StatusInvalidFramePayloadData},
		{"over the limit", ws.OpText, []byte(`{"ack":"` + strings.Repeat("x", 2000) + `"}`), ws.StatusMessageTooBig},
		{"continuation first", ws.OpContinuation, []byte(`{}`), ws.StatusProtocolError},
	}
	for _, tt := range closing {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHub(t)
			url := wsServer(t, h, nil)
			s := open(t, h, "/", "h")
			c := dialWS(t, url, s.ID(), 0)
			var f wsFrame
			c.next(&f)
			c.send(tt.op, tt.p)
			assert.Equal(t, tt.code, c.closed())
			require.Eventually(t, func() bool { return !heldNow(s) }, 5*time.Second, time.Millisecond)
			_, ended := s.Ended()
			assert.False(t, ended, "the session outlives its socket")
		})
	}
}

func TestWebSocketFragmentedMessage(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	url := wsServer(t, h, func(context.Context, []byte) []byte { return []byte(`{"results":[]}`) })
	s := open(t, h, "/", "h")
	c := dialWS(t, url, s.ID(), 0)
	var f wsFrame
	c.next(&f)
	require.NoError(t, ws.WriteFrame(c.conn, ws.MaskFrameInPlace(ws.NewFrame(ws.OpText, false, []byte(`{"re":5,`)))))
	c.send(ws.OpPing, []byte("hi"))
	require.NoError(t, ws.WriteFrame(c.conn, ws.MaskFrameInPlace(ws.NewFrame(ws.OpContinuation, true, []byte(`"calls":[]}`)))))
	pong := c.frame()
	assert.Equal(t, ws.OpPong, pong.Header.OpCode)
	assert.Equal(t, "hi", string(pong.Payload))
	var r wsFrame
	c.next(&r)
	assert.EqualValues(t, 5, r.Re)
}

func TestWebSocketGoneAndReplaced(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	url := wsServer(t, h, nil)
	t.Run("gone", func(t *testing.T) {
		c := dialWS(t, url, "nobody", 0)
		var f wsFrame
		c.next(&f)
		require.NotNil(t, f.Reset)
		assert.False(t, f.Open)
		assert.Equal(t, ws.StatusNormalClosure, c.closed())
	})
	t.Run("replaced", func(t *testing.T) {
		s := open(t, h, "/", "h")
		old := dialWS(t, url, s.ID(), 0)
		var f wsFrame
		old.next(&f)
		require.Eventually(t, func() bool { return heldNow(s) }, 5*time.Second, time.Millisecond)
		c := dialWS(t, url, s.ID(), 0)
		c.next(&f)
		assert.Equal(t, ws.StatusNormalClosure, old.closed(), "a newer socket closes the older")
		assert.EqualValues(t, 1, h.Stats().Held[WebSocket])
	})
}

func TestWebSocketPageLeaves(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		leave func(c *wsConn)
	}{
		{"close frame", func(c *wsConn) {
			c.send(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
			assert.Equal(t, ws.StatusNormalClosure, c.closed())
		}},
		{"connection closed", func(c *wsConn) { require.NoError(t, c.conn.Close()) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHub(t, WithTransports(Transports{Heartbeat: time.Hour}))
			url := wsServer(t, h, nil)
			s := open(t, h, "/", "h")
			c := dialWS(t, url, s.ID(), 0)
			var f wsFrame
			c.next(&f)
			require.Eventually(t, func() bool { return h.Stats().Held[WebSocket] == 1 }, 5*time.Second, time.Millisecond)
			tt.leave(c)
			require.Eventually(t, func() bool { st := h.Stats(); return st.Held[WebSocket] == 0 && st.PeersGone == 1 }, 5*time.Second, time.Millisecond,
				"the held connection is released at once, not at a heartbeat, and counted as left")
		})
	}
}

func TestWebSocketPingsAndClosesSilentPage(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithTransports(Transports{Heartbeat: 20 * time.Millisecond}))
	url := wsServer(t, h, nil)
	s := open(t, h, "/", "h")
	c := dialWS(t, url, s.ID(), 0)
	var f wsFrame
	c.next(&f)
	pings := 0
	for {
		fr, err := ws.ReadFrame(c.r)
		if err != nil {
			break // the hub closed the silent socket
		}
		require.Equal(t, ws.OpPing, fr.Header.OpCode, "a silent page gets pings only")
		pings++
	}
	assert.GreaterOrEqual(t, pings, 1)
	require.Eventually(t, func() bool { return !heldNow(s) }, 5*time.Second, time.Millisecond)

	// A page that answers stays.
	c = dialWS(t, url, s.ID(), 0)
	c.next(&f)
	for range 5 {
		fr := c.frame()
		require.Equal(t, ws.OpPing, fr.Header.OpCode)
		c.send(ws.OpPong, fr.Payload)
	}
	assert.True(t, heldNow(s), "a page that answers pings is kept")
}

func TestWebSocketIdleSocketsCostNoGoroutine(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 200 sockets")
	}
	h := newTestHub(t, WithTransports(Transports{Heartbeat: time.Hour}), WithLimits(Limits{PagesPerHTTPSession: 1000}))
	if h.poller() == nil {
		t.Skip("no poller on this system")
	}
	url := wsServer(t, h, nil)
	const pages = 200
	first := open(t, h, "/", "h")
	c := dialWS(t, url, first.ID(), 0)
	var f wsFrame
	c.next(&f)
	runtime.GC()
	before := runtime.NumGoroutine()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range pages {
		s := open(t, h, "/", "h")
		c := dialWS(t, url, s.ID(), 0)
		c.next(&f)
	}
	require.Eventually(t, func() bool { return h.Stats().Held[WebSocket] == pages+1 }, 10*time.Second, time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	after := runtime.NumGoroutine()
	t.Logf("%d idle sockets: %d goroutines more; heap %d B per socket, both ends", pages, after-before,
		(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/pages)
	assert.Less(t, after-before, 20, "an idle socket costs no goroutine")
}

// TestWebSocketPongParksTheSocket: a page that answers the hub's ping
// sends a pong and nothing else; its socket parks again at once rather
// than wait, on a goroutine, for a message that is not coming (and close
// the socket when it does not come).
func TestWebSocketPongParksTheSocket(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 40 sockets")
	}
	h := newTestHub(t, WithTransports(Transports{Heartbeat: time.Second}), WithLimits(Limits{PagesPerHTTPSession: 100}))
	if h.poller() == nil {
		t.Skip("no poller on this system")
	}
	url := wsServer(t, h, nil)
	const pages = 40
	var conns []*wsConn
	for range pages {
		s := open(t, h, "/", "h")
		c := dialWS(t, url, s.ID(), 0)
		var f wsFrame
		c.next(&f)
		conns = append(conns, c)
	}
	require.Eventually(t, func() bool { return h.Stats().Held[WebSocket] == pages }, 10*time.Second, time.Millisecond)
	before := runtime.NumGoroutine()
	for _, c := range conns {
		fr := c.frame()
		require.Equal(t, ws.OpPing, fr.Header.OpCode)
		c.send(ws.OpPong, fr.Payload)
	}
	time.Sleep(200 * time.Millisecond) // the hub reads the pongs
	after := runtime.NumGoroutine()
	assert.Less(t, after-before, pages/2, "sockets that sent a pong wait on goroutines: %d more", after-before)
	assert.Equal(t, pages, h.Stats().Held[WebSocket])
}

// valuesContext is a middleware's context of a type that cannot be
// compared: with a value for userKey.
type valuesContext struct {
	context.Context
	user []string
}

// userKey is the key of a middleware's value.
type userKey struct{}

func (c valuesContext) Value(key any) any {
	if key == (userKey{}) {
		return c.user[0]
	}
	return c.Context.Value(key)
}

// TestWebSocketCallsSeeTheRequestValues: the calls of a socket see the
// values of its upgrade request's context, those a middleware added
// among them, whatever its context's type. Sockets whose requests carry
// only net/http's own share one context with those values, and keep
// none of their requests' own.
func TestWebSocketCallsSeeTheRequestValues(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		user   any  // what the middleware adds; nil: no middleware
		own    bool // the middleware's context is a valuesContext
		shared bool
	}{
		{"net/http's values only", nil, false, true},
		{"a middleware's value", "ann", false, false},
		{"a middleware's context of a type that cannot be compared", "bob", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHub(t)
			type seen struct{ user, srv, local any }
			got := make(chan seen, 2)
			calls := func(ctx context.Context, _ *Session, _ []byte) []byte {
				got <- seen{ctx.Value(userKey{}), ctx.Value(http.ServerContextKey), ctx.Value(http.LocalAddrContextKey)}
				return []byte(`{"results":[]}`)
			}
			var handler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s, err := h.Lookup(r.URL.Query().Get("session"), "h")
				require.NoError(t, err)
				h.ServeWebSocket(w, r, s, 0, SocketOptions{Calls: CallsFunc(calls)})
			})
			if tt.user != nil {
				next := handler
				handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if tt.own {
						next.ServeHTTP(w, r.WithContext(valuesContext{r.Context(), []string{tt.user.(string)}}))
						return
					}
					next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, tt.user)))
				})
			}
			ts := httptest.NewServer(handler)
			t.Cleanup(func() { closeBoth(h, ts) })
			url := "ws" + strings.TrimPrefix(ts.URL, "http")

			var bases []*socketCalls // what each socket starts its calls with
			for range 2 {
				s := open(t, h, "/", "h")
				c := dialWS(t, url, s.ID(), 0)
				var f wsFrame
				c.next(&f)
				require.Eventually(t, func() bool {
					s.mu.Lock()
					defer s.mu.Unlock()
					if s.held == nil {
						return false
					}
					bases = append(bases, s.held.socket().run.Load())
					return true
				}, 10*time.Second, time.Millisecond)
				c.text(`{"re":1,"calls":[]}`)
				c.next(&f)
				v := <-got
				assert.Equal(t, tt.user, v.user)
				assert.Same(t, ts.Config, v.srv)
				if assert.NotNil(t, v.local) {
					assert.Equal(t, ts.Listener.Addr().String(), v.local.(net.Addr).String())
				}
			}
			assert.Equal(t, tt.shared, bases[0] == bases[1], "the sockets share one context")
		})
	}
}

func TestWebSocketFrameInParts(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	url := wsServer(t, h, func(context.Context, []byte) []byte { return []byte(`{"results":[]}`) })
	frame := func(re int) []byte {
		var b bytes.Buffer
		msg := []byte(`{"re":` + strconv.Itoa(re) + `,"calls":[]}`)
		require.NoError(t, ws.WriteFrame(&b, ws.MaskFrameInPlace(ws.NewFrame(ws.OpText, true, msg))))
		return b.Bytes()
	}
	for _, tc := range []struct {
		name string
		wire []byte
		res  []uint64
	}{
		{"a frame cut in two", frame(7), []uint64{7}},
		{"a whole frame, then half of the next", append(frame(8), frame(9)...), []uint64{8, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, h, "/", "h")
			c := dialWS(t, url, s.ID(), 0)
			var f wsFrame
			c.next(&f)
			cut := len(tc.wire) - len(frame(0))/2
			_, err := c.conn.Write(tc.wire[:cut])
			require.NoError(t, err)
			time.Sleep(20 * time.Millisecond) // lets the hub read the first part alone
			_, err = c.conn.Write(tc.wire[cut:])
			require.NoError(t, err)
			// Batches run concurrently, so their replies may come in any order.
			var got []uint64
			for range tc.res {
				var r wsFrame
				c.next(&r)
				got = append(got, r.Re)
			}
			assert.ElementsMatch(t, tc.res, got, "each frame is read whole, and answered")
			require.NoError(t, s.Call("f"))
			var d wsFrame
			c.next(&d)
			assert.Len(t, d.Messages, 1, "and the socket serves on")
		})
	}
}
