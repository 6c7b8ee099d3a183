package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

// netSwitch is a TCP proxy in front of a server that can take the network
// down, dropping every connection and refusing new ones, and bring it back.
type netSwitch struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func newNetSwitch(t *testing.T, target string) *netSwitch {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	n := &netSwitch{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil || !n.track(c, up) {
				c.Close()
				if up != nil {
					up.Close()
				}
				continue
			}
			for _, pair := range [][2]net.Conn{{c, up}, {up, c}} {
				wg.Go(func() {
					_, _ = io.Copy(pair[0], pair[1])
					pair[0].Close()
					pair[1].Close()
				})
			}
		}
	})
	t.Cleanup(func() { ln.Close(); n.set(true); wg.Wait() })
	return n
}

// track keeps c and up to drop them later; it refuses them while down.
func (n *netSwitch) track(c, up net.Conn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down {
		return false
	}
	n.conns[c], n.conns[up] = struct{}{}, struct{}{}
	return true
}

// set takes the network down, dropping every connection, or brings it back.
func (n *netSwitch) set(down bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down = down
	if down {
		for c := range n.conns {
			c.Close()
		}
		clear(n.conns)
	}
}

// transportServer serves the transports test page with an Echo service.
func transportServer(t *testing.T) (*reverse.Hub, string) {
	t.Helper()
	return transportServerWith(t, serve)
}

// transportServerWith is transportServer on a server that start starts
// (serve or serveTLS), with the hub's options opts besides.
func transportServerWith(t *testing.T, start func(testing.TB, http.Handler) string, opts ...reverse.Option) (*reverse.Hub, string) {
	t.Helper()
	return gatedTransportServer(t, start, nil, opts...)
}

// gatedTransportServer is transportServerWith with gate, if not nil, run
// before each request.
func gatedTransportServer(t *testing.T, start func(testing.TB, http.Handler) string, gate func(*http.Request), opts ...reverse.Option) (*reverse.Hub, string) {
	t.Helper()
	hub := reverse.NewHub(append([]reverse.Option{reverse.WithTransports(reverse.Transports{PollInterval: 100 * time.Millisecond})}, opts...)...)
	t.Cleanup(hub.Close)
	srv := rpc.NewServer(rpc.WithHub(hub))
	srv.Register(rpc.ServiceDesc{Name: "Echo", Methods: []rpc.MethodDesc{{
		Name: "echo", Params: []string{"v"},
		Handler: func(ctx context.Context, args rpc.Args) (any, error) {
			var v string
			err := args.Decode(0, &v)
			return v, err
		},
	}}})
	mux := http.NewServeMux()
	mux.Handle("/parley/", srv)
	mux.Handle("/transports/", http.StripPrefix("/transports/", http.FileServer(http.Dir("testdata/transports"))))
	if gate == nil {
		return hub, start(t, mux)
	}
	return hub, start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gate(r)
		mux.ServeHTTP(w, r)
	}))
}

// setOffline cuts the page's network, or gives it back: the connections
// drop, and the browser reports itself offline as DevTools makes it.
func setOffline(t *testing.T, ctx context.Context, sw *netSwitch, offline bool) {
	t.Helper()
	sw.set(offline)
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	_, err = chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{Offline: offline, DownloadThroughput: -1, UploadThroughput: -1}},
	})
	require.NoError(t, err)
	_, err = chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{
		Offline: offline, DownloadThroughput: -1, UploadThroughput: -1,
	})
	require.NoError(t, err)
}

// TestTransportsInChromium forces each transport in a real page, sends it
// reverse calls, cuts its network while more are sent, and gives the
// network back: every call must run exactly once, in order. It does so
// over plain HTTP/1.1 and over TLS, where every request and held stream
// must go over HTTP/2.
func TestTransportsInChromium(t *testing.T) {
	for _, sc := range schemes {
		t.Run(sc.name, func(t *testing.T) { transportsInChromium(t, sc) })
	}
}

