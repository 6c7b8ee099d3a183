//go:build linux

// The remainder of a write is drained only on a connection the poller
// watches, which is on Linux.

package reverse

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smallBuffers is a listener whose connections have small send buffers,
// as a slow link keeps them: a write of more than a few KiB waits for the
// page to read.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		_ = c.(*net.TCPConn).SetWriteBuffer(8 << 10)
	}
	return c, err
}

// slowLinkServer is transportServer on connections with small send
// buffers.
func slowLinkServer(t *testing.T, h *Hub) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(transportMux(t, h))
	ts.Listener = smallBuffers{ts.Listener}
	ts.Start()
	t.Cleanup(func() { closeBoth(h, ts) })
	return strings.TrimPrefix(ts.URL, "http://")
}

// dialSmall connects to addr with a small receive buffer, set before the
// connection opens so that its window stays small.
func dialSmall(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		_ = c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8<<10) })
		return err
	}}
	conn, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// draining reports whether s's held connection has bytes its socket has
// not taken yet.
func draining(s *Session) bool {
	s.mu.Lock()
	hh := s.held
	s.mu.Unlock()
	if hh == nil || hh.parked() == nil {
		return false
	}
	c := hh.parked()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.draining
}

// TestPagesThatDoNotReadHoldNoWriter checks that pages whose sockets are
// full, as many as the hub has writers, leave every writer free: another
// page is served, and the writers wait for work, while the full sockets
// still have their bytes to take. When those pages go, their sessions
// are released.
func TestPagesThatDoNotReadHoldNoWriter(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithLimits(Limits{OutboxBytes: 4 << 20}), WithTransports(Transports{Heartbeat: time.Hour}))
	addr := slowLinkServer(t, h)
	big := strings.Repeat("x", 1<<20)
	var stuck []*Session
	var conns []net.Conn
	for range h.writers.base {
		s := open(t, h, "/", "h")
		conn := dialSmall(t, addr)
		_, err := io.WriteString(conn, "GET /sse?session="+s.ID()+" HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		require.Eventually(t, func() bool { return heldNow(s) }, 5*time.Second, time.Millisecond)
		require.NoError(t, s.Call("f", big)) // the page reads none of it
		stuck, conns = append(stuck, s), append(conns, conn)
	}
	for _, s := range stuck {
		require.Eventually(t, func() bool { return draining(s) }, 5*time.Second, time.Millisecond,
			"a megabyte waits for a page that does not read")
	}

	other := open(t, h, "/", "h")
	got := async(t, "http://"+addr, "/lp", other, 0)
	require.Eventually(t, func() bool { return heldNow(other) }, 5*time.Second, time.Millisecond)
	require.NoError(t, other.Call("g"))
	assert.Equal(t, []string{"g"}, fns(t, <-got), "another page is served")
	require.Eventually(t, func() bool {
		h.writers.mu.Lock()
		defer h.writers.mu.Unlock()
		return h.writers.idle == h.writers.running
	}, 5*time.Second, time.Millisecond, "every writer is free, well within the write timeout")
	for _, s := range stuck {
		assert.True(t, draining(s), "the full sockets still have their bytes to take")
	}

	for _, c := range conns {
		c.Close()
	}
	for _, s := range stuck {
		require.Eventually(t, func() bool { return !heldNow(s) }, 5*time.Second, time.Millisecond, "a page that left is released")
	}
}

// TestASlowLongPollReplyKeepsItsConnection checks that a long-poll reply
// larger than the socket takes at once, read slowly, arrives whole, and
// that its connection is then kept for the page's next poll, which the
// hub serves.
func TestASlowLongPollReplyKeepsItsConnection(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithLimits(Limits{OutboxBytes: 4 << 20}))
	addr := slowLinkServer(t, h)
	s := open(t, h, "/", "h")
	big := strings.Repeat("x", 1<<20)
	conn := dialSmall(t, addr)
	br := bufio.NewReader(conn)
	// poll sends a long-poll, runs call once it is held, and reads the
	// reply slowly.
	poll := func(ack string, call func()) Delivery {
		_, err := io.WriteString(conn, "GET /lp?session="+s.ID()+"&ack="+ack+" HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		require.Eventually(t, func() bool { return heldNow(s) }, 5*time.Second, time.Millisecond)
		call()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)), "detects a hang")
		res, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		defer res.Body.Close()
		var raw struct {
			Messages []struct {
				Seq  uint64
				Args []string
			}
		}
		var body strings.Builder
		chunk := make([]byte, 4<<10)
		for {
			n, err := res.Body.Read(chunk)
			body.Write(chunk[:n])
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			time.Sleep(time.Millisecond) // a slow link
		}
		require.NoError(t, json.Unmarshal([]byte(body.String()), &raw))
		var d Delivery
		for _, m := range raw.Messages {
			if m.Seq == 1 {
				require.Len(t, m.Args, 1)
				require.True(t, m.Args[0] == big, "the reply arrives whole")
			}
			d.Messages = append(d.Messages, Message{Seq: m.Seq})
		}
		assert.False(t, res.Close, "the connection is kept")
		return d
	}
	d := poll("0", func() {
		require.NoError(t, s.Call("f", big))
		require.Eventually(t, func() bool { return draining(s) || !heldNow(s) }, 5*time.Second, time.Millisecond)
	})
	require.Len(t, d.Messages, 1)
	d = poll("1", func() { require.NoError(t, s.Call("g")) })
	require.Len(t, d.Messages, 1)
	assert.EqualValues(t, 2, d.Messages[0].Seq)
	assert.EqualValues(t, 1, h.Stats().KeptServed, "the next poll came on the kept connection, served by the hub")
}
