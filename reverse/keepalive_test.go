package reverse

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keptPage is a page on one raw connection whose first long-poll has
// been answered: the hub keeps the connection for its next request.
type keptPage struct {
	t    *testing.T
	h    *Hub
	s    *Session
	ts   *httptest.Server
	conn net.Conn
	br   *bufio.Reader
	ack  uint64
}

// keptServer starts a server of h's transports, with wrap around its
// handler if set and configure applied to it before it starts.
func keptServer(t *testing.T, h *Hub, wrap func(http.Handler) http.Handler, configure func(*http.Server)) *httptest.Server {
	t.Helper()
	var handler http.Handler = transportMux(t, h)
	if wrap != nil {
		handler = wrap(handler)
	}
	ts := httptest.NewUnstartedServer(handler)
	if configure != nil {
		configure(ts.Config)
	}
	ts.Start()
	t.Cleanup(func() { closeBoth(h, ts) })
	return ts
}

// newKeptPage opens a session on ts's hub h and a connection to ts, and
// has one long-poll on it answered with a message.
func newKeptPage(t *testing.T, h *Hub, ts *httptest.Server) *keptPage {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)), "detects a hang")
	p := &keptPage{t: t, h: h, s: open(t, h, "/", "h"), ts: ts, conn: conn, br: bufio.NewReader(conn)}
	p.send(p.poll("/lp", ""))
	p.held()
	require.NoError(t, p.s.Call("f", 0))
	res, d := p.reply()
	require.False(t, res.Close)
	require.Len(t, d.Messages, 1)
	require.Eventually(t, func() bool { return h.Stats().Kept == 1 }, 5*time.Second, time.Millisecond, "the connection is kept")
	return p
}

// poll returns a long-poll request on path acknowledging what the page
// has, with extra header lines.
func (p *keptPage) poll(path, extra string) string {
	return "GET " + path + "?session=" + p.s.ID() + "&ack=" + strconv.FormatUint(p.ack, 10) + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n"
}

func (p *keptPage) send(req string) {
	p.t.Helper()
	_, err := io.WriteString(p.conn, req)
	require.NoError(p.t, err)
}

// held waits until the hub holds the page.
func (p *keptPage) held() {
	p.t.Helper()
	require.Eventually(p.t, func() bool { return heldNow(p.s) }, 5*time.Second, time.Millisecond)
}

// reply reads the next reply, and takes its messages as run.
func (p *keptPage) reply() (*http.Response, Delivery) {
	p.t.Helper()
	res, err := http.ReadResponse(p.br, nil)
	require.NoError(p.t, err)
	body, err := io.ReadAll(res.Body)
	require.NoError(p.t, err)
	var d struct {
		Messages []struct{ Seq uint64 }
		Advice   *Advice
	}
	require.NoError(p.t, json.Unmarshal(body, &d), string(body))
	out := Delivery{Advice: d.Advice}
	for _, m := range d.Messages {
		out.Messages = append(out.Messages, Message{Seq: m.Seq})
		p.ack = m.Seq
	}
	return res, out
}

// closed asserts that the server closes the connection.
func (p *keptPage) closed() {
	p.t.Helper()
	_, err := p.br.ReadByte()
	require.ErrorIs(p.t, err, io.EOF, "the server closes the connection")
	require.Eventually(p.t, func() bool { return p.h.Stats().Kept == 0 }, 5*time.Second, time.Millisecond, "and keeps it no more")
}

// delivered has the hub hold the page, sends it a message and reads it.
func (p *keptPage) delivered() *http.Response {
	p.t.Helper()
	p.held()
	require.NoError(p.t, p.s.Call("f", p.ack))
	res, d := p.reply()
	require.Len(p.t, d.Messages, 1)
	return res
}

