package reverse

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingClient returns an HTTP client that keeps connections alive and
// counts the connections it opens.
func countingClient(t *testing.T) (*http.Client, *atomic.Int32) {
	var dials atomic.Int32
	var d net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, &dials
}

func TestLongPollKeepsItsConnection(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	url := transportServer(t, h)
	s := open(t, h, "/", "h")
	c, dials := countingClient(t)
	var ack uint64
	for i := range 10 {
		done := make(chan Delivery, 1)
		go func() {
			res, err := c.Get(url + "/lp?session=" + s.ID() + "&ack=" + strconv.FormatUint(ack, 10))
			if !assert.NoError(t, err) {
				close(done)
				return
			}
			defer res.Body.Close()
			assert.NotEmpty(t, res.Header.Get("Content-Length"), "a parked reply has a length")
			assert.False(t, res.Close, "and keeps its connection")
			var d Delivery
			assert.NoError(t, json.NewDecoder(res.Body).Decode(&d))
			done <- d
		}()
		require.Eventually(t, func() bool { return heldNow(s) }, 5*time.Second, time.Millisecond)
		require.NoError(t, s.Call("f", i))
		d := <-done
		require.Len(t, d.Messages, 1)
		ack = d.Messages[0].Seq
	}
	assert.EqualValues(t, 1, dials.Load(), "10 deliveries, 1 connection")
	assert.EqualValues(t, 9, h.Stats().KeptServed, "every poll after the first is read by the hub on its kept connection")
}

func TestStreamEndKeepsItsConnection(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithTransports(Transports{StreamMaxAge: time.Nanosecond, Heartbeat: time.Hour}))
	url := transportServer(t, h)
	s := open(t, h, "/", "h")
	c, dials := countingClient(t)
	for range 3 {
		res, err := c.Get(url + "/sse?session=" + s.ID())
		require.NoError(t, err)
		assert.Equal(t, []string{"chunked"}, res.TransferEncoding)
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err, "the stream past its age ends cleanly")
		res.Body.Close()
		assert.Contains(t, string(b), "event: open")
	}
	assert.EqualValues(t, 1, dials.Load(), "3 streams, 1 connection")
}

// rawHold opens a connection, sends a held request for s on path and
// waits until the hub holds it.
func rawHold(t *testing.T, url, path string, s *Session) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = io.WriteString(conn, "GET "+path+"?session="+s.ID()+" HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return heldNow(s) }, 5*time.Second, time.Millisecond)
	return conn
}

func TestParkedConnectionsAreRead(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/lp", "/sse"} {
		t.Run(path+"/closed by the page", func(t *testing.T) {
			t.Parallel()
			h := newTestHub(t)
			url := transportServer(t, h)
			s := open(t, h, "/", "h")
			conn := rawHold(t, url, path, s)
			require.NoError(t, conn.Close())
			require.Eventually(t, func() bool { return !heldNow(s) }, 5*time.Second, time.Millisecond,
				"a page that closed its held connection is released")
			assert.EqualValues(t, 1, h.Stats().PeersGone)
			assert.Zero(t, h.Stats().Held[strings.TrimPrefix(path, "/")])
		})
		t.Run(path+"/request behind", func(t *testing.T) {
			t.Parallel()
			h := newTestHub(t)
			url := transportServer(t, h)
			s := open(t, h, "/", "h")
			conn := rawHold(t, url, path, s)
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)), "detects a hang")
			_, err := io.WriteString(conn, "GET /poll?session="+s.ID()+" HTTP/1.1\r\nHost: x\r\n\r\n")
			require.NoError(t, err)
			br := bufio.NewReader(conn)
			held, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			_, err = io.ReadAll(held.Body)
			require.NoError(t, err, "the held reply ends")
			res, err := http.ReadResponse(br, nil)
			require.NoError(t, err, "and the request sent behind it is served on the same connection")
			assert.Equal(t, http.StatusOK, res.StatusCode)
			assert.False(t, heldNow(s))
		})
	}
}

func TestParkedPagesShareTheirMiddlewareHeaders(t *testing.T) {
	t.Parallel()
	a := http.Header{"Content-Security-Policy": {"default-src 'self'"}, "Cache-Control": {"public"}}
	b := a.Clone()
	lp := httptest.NewRequest(http.MethodPost, "/lp", nil)
	pa, pb := origins.intern(a, lp), origins.intern(b, lp)
	assert.Equal(t, "Content-Security-Policy: default-src 'self'\r\n", pa.pre, "what the reply sets itself is left out")
	assert.Same(t, pa, pb, "one copy for every page with the same headers on the same path")
	assert.NotSame(t, pa, origins.intern(a, httptest.NewRequest(http.MethodPost, "/other", nil)), "another path is another origin")
	b.Set("Set-Cookie", "id=1")
	pc := origins.intern(b, lp)
	assert.NotSame(t, pa, pc, "a page's own cookie is its own")
	assert.Contains(t, pc.pre, "Set-Cookie: id=1")
}

func TestParkedStreamOutlastsAFullSocket(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithLimits(Limits{OutboxBytes: 64 << 20, OutboxMessages: 1000}),
		WithTransports(Transports{Heartbeat: time.Hour}))
	url := transportServer(t, h)
	s := open(t, h, "/", "h")
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.(*net.TCPConn).SetReadBuffer(64<<10))
	_, err = io.WriteString(conn, "GET /sse?session="+s.ID()+" HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return heldNow(s) }, 5*time.Second, time.Millisecond)
	// Far more than the sockets' buffers take while the page does not
	// read: the writes fill them, then wait for the page.
	const n = 600
	big := strings.Repeat("x", 16<<10)
	for i := range n {
		require.NoError(t, s.Call("f", i, big))
	}
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)), "detects a hang")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	next := uint64(1)
	for next <= n && sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "{}" {
			continue
		}
		var m struct {
			Seq  uint64
			Args []json.RawMessage
		}
		require.NoError(t, json.Unmarshal([]byte(data), &m), "every event arrives whole: %.200q", data)
		require.Equal(t, next, m.Seq, "in order")
		require.Len(t, m.Args, 2)
		require.Equal(t, `"`+big+`"`, string(m.Args[1]))
		next++
	}
	require.NoError(t, sc.Err())
	assert.EqualValues(t, n+1, next, "every event arrives")
}
