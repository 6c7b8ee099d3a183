package client_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc/client"
)

// page is a client running on a transport, with what it handled.
type page struct {
	c       *client.Client
	handled atomic.Int64
	last    atomic.Int64 // the argument of the last message handled
	gaps    chan string
	cancel  context.CancelFunc
	done    chan struct{}
}

// runPage runs a client of the server at addr, for page path, on
// transport, until the test ends or stop is called.
func runPage(t *testing.T, addr, path, transport string) *page {
	t.Helper()
	tr := &http.Transport{}
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c, err := client.New("http://"+addr+"/parley/", client.WithTransport(transport), client.WithPage(path),
		client.WithHTTPClient(&http.Client{Transport: tr, Jar: jar}))
	require.NoError(t, err)
	p := &page{c: c, gaps: make(chan string, 16), done: make(chan struct{})}
	c.OnGap(func(reason string) { p.gaps <- reason })
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		defer close(p.done)
		_ = c.Run(ctx, func(m client.Message) {
			var v int64
			if assert.Len(t, m.Args, 1) && assert.NoError(t, json.Unmarshal(m.Args[0], &v)) {
				p.last.Store(v)
			}
			p.handled.Add(1)
		})
	}()
	t.Cleanup(func() { p.stop(); tr.CloseIdleConnections() })
	require.Eventually(t, func() bool { return c.Session() != "" }, 10*time.Second, time.Millisecond)
	return p
}

// stop stops the client and waits until Run has returned.
func (p *page) stop() {
	p.cancel()
	<-p.done
}

// ackLog records the acknowledgements a page sent, in order.
type ackLog struct {
	mu   sync.Mutex
	acks []uint64
}

func (l *ackLog) add(seq uint64) {
	l.mu.Lock()
	l.acks = append(l.acks, seq)
	l.mu.Unlock()
}

func (l *ackLog) get() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]uint64(nil), l.acks...)
}

// last returns the highest sequence number acknowledged so far.
func (l *ackLog) last() uint64 {
	acks := l.get()
	if len(acks) == 0 {
		return 0
	}
	return acks[len(acks)-1]
}

// TestSSEAcknowledgesByTheRule checks that an SSE page sends POST ack at
// once for every 100 messages, and otherwise once, 5 seconds after the
// first message it has not acknowledged: not one request per message.
func TestSSEAcknowledgesByTheRule(t *testing.T) {
	t.Parallel()
	var log ackLog
	hub, addr := wrappedServer(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/ack") {
				body, _ := io.ReadAll(r.Body)
				var b struct {
					Ack uint64 `json:"ack"`
				}
				if assert.NoError(t, json.Unmarshal(body, &b)) {
					log.add(b.Ack)
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			next.ServeHTTP(w, r)
		})
	})
	p := runPage(t, addr, "/acks", "sse")

	// A burst of 250: acknowledged at 100 and 200 at once, the rest by the timer.
	for v := range 250 {
		require.NoError(t, hub.Page("/acks").Call("f", v))
	}
	// Acks sent at once go on requests of their own, which may arrive in
	// any order: a lower one after a higher one changes nothing.
	require.Eventually(t, func() bool { return slices.Contains(log.get(), 250) }, 30*time.Second, 5*time.Millisecond,
		"acks %v", log.get())
	burst := log.get()
	assert.LessOrEqual(t, len(burst), 3, "acks %v", burst)
	prev := uint64(0)
	for _, a := range slices.Sorted(slices.Values(burst)) {
		assert.LessOrEqual(t, a-prev, uint64(100), "no more than 100 messages unacknowledged: acks %v", burst)
		prev = a
	}

	// 20 messages one by one: the timer acknowledges them together.
	for v := range 20 {
		require.NoError(t, hub.Page("/acks").Call("f", 250+v))
		require.Eventually(t, func() bool { return p.handled.Load() == int64(251+v) }, 10*time.Second, time.Millisecond)
		time.Sleep(100 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return log.last() == 270 }, 30*time.Second, 5*time.Millisecond,
		"acks %v", log.get())
	paced := log.get()[len(burst):]
	assert.LessOrEqual(t, len(paced), 2, "one ack per 5 seconds, not one per message: acks %v", paced)
}

// frameTap is a TCP proxy that records the frames pages send on the
// WebSocket connections crossing it: the text of each text frame, and
// "close:CODE" for a close frame.
type frameTap struct {
	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	conns  []net.Conn
	frames []string
}

func newFrameTap(t *testing.T, target string) *frameTap {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tp := &frameTap{ln: ln}
	tp.wg.Go(func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				down.Close()
				continue
			}
			tp.mu.Lock()
			tp.conns = append(tp.conns, down, up)
			tp.mu.Unlock()
			tp.wg.Go(func() {
				defer down.Close()
				defer up.Close()
				_, _ = io.Copy(down, up)
			})
			tp.wg.Go(func() {
				defer down.Close()
				defer up.Close()
				tp.read(bufio.NewReader(io.TeeReader(down, up)))
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		tp.mu.Lock()
		for _, c := range tp.conns {
			c.Close()
		}
		tp.mu.Unlock()
		tp.wg.Wait()
	})
	return tp
}

