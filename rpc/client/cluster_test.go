package client_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/reverse/natsbp"
	"github.com/parley-go/parley/reverse/natsbp/embedded"
	"github.com/parley-go/parley/reverse/redisbp"
	"github.com/parley-go/parley/reverse/redisbp/redistest"
	"github.com/parley-go/parley/rpc"
)

// node is one server of a cluster: its hub on the bus, and its listener.
type node struct {
	hub  *reverse.Hub
	addr string
	kill func()
}

// bus connects a server to the cluster's bus, named name, as a process
// of its own would: it returns the server's backplane, and a function
// that drops its connection, as the process's death would.
type bus func(t *testing.T, name string) (bp reverse.Backplane, drop func())

// natsBus connects to the NATS server at url.
func natsBus(url string) bus {
	return func(t *testing.T, name string) (reverse.Backplane, func()) {
		nc, err := nats.Connect(url, nats.MaxReconnects(-1))
		require.NoError(t, err)
		bp, err := natsbp.New(nc, natsbp.WithName(name))
		require.NoError(t, err)
		t.Cleanup(bp.Close)
		return bp, nc.Close
	}
}

// redisBus connects to the Redis server at addr.
func redisBus(addr string) bus {
	return func(t *testing.T, name string) (reverse.Backplane, func()) {
		c := redis.NewClient(&redis.Options{Addr: addr})
		bp, err := redisbp.New(c, redisbp.WithPrefix(name))
		require.NoError(t, err)
		t.Cleanup(func() { bp.Close(); c.Close() })
		return bp, func() { c.Close() }
	}
}

// startNode starts a server on addr (any port if empty) whose hub joins
// the bus name, with the cluster's cookie key.
func startNode(t *testing.T, addr string, join bus, name string, key []byte) *node {
	t.Helper()
	bp, drop := join(t, name)
	hub := reverse.NewHub(append(chaosOptions(), reverse.WithBackplane(bp))...)
	ts := httptest.NewUnstartedServer(handler(hub, rpc.WithCookieKeys(key), rpc.WithSessionStore(sessions.NewCookieStore(key))))
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		require.NoError(t, err)
		ts.Listener.Close()
		ts.Listener = ln
	}
	ts.Start()
	n := &node{hub: hub, addr: ts.Listener.Addr().String()}
	var once sync.Once
	// kill stops the node as SIGKILL would: its connections and its bus
	// connection drop, and nothing of it says goodbye.
	n.kill = func() {
		once.Do(func() {
			drop()
			ts.Listener.Close()
			ts.CloseClientConnections()
		})
	}
	t.Cleanup(func() {
		n.kill()
		hub.Close() // before the server: its handlers may wait for the hub
		ts.Close()
	})
	return n
}

// haproxy runs haproxy in front of servers, round robin with no
// stickiness, each request on a connection of its own to a server, and
// returns its address. Under CI a missing haproxy fails the test;
// elsewhere it skips it, saying how to install it.
func haproxy(t *testing.T, servers ...string) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		bin = "/usr/sbin/haproxy" // where Debian installs it, off a user's PATH
		if _, err := os.Stat(bin); err != nil {
			const msg = "no haproxy found: run `make test`, which installs it (as root: apt-get install -y haproxy)"
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `defaults
	mode http
	timeout connect 5s
	timeout client 1h
	timeout server 1h
	timeout tunnel 1h
	option http-server-close
	option redispatch
	retries 3
frontend parley
	bind %s
	default_backend servers
backend servers
	balance roundrobin
	option httpchk GET /parley/health
	http-check expect status 200
`, addr)
	for i, s := range servers {
		fmt.Fprintf(&cfg, "\tserver s%d %s check inter 200ms fall 1 rise 1\n", i, s)
	}
	name := filepath.Join(t.TempDir(), "haproxy.cfg")
	require.NoError(t, os.WriteFile(name, []byte(cfg.String()), 0o600))
	cmd := exec.Command(bin, "-db", "-f", name)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy printed:\n%s", out)
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/parley/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "haproxy does not answer")
	return addr
}

// clusterTransports are the transports of the cluster's exactly-once test:
// all of them.
var clusterTransports = []string{"longpoll", "sse", "websocket", "poll", "passive"}

// TestClusterExactlyOnceThroughACuttingProxy runs the exactly-once test
// on every transport against three servers sharing
// a bus, NATS JetStream and Redis, behind haproxy in round robin with no
// stickiness, through a proxy that cuts connections at random, while all
// three servers send the calls. A third of the way through, one server
// is killed; two thirds of the way, it starts again.
func TestClusterExactlyOnceThroughACuttingProxy(t *testing.T) {
	t.Run("nats", func(t *testing.T) {
		srv, err := embedded.Start(t.TempDir())
		require.NoError(t, err)
		t.Cleanup(srv.Shutdown)
		clusterExactlyOnce(t, natsBus(srv.URL()), clusterTransports...)
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
		clusterExactlyOnce(t, redisBus(srv.Addr()), clusterTransports...)
	})
}

// clusterExactlyOnce runs the cluster's exactly-once test on each
// transport, the servers joining the bus with join.
func clusterExactlyOnce(t *testing.T, join bus, transports ...string) {
	key := []byte("0123456789abcdef0123456789abcdef")
	for i, transport := range transports {
		// One at a time: each runs three servers, haproxy and a page.
		t.Run(transport, func(t *testing.T) {
			var mu sync.Mutex
			var nodes []*node
			for range 3 {
				nodes = append(nodes, startNode(t, "", join, transport, key))
			}
			balancer := haproxy(t, nodes[0].addr, nodes[1].addr, nodes[2].addr)
			proxy := newChaosProxy(t, uint64(i+1), balancer)
			live := func() []*node { mu.Lock(); defer mu.Unlock(); return nodes }
			dead := nodes[1]
			during := func(v int) {
				switch v {
				case chaosCalls / 3:
					mu.Lock()
					nodes = []*node{nodes[0], nodes[2]}
					mu.Unlock()
					dead.kill()
				case 2 * chaosCalls / 3:
					again := startNode(t, dead.addr, join, transport, key)
					mu.Lock()
					nodes = append(nodes, again)
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
