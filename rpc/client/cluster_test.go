package client_test

import (
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/gorilla/sessions"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/reverse/natsbp"
	"github.com/parley-go/parley/reverse/natsbp/embedded"
	"github.com/parley-go/parley/rpc"
)

// node is one server of a cluster: its hub on the bus, and its listener.
type node struct {
	hub  *reverse.Hub
	nc   *nats.Conn
	addr string
	kill func()
}

// startNode starts a server whose hub joins the bus name on the NATS at
// url, with the cluster's cookie key.
func startNode(t *testing.T, url, name string, key []byte) *node {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	require.NoError(t, err)
	bp, err := natsbp.New(nc, natsbp.WithName(name))
	require.NoError(t, err)
	hub := reverse.NewHub(append(chaosOptions(), reverse.WithBackplane(bp))...)
	ts := httptest.NewServer(handler(hub, rpc.WithCookieKeys(key), rpc.WithSessionStore(sessions.NewCookieStore(key))))
	n := &node{hub: hub, nc: nc, addr: ts.Listener.Addr().String()}
	var once sync.Once
	// kill stops the node as SIGKILL would: its connections and its bus
	// connection drop, and nothing of it says goodbye.
	n.kill = func() {
		once.Do(func() {
			nc.Close()
			ts.Listener.Close()
			ts.CloseClientConnections()
		})
	}
	t.Cleanup(func() {
		n.kill()
		ts.Close()
		hub.Close()
		bp.Close()
	})
	return n
}

// TestClusterExactlyOnceThroughACuttingProxy runs the exactly-once test
// against three servers sharing a NATS JetStream bus, reached through a
// proxy that sends every connection to the next server (no stickiness)
// and cuts connections at random, while all three send the calls. A third
// of the way through, one server is killed; two thirds of the way, a new
// one takes its place.
func TestClusterExactlyOnceThroughACuttingProxy(t *testing.T) {
	srv, err := embedded.Start(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	key := []byte("0123456789abcdef0123456789abcdef")
	for i, transport := range []string{"longpoll", "sse", "poll", "passive", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var nodes []*node
			var deadAddr string
			for range 3 {
				nodes = append(nodes, startNode(t, srv.URL(), transport, key))
			}
			proxy := newChaosProxy(t, uint64(i+1), nodes[0].addr, nodes[1].addr, nodes[2].addr)
			live := func() []*node { mu.Lock(); defer mu.Unlock(); return nodes }
			during := func(v int) {
				switch v {
				case chaosCalls / 3:
					dead := nodes[1]
					mu.Lock()
					nodes = []*node{nodes[0], nodes[2]}
					mu.Unlock()
					dead.kill()
					deadAddr = dead.addr
				case 2 * chaosCalls / 3:
					fresh := startNode(t, srv.URL(), transport, key)
					proxy.replace(deadAddr, fresh.addr)
					mu.Lock()
					nodes = append(nodes, fresh)
					mu.Unlock()
				}
			}
			exactlyOnce(t, proxy, transport, func(v int) error {
				l := live()
				return l[v%len(l)].hub.Page("/chaos").Call("f", v)
			}, during)
		})
	}
}
