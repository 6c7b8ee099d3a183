package client_test

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
	"github.com/parley-go/parley/rpc/client"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// server starts a Parley server with an Echo service and returns its hub
// and its address.
func server(t *testing.T, opts ...reverse.Option) (*reverse.Hub, string) {
	t.Helper()
	return wrappedServer(t, nil, opts...)
}

// wrappedServer is server with wrap, if not nil, around its handler.
func wrappedServer(t *testing.T, wrap func(http.Handler) http.Handler, opts ...reverse.Option) (*reverse.Hub, string) {
	t.Helper()
	hub := reverse.NewHub(opts...)
	var h http.Handler = handler(hub)
	if wrap != nil {
		h = wrap(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() { hub.Close(); ts.Close() })
	return hub, ts.Listener.Addr().String()
}

// handler serves Parley for hub, with an Echo service, under /parley/.
func handler(hub *reverse.Hub, opts ...rpc.Option) http.Handler {
	srv := rpc.NewServer(append([]rpc.Option{rpc.WithHub(hub)}, opts...)...)
	srv.Register(rpc.ServiceDesc{Name: "Echo", Methods: []rpc.MethodDesc{
		{Name: "echo", Params: []string{"v"}, Handler: func(ctx context.Context, args rpc.Args) (any, error) {
			var v string
			if err := args.Decode(0, &v); err != nil {
				return nil, err
			}
			if v == "" {
				return nil, rpc.NewError(rpc.CodeInvalidArgument, "empty")
			}
			return v, nil
		}},
	}})
	mux := http.NewServeMux()
	mux.Handle("/parley/", srv)
	return mux
}

func TestCall(t *testing.T) {
	t.Parallel()
	_, addr := server(t)
	c, err := client.New("http://" + addr + "/parley/")
	require.NoError(t, err)
	var out string
	require.NoError(t, c.Call(context.Background(), "Echo", "echo", &out, "hi"))
	assert.Equal(t, "hi", out)
	err = c.Call(context.Background(), "Echo", "echo", &out, "")
	var e *rpc.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, rpc.CodeInvalidArgument, e.Code)
	require.ErrorAs(t, c.Call(context.Background(), "Echo", "nope", nil), &e)
	assert.Equal(t, rpc.CodeUnimplemented, e.Code)

	_, err = client.New("http://"+addr+"/parley/", client.WithTransport("carrier-pigeon"))
	assert.Error(t, err)
}

// chaosProxy forwards TCP connections to its targets, each to the next
// one that answers, round robin, and cuts every one of them after a random
// lifetime, many also after a random number of bytes in either direction:
// requests and replies are lost whole or halfway.
type chaosProxy struct {
	ln      net.Listener
	mu      sync.Mutex
	targets []string
	next    int
	cuts    atomic.Int64
	wg      sync.WaitGroup
}

func newChaosProxy(t *testing.T, seed uint64, targets ...string) *chaosProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &chaosProxy{ln: ln, targets: targets}
	rng := rand.New(rand.NewPCG(seed, seed))
	var rngMu sync.Mutex
	budget := func() int64 {
		rngMu.Lock()
		defer rngMu.Unlock()
		if rng.IntN(3) == 0 {
			return rng.Int64N(3000) // cut after this many bytes
		}
		return -1
	}
	lifetime := func() time.Duration {
		rngMu.Lock()
		defer rngMu.Unlock()
		return time.Duration(5+rng.IntN(150)) * time.Millisecond // cut after this long
	}
	p.wg.Go(func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := p.dial()
			if err != nil {
				down.Close()
				continue
			}
			var once sync.Once
			cut := func() { once.Do(func() { p.cuts.Add(1); down.Close(); up.Close() }) }
			time.AfterFunc(lifetime(), cut)
			pipe := func(dst, src net.Conn, limit int64) {
				defer dst.Close()
				defer src.Close()
				if limit < 0 {
					_, _ = io.Copy(dst, src)
					return
				}
				_, _ = io.CopyN(dst, src, limit)
				cut()
			}
			p.wg.Go(func() { pipe(up, down, budget()) })
			p.wg.Go(func() { pipe(down, up, budget()) })
		}
	})
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// dial connects to the next target that answers.
func (p *chaosProxy) dial() (net.Conn, error) {
	p.mu.Lock()
	targets := p.targets
	start := p.next
	p.next++
	p.mu.Unlock()
	var err error
	for i := range targets {
		var c net.Conn
		if c, err = net.Dial("tcp", targets[(start+i)%len(targets)]); err == nil {
			return c, nil
		}
	}
	return nil, err
}

// TestExactlyOnceThroughACuttingProxy sends 10,000 reverse calls to a page
// over each transport while a proxy cuts connections at random: every call
// must be handled once, in order, with no gap.
func TestExactlyOnceThroughACuttingProxy(t *testing.T) {
	for i, transport := range []string{"longpoll", "sse", "poll", "passive", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			hub, addr := server(t, chaosOptions()...)
			proxy := newChaosProxy(t, uint64(i+1), addr)
			exactlyOnce(t, proxy, transport, func(v int) error { return hub.Page("/chaos").Call("f", v) }, nil)
		})
	}
}

