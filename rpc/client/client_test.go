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
	srv := rpc.NewServer(rpc.WithHub(hub))
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
	var h http.Handler = mux
	if wrap != nil {
		h = wrap(mux)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() { hub.Close(); ts.Close() })
	return hub, ts.Listener.Addr().String()
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

// chaosProxy forwards TCP connections to target and cuts every one of them
// after a random lifetime, many also after a random number of bytes in
// either direction: requests and replies are lost whole or halfway.
type chaosProxy struct {
	ln     net.Listener
	target string
	cuts   atomic.Int64
	wg     sync.WaitGroup
}

func newChaosProxy(t *testing.T, target string, seed uint64) *chaosProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &chaosProxy{ln: ln, target: target}
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
			up, err := net.Dial("tcp", target)
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

// TestExactlyOnceThroughACuttingProxy sends 10,000 reverse calls to a page
// over each transport while a proxy cuts connections at random: every call
// must be handled once, in order, with no gap.
func TestExactlyOnceThroughACuttingProxy(t *testing.T) {
	const n = 10_000
	for i, transport := range []string{"longpoll", "sse", "poll", "passive", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			hub, addr := server(t,
				reverse.WithLimits(reverse.Limits{OutboxMessages: n + 1, OutboxBytes: 64 << 20}),
				reverse.WithTransports(reverse.Transports{PollInterval: 5 * time.Millisecond, Heartbeat: 50 * time.Millisecond}))
			proxy := newChaosProxy(t, addr, uint64(i+1))
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
			c.OnGap(func(string) { gaps.Add(1) })

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
			go func() {
				// Bursts with pauses, so that many replies cross the proxy.
				for v := range n {
					if v%20 == 0 {
						time.Sleep(time.Millisecond)
					}
					assert.NoError(t, hub.Page("/chaos").Call("f", v))
				}
			}()
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
			require.Eventually(t, func() bool { return count() >= n }, 90*time.Second, 5*time.Millisecond,
				"received %d of %d", count(), n)
			cancel()
			<-done
			mu.Lock()
			defer mu.Unlock()
			require.Len(t, got, n, "exactly once")
			for i, v := range got {
				if v != i {
					t.Fatalf("message %d is %d: not in order", i, v)
				}
			}
			assert.Zero(t, gaps.Load(), "no gap")
			assert.Positive(t, proxy.cuts.Load(), "the proxy did cut connections")
			t.Logf("%s: %d connections cut, %d duplicates dropped, %d retries",
				transport, proxy.cuts.Load(), c.Stats().Duplicates, c.Stats().Reconnects)
		})
	}
}