func TestKeptConnections(t *testing.T) {
	t.Parallel()
	plain := func(t *testing.T) (*Hub, *keptPage) {
		h := newTestHub(t)
		return h, newKeptPage(t, h, keptServer(t, h, nil, nil))
	}
	t.Run("the next poll is served by the hub, and held", func(t *testing.T) {
		t.Parallel()
		h, p := plain(t)
		for range 3 {
			p.send(p.poll("/lp", ""))
			p.delivered()
		}
		assert.EqualValues(t, 3, h.Stats().KeptServed)
		require.Eventually(t, func() bool { return h.Stats().Kept == 1 }, 5*time.Second, time.Millisecond)
		p.send(p.poll("/lp", ""))
		p.held()
		assert.Zero(t, h.Stats().Kept, "a held page's connection is held, not kept")
	})
	t.Run("a next poll with something to send is answered at once", func(t *testing.T) {
		t.Parallel()
		h, p := plain(t)
		require.NoError(t, p.s.Call("g"))
		p.send(p.poll("/lp", ""))
		res, d := p.reply()
		assert.Len(t, d.Messages, 1)
		assert.NotEmpty(t, res.Header.Get("Date"))
		assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
		assert.EqualValues(t, 1, h.Stats().KeptServed)
		p.send(p.poll("/lp", ""))
		p.delivered()
	})
	t.Run("another request goes back to net/http, and the page is held after", func(t *testing.T) {
		t.Parallel()
		h, p := plain(t)
		p.send(p.poll("/poll", ""))
		_, d := p.reply()
		require.NotNil(t, d.Advice, "the poll is answered by its own handler")
		assert.Zero(t, h.Stats().KeptServed)
		p.send(p.poll("/lp", ""))
		p.delivered()
		p.send(p.poll("/lp", ""))
		p.delivered()
		assert.EqualValues(t, 1, h.Stats().KeptServed, "kept again after the reply net/http parked")
	})
	t.Run("another host, or two, goes to net/http", func(t *testing.T) {
		t.Parallel()
		h, p := plain(t)
		p.send(strings.Replace(p.poll("/lp", ""), "Host: x", "Host: y", 1))
		p.delivered()
		assert.Zero(t, h.Stats().KeptServed)
		p.send(p.poll("/lp", "Host: y\r\n"))
		res, err := http.ReadResponse(p.br, nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, "net/http refuses two Host headers")
		assert.Zero(t, h.Stats().KeptServed)
	})
	t.Run("a request that arrives in parts is served by the hub once whole", func(t *testing.T) {
		t.Parallel()
		h, p := plain(t)
		for i, tc := range []struct {
			extra, body string
			cut         int // where the request is cut, from its end if negative
		}{
			{"", "", 10},                        // the request line cut
			{"Content-Length: 2\r\n", "{}", -2}, // headers, then the body
		} {
			req := p.poll("/lp", tc.extra) + tc.body
			cut := tc.cut
			if cut < 0 {
				cut += len(req)
			}
			p.send(req[:cut])
			time.Sleep(20 * time.Millisecond) // lets the hub read the first part alone
			p.send(req[cut:])
			p.delivered()
			assert.EqualValues(t, i+1, h.Stats().KeptServed)
		}
		p.send(p.poll("/lp", ""))
		p.delivered()
		assert.EqualValues(t, 3, h.Stats().KeptServed, "the connection is kept after")
	})
	t.Run("a request pipelined in parts behind one served", func(t *testing.T) {
		t.Parallel()
		h, p := plain(t)
		require.NoError(t, p.s.Call("g"))
		next := p.poll("/lp", "") // acknowledges none of g: g is sent again
		p.send(p.poll("/lp", "") + next[:20])
		_, d := p.reply()
		require.Len(t, d.Messages, 1)
		p.send(next[20:])
		_, again := p.reply()
		assert.Equal(t, d.Messages, again.Messages)
		assert.EqualValues(t, 2, h.Stats().KeptServed)
		p.send(p.poll("/lp", ""))
		p.delivered()
	})
	t.Run("a request that trickles in goes to net/http", func(t *testing.T) {
		t.Parallel()
		h, p := plain(t)
		req := p.poll("/lp", "X-Pad: "+strings.Repeat("p", 40)+"\r\n")
		const n = 3 * maxParts
		for i := range n {
			p.send(req[i*len(req)/n : (i+1)*len(req)/n])
			time.Sleep(50 * time.Millisecond) // lets the hub read each part alone
		}
		p.delivered()
		assert.Zero(t, h.Stats().KeptServed, "past maxParts reads, net/http reads the rest")
	})
	t.Run("a request larger than the hub takes goes to net/http", func(t *testing.T) {
		t.Parallel()
		h, p := plain(t)
		p.send(p.poll("/lp", "Content-Length: "+strconv.Itoa(keptRequestMax)+"\r\n"))
		p.send(strings.Repeat(" ", keptRequestMax))
		p.delivered()
		assert.Zero(t, h.Stats().KeptServed)
	})
	t.Run("a page that goes away mid-request is let go", func(t *testing.T) {
		t.Parallel()
		_, p := plain(t)
		p.send(p.poll("/lp", "")[:10])
		require.NoError(t, p.conn.(*net.TCPConn).CloseWrite())
		p.closed()
	})
	t.Run("a Content-Length past any bound goes to net/http at once", func(t *testing.T) {
		t.Parallel()
		h, p := plain(t)
		p.send(p.poll("/lp", "Content-Length: 9223372036854775807\r\n"))
		require.Eventually(t, func() bool { return h.Stats().Kept == 0 }, 5*time.Second, time.Millisecond,
			"handed back, not kept waiting for a body it could never take")
		assert.Zero(t, h.Stats().KeptServed)
		// net/http waits for the body; gone, its handler ends while the hub is open.
		p.conn.Close()
		p.ts.Close()
	})
	t.Run("a chunked body goes to net/http", func(t *testing.T) {
		t.Parallel()
		h, p := plain(t)
		req := strings.Replace(p.poll("/lp", "Transfer-Encoding: chunked\r\n"), "GET", "POST", 1)
		p.send(req + "2\r\n{}\r\n0\r\n\r\n")
		p.delivered()
		assert.Zero(t, h.Stats().KeptServed)
	})
	t.Run("requests pipelined behind the next poll are served in order", func(t *testing.T) {
		t.Parallel()
		_, p := plain(t)
		p.send(p.poll("/lp", "") + p.poll("/poll", "Connection: close\r\n"))
		res, d := p.reply()
		assert.Empty(t, d.Messages, "the held poll is answered at once, empty")
		assert.False(t, res.Close)
		res, d = p.reply()
		assert.NotNil(t, d.Advice, "then the poll behind it")
		assert.True(t, res.Close)
		p.closed()
	})
	t.Run("Connection: close", func(t *testing.T) {
		t.Parallel()
		_, p := plain(t)
		require.NoError(t, p.s.Call("g"))
		p.send(p.poll("/lp", "Connection: close\r\n"))
		res, d := p.reply()
		assert.Len(t, d.Messages, 1)
		assert.True(t, res.Close)
		p.closed()
	})
	t.Run("a page that goes away is let go", func(t *testing.T) {
		t.Parallel()
		_, p := plain(t)
		require.NoError(t, p.conn.(*net.TCPConn).CloseWrite())
		p.closed()
	})
	t.Run("the hub closing closes kept connections", func(t *testing.T) {
		t.Parallel()
		h, p := plain(t)
		h.Close()
		p.closed()
	})
	t.Run("the server shutting down closes kept connections", func(t *testing.T) {
		t.Parallel()
		_, p := plain(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, p.ts.Config.Shutdown(ctx))
		p.closed()
	})
	t.Run("the server's idle timeout", func(t *testing.T) {
		t.Parallel()
		h := newTestHub(t)
		p := newKeptPage(t, h, keptServer(t, h, nil, func(s *http.Server) { s.IdleTimeout = 50 * time.Millisecond }))
		p.closed()
	})
	t.Run("a wait that ends leaves the hub's timers", func(t *testing.T) {
		t.Parallel()
		h := newTestHub(t)
		p := newKeptPage(t, h, keptServer(t, h, nil, func(s *http.Server) { s.IdleTimeout = time.Hour }))
		for range 3 {
			p.send(p.poll("/lp", ""))
			p.delivered()
		}
		p.send(p.poll("/lp", ""))
		p.held()
		h.timers.mu.Lock()
		n := len(h.timers.items)
		h.timers.mu.Unlock()
		assert.Equal(t, 1, n, "the held poll's deadline alone: each wait's was removed when it ended")
	})
	t.Run("middleware runs, and its headers are kept", func(t *testing.T) {
		t.Parallel()
		h := newTestHub(t)
		var seen []string
		wrap := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = append(seen, r.Header.Get("X-Request-Id"))
				w.Header().Set("X-Request-Id", r.Header.Get("X-Request-Id"))
				next.ServeHTTP(w, r)
			})
		}
		p := newKeptPage(t, h, keptServer(t, h, wrap, nil))
		p.send(p.poll("/lp", "X-Request-Id: 2\r\n"))
		assert.Equal(t, "2", p.delivered().Header.Get("X-Request-Id"), "in a parked reply")
		require.NoError(t, p.s.Call("g"))
		p.send(p.poll("/lp", "X-Request-Id: 3\r\n"))
		res, _ := p.reply()
		assert.Equal(t, "3", res.Header.Get("X-Request-Id"), "in a reply at once")
		assert.Equal(t, []string{"", "2", "3"}, seen)
		assert.EqualValues(t, 2, h.Stats().KeptServed)
	})
	t.Run("a handler that panics loses its connection, not the server", func(t *testing.T) {
		t.Parallel()
		var logged syncBuffer
		h := newTestHub(t, WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
		wrap := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Panic") != "" {
					panic("boom")
				}
				next.ServeHTTP(w, r)
			})
		}
		ts := keptServer(t, h, wrap, nil)
		p := newKeptPage(t, h, ts)
		p.send(p.poll("/lp", "X-Panic: 1\r\n"))
		p.closed()
		require.Eventually(t, func() bool { return strings.Contains(logged.String(), "boom") }, 5*time.Second, time.Millisecond, "the panic is logged")
		newKeptPage(t, h, ts)
	})
}