// read reads the requests of one connection and, after a WebSocket
// upgrade, the frames the page sends.
func (tp *frameTap) read(br *bufio.Reader) {
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if !strings.HasSuffix(req.URL.Path, "/ws") {
			_, _ = io.Copy(io.Discard, req.Body)
			req.Body.Close()
			continue
		}
		for {
			f, err := ws.ReadFrame(br)
			if err != nil {
				return
			}
			f = ws.UnmaskFrameInPlace(f)
			tp.mu.Lock()
			switch f.Header.OpCode {
			case ws.OpText:
				tp.frames = append(tp.frames, string(f.Payload))
			case ws.OpClose:
				code, _ := ws.ParseCloseFrameData(f.Payload)
				tp.frames = append(tp.frames, "close:"+strconv.Itoa(int(code)))
			}
			tp.mu.Unlock()
		}
	}
}

// acks returns the ack frames recorded, in order.
func (tp *frameTap) acks() *ackLog {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	var log ackLog
	for _, f := range tp.frames {
		var b struct {
			Ack *uint64 `json:"ack"`
		}
		if json.Unmarshal([]byte(f), &b) == nil && b.Ack != nil {
			log.add(*b.Ack)
		}
	}
	return &log
}

// last returns the last frame recorded.
func (tp *frameTap) last() string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if len(tp.frames) == 0 {
		return ""
	}
	return tp.frames[len(tp.frames)-1]
}

// TestWebSocketAcknowledgesByTheRule checks that a WebSocket page sends
// ack frames at once for every 100 messages, and otherwise one a second
// after the first message it has not acknowledged, and that it sends its
// pending ack, then a close frame with 1000, when it stops.
func TestWebSocketAcknowledgesByTheRule(t *testing.T) {
	t.Parallel()
	hub, addr := server(t)
	tap := newFrameTap(t, addr)
	p := runPage(t, tap.ln.Addr().String(), "/acks", "websocket")

	for v := range 250 {
		require.NoError(t, hub.Page("/acks").Call("f", v))
	}
	require.Eventually(t, func() bool { return tap.acks().last() == 250 }, 30*time.Second, 5*time.Millisecond,
		"acks %v", tap.acks().get())
	burst := tap.acks().get()
	// Each ack frame covers 100 messages or more, or is the timer's.
	assert.LessOrEqual(t, len(burst), 4, "acks %v", burst)

	require.NoError(t, hub.Page("/acks").Call("f", 250))
	require.Eventually(t, func() bool { return tap.acks().last() == 251 }, 30*time.Second, 5*time.Millisecond,
		"a single message is acknowledged: acks %v", tap.acks().get())
	assert.Len(t, tap.acks().get(), len(burst)+1)

	require.NoError(t, hub.Page("/acks").Call("f", 251))
	require.Eventually(t, func() bool { return p.handled.Load() == 252 }, 10*time.Second, time.Millisecond)
	p.stop()
	require.Eventually(t, func() bool { return tap.last() == "close:1000" }, 10*time.Second, time.Millisecond,
		"the page closes with 1000")
	assert.Equal(t, uint64(252), tap.acks().last(), "the page acknowledges what it ran before it closes")
	assert.Equal(t, int64(251), p.last.Load())
}

// TestWebSocketReset checks that a page whose session ends is told over
// its socket, reports the gap, and goes on with a new session.
func TestWebSocketReset(t *testing.T) {
	t.Parallel()
	hub, addr := server(t)
	sessions := make(chan *reverse.Session, 4)
	hub.OnSessionStart(func(s *reverse.Session) { sessions <- s })
	p := runPage(t, addr, "/reset", "websocket")
	first := <-sessions
	require.Equal(t, first.ID(), p.c.Session())

	require.NoError(t, hub.Page("/reset").Call("f", 1))
	require.Eventually(t, func() bool { return p.handled.Load() == 1 }, 10*time.Second, time.Millisecond)
	first.Close()
	select {
	case reason := <-p.gaps:
		assert.Equal(t, reverse.ReasonClosed, reason)
	case <-time.After(10 * time.Second):
		t.Fatal("no gap reported")
	}
	second := <-sessions
	require.Eventually(t, func() bool { return p.c.Session() == second.ID() }, 10*time.Second, time.Millisecond)
	require.NoError(t, hub.Page("/reset").Call("f", 2))
	require.Eventually(t, func() bool { return p.last.Load() == 2 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, uint64(1), p.c.Stats().Gaps)
}