// transportsInChromium runs TestTransportsInChromium over sc.
func transportsInChromium(t *testing.T, sc scheme) {
	for _, tc := range []struct{ ask, want string }{
		{"auto", "websocket"}, {"websocket", "websocket"}, {"sse", "sse"}, {"longpoll", "longpoll"}, {"poll", "poll"}, {"passive", "passive"},
	} {
		t.Run(tc.ask, func(t *testing.T) {
			hub, url := transportServerWith(t, sc.serve)
			sw := newNetSwitch(t, strings.TrimPrefix(url, sc.name+"://"))
			ctx := newUser(t)
			protos := watchProtocols(t, ctx)
			openPage(t, ctx, sc.name+"://"+sw.ln.Addr().String()+"/transports/?transport="+tc.ask)
			assert.Equal(t, tc.want, eval[string](t, ctx, `parley.transport`))
			page := hub.Session(eval[string](t, ctx, `document.body.dataset.session`))
			want := func(n int) string {
				return fmt.Sprintf(`window.received.length >= %d`, n)
			}
			tick := func() {
				if tc.want == "passive" {
					eval[chromedp.Void](t, ctx, `tick()`)
				}
			}

			for i := range 50 {
				require.NoError(t, page.Call("f", i))
			}
			tick()
			waitFor(t, ctx, want(50))

			setOffline(t, ctx, sw, true)
			waitFor(t, ctx, `!navigator.onLine && window.states.includes("offline")`)
			for i := 50; i < 100; i++ {
				require.NoError(t, page.Call("f", i))
			}
			time.Sleep(300 * time.Millisecond) // let the page try, and fail, while offline
			assert.Equal(t, 50, eval[int](t, ctx, `window.received.length`), "nothing arrives while offline")
			setOffline(t, ctx, sw, false)
			tick()
			waitFor(t, ctx, want(100))
			time.Sleep(200 * time.Millisecond) // room for a late duplicate to show
			tick()

			got := eval[[]int](t, ctx, `window.received`)
			require.Len(t, got, 100, "exactly once")
			for i, v := range got {
				require.Equal(t, i, v, "in order")
			}
			assert.Empty(t, eval[[]string](t, ctx, `window.gaps`), "nothing was lost")
			assert.Equal(t, tc.want, eval[string](t, ctx, `parley.transport`))
			protos.check(t, ctx, tc.want, sc.proto)
			if tc.want == "longpoll" && sc.proto == "http/1.1" {
				assert.NotZero(t, hub.Stats().KeptServed, "Chromium's next polls came on kept connections, served by the hub")
			}
		})
	}
}

// TestPageHideEndsTheSession checks the beacon: leaving a page ends its
// session at once, not after the timeout.
func TestPageHideEndsTheSession(t *testing.T) {
	hub, url := transportServer(t)
	ctx := newUser(t)
	openPage(t, ctx, url+"/transports/?transport=longpoll")
	sid := eval[string](t, ctx, `document.body.dataset.session`)
	require.Equal(t, 1, hub.Len())
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	require.Eventually(t, func() bool { return hub.Len() == 0 }, 10*time.Second, 10*time.Millisecond,
		"session %s still open after the page left", sid)
}

// TestLargeBacklogInChromium sends a page a backlog of 2 MiB, many times
// what one reply may carry, on long-poll and on polling at an interval of
// a minute: it arrives whole, once and in order, in replies each of which
// says whether more wait, and the polling page asks for them at once.
func TestLargeBacklogInChromium(t *testing.T) {
	for _, transport := range []string{"longpoll", "poll"} {
		t.Run(transport, func(t *testing.T) {
			// The page's first poll waits for the backlog.
			release, polled := make(chan struct{}), make(chan struct{}, 1)
			hub, url := gatedTransportServer(t, serve, func(r *http.Request) {
				if r.URL.Path == "/parley/poll" {
					select {
					case polled <- struct{}{}:
					default:
					}
					<-release
				}
			}, reverse.WithLimits(reverse.Limits{OutboxBytes: 4 << 20}))
			ctx := newUser(t)
			openPage(t, ctx, url+"/transports/?interval=60000&transport="+transport)
			<-polled
			page := hub.Session(eval[string](t, ctx, `document.body.dataset.session`))
			const count = 100
			pad := strings.Repeat("x", 20<<10)
			for i := range count {
				require.NoError(t, page.Call("f", i, pad))
			}
			close(release)
			waitFor(t, ctx, fmt.Sprintf(`window.received.length >= %d`, count))
			time.Sleep(200 * time.Millisecond) // room for a late duplicate to show
			got := eval[[]int](t, ctx, `window.received`)
			require.Len(t, got, count, "exactly once")
			for i, v := range got {
				require.Equal(t, i, v, "in order")
			}
			assert.Empty(t, eval[[]string](t, ctx, `window.gaps`), "nothing was lost")
			assert.Equal(t, transport, eval[string](t, ctx, `parley.transport`))
		})
	}
}