func TestRepliesLeaveBeforeKeptRequests(t *testing.T) {
	t.Parallel()
	var w writers
	kept := &keepAlive{}
	for i := range 2*lowShare + 2 {
		w.add(task{what: strconv.Itoa(i)})
	}
	w.add(task{ka: kept})
	w.add(task{ka: kept})
	var order []string
	w.mu.Lock()
	for w.pending() {
		t := w.nextLocked()
		if t.ka != nil {
			order = append(order, "kept")
		} else {
			order = append(order, t.what)
		}
	}
	w.mu.Unlock()
	want := []string{}
	for i := range lowShare {
		want = append(want, strconv.Itoa(i))
	}
	want = append(want, "kept")
	for i := lowShare; i < 2*lowShare; i++ {
		want = append(want, strconv.Itoa(i))
	}
	want = append(want, "kept", strconv.Itoa(2*lowShare), strconv.Itoa(2*lowShare+1))
	assert.Equal(t, want, order, "one kept request in every lowShare+1 tasks while replies wait, none starved")
}

// addrConn is a connection with nothing but a peer address.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// TestKeptRequestsSeeTheRemoteAddrNetHTTPGives: a request served on a
// kept connection has the RemoteAddr net/http would have given it.
func TestKeptRequestsSeeTheRemoteAddrNetHTTPGives(t *testing.T) {
	t.Parallel()
	for _, a := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 54321},
		&net.TCPAddr{IP: net.ParseIP("10.1.2.3").To4(), Port: 80},
		&net.TCPAddr{IP: net.ParseIP("::1"), Port: 8080},
		&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 443, Zone: "eth0"},
		&net.UnixAddr{Name: "/run/parley.sock", Net: "unix"},
	} {
		assert.Equal(t, a.String(), remoteAddr(addrConn{remote: a}))
	}
}