// chaosCalls is how many reverse calls the exactly-once tests send.
const chaosCalls = 10_000

// chaosOptions are the hub options of the exactly-once tests: outboxes
// that hold every call, and quick polls and heartbeats.
func chaosOptions() []reverse.Option {
	return []reverse.Option{
		reverse.WithLimits(reverse.Limits{OutboxMessages: chaosCalls + 1, OutboxBytes: 64 << 20}),
		reverse.WithTransports(reverse.Transports{PollInterval: 5 * time.Millisecond, Heartbeat: 50 * time.Millisecond}),
	}
}

// exactlyOnce runs a page on transport through proxy, sends it chaosCalls
// reverse calls with publish (calling during, if not nil, before each),
// and checks that the page handled every one once, in order, with no gap.
func exactlyOnce(t *testing.T, proxy *chaosProxy, transport string, publish func(v int) error, during func(v int)) {
	const n = chaosCalls
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c, err := client.New("http://"+proxy.ln.Addr().String()+"/parley/",
		client.WithTransport(transport), client.WithPage("/chaos"),
		client.WithHTTPClient(&http.Client{Transport: tr, Jar: jar, Timeout: 2 * time.Second}),
		client.WithRetry(time.Millisecond, 20*time.Millisecond))
	require.NoError(t, err)
	var gaps atomic.Int64
	c.OnGap(func(reason string) { gaps.Add(1); t.Logf("gap: %s", reason) })

	var mu sync.Mutex
	var got []int
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx, func(m client.Message) {
			var v int
			if assert.Len(t, m.Args, 1) && assert.NoError(t, json.Unmarshal(m.Args[0], &v)) {
				mu.Lock()
				got = append(got, v)
				mu.Unlock()
			}
		})
	}()
	require.Eventually(t, func() bool { return c.Session() != "" }, 30*time.Second, time.Millisecond)
	published := make(chan struct{})
	go func() {
		defer close(published)
		// Bursts with pauses, so that many replies cross the proxy.
		for v := range n {
			if ctx.Err() != nil {
				return
			}
			if during != nil {
				during(v)
			}
			if v%20 == 0 {
				time.Sleep(time.Millisecond)
			}
			assert.NoError(t, publish(v))
		}
	}()
	defer func() { cancel(); <-published }()
	if transport == "passive" {
		// Passive pages receive only on the replies to their calls.
		go func() {
			for ctx.Err() == nil {
				var out string
				_ = c.Call(ctx, "Echo", "echo", &out, "tick")
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	if !assert.Eventually(t, func() bool { return count() >= n }, 90*time.Second, 5*time.Millisecond) {
		t.Fatalf("received %d of %d; client %+v, session %q", count(), n, c.Stats(), c.Session())
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for i, v := range got {
		if v != i {
			t.Fatalf("message %d is %d: not once and in order (%d received); around it: %v",
				i, v, len(got), got[max(0, i-5):min(len(got), i+5)])
		}
	}
	require.Len(t, got, n, "exactly once")
	assert.Zero(t, gaps.Load(), "no gap")
	assert.Positive(t, proxy.cuts.Load(), "the proxy did cut connections")
	t.Logf("%s: %d connections cut, %d duplicates dropped, %d retries",
		transport, proxy.cuts.Load(), c.Stats().Duplicates, c.Stats().Reconnects)
}

// TestPollingTakesABacklogWithoutWaiting checks that a polling page polls
// again at once after a reply that left messages for the next one: a
// backlog of several replies arrives whole long before the interval.
func TestPollingTakesABacklogWithoutWaiting(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hub, addr := wrappedServer(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/parley/poll" {
				<-release // the first poll waits for the backlog
			}
			next.ServeHTTP(w, r)
		})
	}, reverse.WithLimits(reverse.Limits{OutboxBytes: 4 << 20}))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c, err := client.New("http://"+addr+"/parley/", client.WithTransport("poll"), client.WithPage("/p"),
		client.WithPollInterval(time.Hour), client.WithHTTPClient(&http.Client{Transport: tr, Jar: jar}))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx, func(client.Message) { got.Add(1) })
	}()
	defer func() { cancel(); <-done }()
	require.Eventually(t, func() bool { return c.Session() != "" }, 10*time.Second, time.Millisecond)
	const count = 40 // 400 KiB: four replies at least
	for range count {
		require.NoError(t, hub.Page("/p").Call("f", strings.Repeat("x", 10<<10)))
	}
	close(release)
	require.Eventually(t, func() bool { return got.Load() == count }, 30*time.Second, time.Millisecond,
		"the whole backlog, not one reply and an hour's wait")
	assert.Equal(t, uint64(0), c.Stats().Gaps)
}