// sent has ts send s's page what its outbox holds, by a poll.
func sent(t *testing.T, ts *httptest.Server, s *Session) {
	t.Helper()
	res, err := ts.Client().Get(ts.URL + "/poll?session=" + s.ID())
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
}

// TestAcksKeepTheirConnection: the connection of an ack over HTTP/1.1
// waits in the poller, as a long-poll's does after its reply; the page's
// next ack on it is served by the hub, with the headers middleware set,
// and any other request goes back to net/http. Over TLS the connection
// stays net/http's.
func TestAcksKeepTheirConnection(t *testing.T) {
	t.Parallel()
	tagged := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Request-Id", "r1")
			next.ServeHTTP(w, r)
		})
	}
	t.Run("plain", func(t *testing.T) {
		t.Parallel()
		h := newTestHub(t)
		ts := keptServer(t, h, tagged, nil)
		conn, err := net.Dial("tcp", ts.Listener.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)), "detects a hang")
		p := &keptPage{t: t, h: h, s: open(t, h, "/", "h"), ts: ts, conn: conn, br: bufio.NewReader(conn)}
		for range 3 {
			require.NoError(t, p.s.Call("f"))
		}
		sent(t, ts, p.s)
		for ack := range uint64(3) {
			p.ack = ack + 1
			p.send(p.poll("/ack", ""))
			res, d := p.reply()
			assert.Equal(t, http.StatusOK, res.StatusCode)
			assert.Empty(t, d.Messages)
			assert.False(t, res.Close, "the connection stays open")
			assert.Equal(t, "r1", res.Header.Get("X-Request-Id"), "with the headers middleware set")
			assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
			require.Eventually(t, func() bool { return h.Counters().Kept == 1 }, 5*time.Second, time.Millisecond, "and waits in the poller")
			assert.EqualValues(t, ack, h.Counters().KeptServed, "served by the hub after the first")
			assert.EqualValues(t, ack+1, h.Counters().Acked)
		}
		p.send("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err := http.ReadResponse(p.br, nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusNotFound, res.StatusCode, "another request goes back to net/http")
		assert.Zero(t, h.Counters().Kept)
	})
	t.Run("TLS", func(t *testing.T) {
		t.Parallel()
		h := newTestHub(t)
		ts := httptest.NewTLSServer(tagged(transportMux(t, h)))
		t.Cleanup(func() { closeBoth(h, ts) })
		s := open(t, h, "/", "h")
		require.NoError(t, s.Call("f"))
		sent(t, ts, s)
		res, err := ts.Client().Get(ts.URL + "/ack?session=" + s.ID() + "&ack=1")
		require.NoError(t, err)
		_ = res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode)
		assert.Equal(t, "r1", res.Header.Get("X-Request-Id"))
		assert.EqualValues(t, 1, h.Counters().Acked)
		assert.Zero(t, h.Counters().Kept, "net/http keeps the connection")
	})
}
