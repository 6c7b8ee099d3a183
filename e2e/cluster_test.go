package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse/natsbp/embedded"
	"github.com/parley-go/parley/reverse/redisbp/redistest"
)

// clusterTransports are the transports the cluster tests open pages on.
var clusterTransports = []string{"websocket", "sse", "longpoll", "poll", "passive"}

// clusterBus is a bus the cluster tests run the chat servers on.
type clusterBus struct {
	name string
	// start starts the bus for the test, with its files under dir, and
	// returns the chat server's flags that join it.
	start func(t *testing.T, dir string) []string
}

// clusterBuses are the buses every cluster test runs on, each in a
// subtest of its name: the embedded NATS with JetStream, and a real
// redis-server that writes every entry to its append-only file before it
// answers.
var clusterBuses = []clusterBus{
	{"nats", func(t *testing.T, dir string) []string {
		bus, err := embedded.Start(filepath.Join(dir, "nats"))
		require.NoError(t, err)
		t.Cleanup(bus.Shutdown)
		return []string{"-nats", bus.URL()}
	}},
	{"redis", func(t *testing.T, _ string) []string {
		srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
		return []string{"-redis", srv.Addr()}
	}},
}

// haproxyBinary finds haproxy, on PATH or where Debian installs it, or
// skips the test (fails it under CI) with how to install it.
func haproxyBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy"
	}
	const msg = "no haproxy found: run `make test`, which installs it (as root: apt-get install -y haproxy)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// tail keeps the last lines written to it, for a failing test's report.
type tail struct {
	mu    sync.Mutex
	lines []string
}

// add keeps line, dropping the oldest past 60.
func (l *tail) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	if len(l.lines) > 60 {
		l.lines = l.lines[len(l.lines)-60:]
	}
}

// String returns the lines kept.
func (l *tail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// chatNode is one chat server process of a test cluster.
type chatNode struct {
	name string
	addr string // 127.0.0.1:PORT, the same across restarts
	out  tail   // what it printed, both streams

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// chatCluster is the chat binary run as three servers on one bus, behind
// haproxy in round robin with no stickiness.
type chatCluster struct {
	bin, key   string
	busArgs    []string // the servers' flags that join the bus
	nodes      []*chatNode
	url        string // haproxy's, with a trailing slash
	haproxyLog string // the file haproxy logs every request to
}

// startChatCluster builds the chat, and starts bus, three chat servers on
// it and haproxy for the test's duration. When the test fails, it logs what
// each server printed last and haproxy's log.
func startChatCluster(t *testing.T, bus clusterBus) *chatCluster {
	t.Helper()
	haproxy := haproxyBinary(t)
	dir := t.TempDir()
	c := &chatCluster{bin: filepath.Join(dir, "chat"), haproxyLog: filepath.Join(dir, "haproxy.log")}
	build := exec.Command("go", "build", "-o", c.bin, "github.com/parley-go/parley/examples/chat")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the chat: %v\n%s", err, out)
	}
	c.busArgs = bus.start(t, dir)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	c.key = hex.EncodeToString(key)

	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, n := range c.nodes {
			t.Logf("%s (%s) printed last:\n%s", n.name, n.addr, n.out.String())
		}
		if log, err := os.ReadFile(c.haproxyLog); err == nil {
			lines := strings.Split(strings.TrimSpace(string(log)), "\n")
			t.Logf("haproxy's log, last lines:\n%s", strings.Join(lines[max(0, len(lines)-80):], "\n"))
		}
	})
	for i := range 3 {
		n := &chatNode{name: fmt.Sprintf("node%d", i+1), addr: "127.0.0.1:0"}
		c.start(t, n)
		c.nodes = append(c.nodes, n)
		t.Cleanup(func() { c.stop(n) })
	}
	c.startHAProxy(t, haproxy, dir)
	return c
}

// start runs the chat server n, and waits until it prints its URL.
func (c *chatCluster) start(t *testing.T, n *chatNode) {
	t.Helper()
	cmd := exec.Command(c.bin, append([]string{"-addr", n.addr}, c.busArgs...)...)
	cmd.Env = append(os.Environ(), "PARLEY_COOKIE_KEY="+c.key)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	url := make(chan string, 1)
	var reading sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		reading.Go(func() {
			lines := bufio.NewScanner(r)
			for lines.Scan() {
				line := lines.Text()
				n.out.add(line)
				if _, u, ok := strings.Cut(line, "Parley chat: "); ok {
					url <- u
				}
			}
		})
	}
	go func() {
		reading.Wait()
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case u := <-url:
		n.addr = strings.TrimSuffix(strings.TrimPrefix(u, "http://"), "/")
	case <-done:
		t.Fatalf("%s exited before it printed its URL:\n%s", n.name, n.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s printed no URL:\n%s", n.name, n.out.String())
	}
}

// kill ends the server n at once, with SIGKILL, as a crash would.
func (c *chatCluster) kill(n *chatNode) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop ends the server n as an operator would, with SIGTERM, and kills it
// if it has not exited after 10 seconds.
func (c *chatCluster) stop(n *chatNode) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// startHAProxy runs haproxy in front of the servers: round robin with no
// stickiness, each request on a connection of its own to a server, so
// that every request of a page may go to another server. It logs each
// request as "SERVER BROWSER-ID METHOD URI STATUS", BROWSER-ID being the
// browser's parley_id cookie.
func (c *chatCluster) startHAProxy(t *testing.T, haproxy, dir string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `global
	log stdout format raw local0
defaults
	mode http
	log global
	timeout connect 5s
	timeout client 1h
	timeout server 1h
	timeout tunnel 1h
	timeout http-request 10s
	timeout http-keep-alive 2m
	option http-server-close
	option redispatch
	retries 3
frontend chat
	bind %s
	http-request capture req.cook(parley_id) len 100
	log-format "%%s %%[capture.req.hdr(0)] %%HM %%HU %%ST"
	default_backend nodes
backend nodes
	balance roundrobin
	option httpchk GET /parley/health
	http-check expect status 200
`, addr)
	for _, n := range c.nodes {
		fmt.Fprintf(&cfg, "\tserver %s %s check inter 500ms fall 2 rise 1\n", n.name, n.addr)
	}
	name := filepath.Join(dir, "haproxy.cfg")
	require.NoError(t, os.WriteFile(name, []byte(cfg.String()), 0o600))
	logFile, err := os.Create(c.haproxyLog)
	require.NoError(t, err)
	cmd := exec.Command(haproxy, "-db", "-f", name)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logFile.Close()
	})
	c.url = "http://" + addr + "/"
	require.Eventually(t, func() bool {
		resp, err := http.Get(c.url + "parley/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "haproxy does not answer")
}

// held returns the number of connections the server n holds for pages on
// transport, from its metrics; for polling and passive pages, which hold
// none, the number of their sessions it holds.
func (c *chatCluster) held(n *chatNode, transport string) int {
	resp, err := http.Get("http://" + n.addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	prefix := fmt.Sprintf(`parley_reverse_held_connections{transport=%q} `, transport)
	if transport == "poll" || transport == "passive" {
		// These hold no connection: the server that holds the session.
		prefix = fmt.Sprintf(`parley_reverse_sessions{transport=%q} `, transport)
	}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), prefix); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int(f)
		}
	}
	return 0
}

// servedBrowser returns the servers that haproxy sent the Parley requests
// (under /parley/) of the browser with the id cookie value cookie to.
func (c *chatCluster) servedBrowser(t *testing.T, cookie string) []string {
	t.Helper()
	log, err := os.ReadFile(c.haproxyLog)
	require.NoError(t, err)
	var servers []string
	for line := range strings.Lines(string(log)) {
		f := strings.Fields(line)
		if len(f) == 5 && f[1] == cookie && strings.HasPrefix(f[3], "/parley/") && !slices.Contains(servers, f[0]) {
			servers = append(servers, f[0])
		}
	}
	slices.Sort(servers)
	return servers
}

// chatSender posts chat messages through the balancer as a client of its
// own, with no page: a JSON call as the runtime sends it.
type chatSender struct {
	url    string
	client *http.Client
}

func newChatSender(t *testing.T, url string) *chatSender {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &chatSender{url: url, client: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// send posts text and returns the message's id.
func (s *chatSender) send(t *testing.T, text string) int64 {
	t.Helper()
	body, err := json.Marshal(map[string]any{"calls": []any{map[string]any{"id": 1, "service": "Chat", "method": "send", "args": []string{text}}}})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.url+"parley/call", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Parley", "1")
	req.Header.Set("Origin", strings.TrimSuffix(s.url, "/"))
	resp, err := s.client.Do(req)
	require.NoError(t, err, "sending %q", text)
	defer resp.Body.Close()
	var reply struct {
		Results []struct {
			Result int64           `json:"result"`
			Error  json.RawMessage `json:"error"`
		} `json:"results"`
	}
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "sending %q: %s", text, raw)
	require.NoError(t, json.Unmarshal(raw, &reply), "%s", raw)
	require.Len(t, reply.Results, 1, "%s", raw)
	require.Empty(t, reply.Results[0].Error, "sending %q", text)
	return reply.Results[0].Result
}

// browserID returns the value of the page's browser id cookie.
func browserID(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	require.NoError(t, err)
	for _, c := range res.Cookies {
		if c.Name == "parley_id" {
			return c.Value
		}
	}
	t.Fatalf("the page has no parley_id cookie")
	return ""
}

// watchGaps records the gaps the page's runtime reports in window.gaps.
const watchGaps = `import("/parley/engine.js").then(m => {
	window.gaps = [];
	m.default.on("gap", (g) => window.gaps.push(g.reason));
})`

// shownTexts returns the texts of the messages the chat page shows that
// start with prefix, in the order shown.
func shownTexts(t *testing.T, ctx context.Context, prefix string) []string {
	t.Helper()
	var texts []string
	for _, m := range eval[[]shown](t, ctx, readMessages) {
		if strings.HasPrefix(m.Text, prefix) {
			texts = append(texts, m.Text)
		}
	}
	return texts
}

// keepCalling makes a passive chat page call the server every 100 ms, as
// a page of an application that calls now and then does: it receives on
// the replies to its calls alone.
func keepCalling(t *testing.T, ctx context.Context, transport string) {
	t.Helper()
	if transport == "passive" {
		eval[chromedp.Void](t, ctx, `import("/parley/interface/Chat.js").then(m => { setInterval(() => m.Chat.history().catch(() => {}), 100); })`)
	}
}

// TestClusterTransports opens a chat page on each held transport through
// haproxy in front of three chat servers that share their pages over a
// bus, NATS or Redis, with no sticky sessions, and posts messages through
// the balancer while the server that holds the page's connection is
// killed with SIGKILL and restarted: the page must show every message
// exactly once, in order, with no gap, and its requests must have been
// served by more than one server.
func TestClusterTransports(t *testing.T) {
	for _, bus := range clusterBuses {
		t.Run(bus.name, func(t *testing.T) {
			c := startChatCluster(t, bus)
			sender := newChatSender(t, c.url)
			for _, transport := range clusterTransports {
				t.Run(transport, func(t *testing.T) { clusterTransport(t, c, sender, transport) })
			}
		})
	}
}

// clusterTransport is TestClusterTransports on one transport.
func clusterTransport(t *testing.T, c *chatCluster, sender *chatSender, transport string) {
	ctx := newUserFor(t, 90*time.Second)
	openPage(t, ctx, c.url+"?transport="+transport)
	assert.Equal(t, transport, eval[string](t, ctx, `import("/parley/engine.js").then(m => m.default.transport)`))
	eval[chromedp.Void](t, ctx, watchGaps)
	keepCalling(t, ctx, transport)

	var want []string
	send := func(from, to int) {
		for i := from; i < to; i++ {
			text := fmt.Sprintf("%s-%d", transport, i)
			sender.send(t, text)
			want = append(want, text)
		}
	}
	shows := func(n int) string {
		return fmt.Sprintf(`[...document.querySelectorAll("#messages li span")].filter(s => s.textContent.startsWith(%q)).length >= %d`, transport+"-", n)
	}
	send(0, 20)
	waitFor(t, ctx, shows(20))

	// The server that holds the page's connection now dies while
	// messages are on their way.
	var holder *chatNode
	require.Eventually(t, func() bool {
		for _, n := range c.nodes {
			if c.held(n, transport) > 0 {
				holder = n
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "no server holds the page's connection")
	send(20, 25)
	c.kill(holder)
	t.Logf("killed %s, which held the page's %s", holder.name, transport)
	send(25, 45)
	c.start(t, holder)
	send(45, 60)

	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](shows(60), chromedp.WithPollingTimeout(45*time.Second))); err != nil {
		t.Fatalf("the page shows %v, not all 60 messages (%v); gaps %v", shownTexts(t, ctx, transport+"-"), err, eval[[]string](t, ctx, `window.gaps`))
	}
	time.Sleep(500 * time.Millisecond) // room for a late duplicate to show
	assert.Equal(t, want, shownTexts(t, ctx, transport+"-"), "every message exactly once, in order")
	assert.Empty(t, eval[[]string](t, ctx, `window.gaps`), "nothing was lost")
	assert.Equal(t, transport, eval[string](t, ctx, `import("/parley/engine.js").then(m => m.default.transport)`))

	servers := c.servedBrowser(t, browserID(t, ctx, c.url))
	t.Logf("the page's Parley requests went to %v", servers)
	assert.GreaterOrEqual(t, len(servers), 2, "the page's requests went to more than one server: %v", servers)
}

// TestClusterChat has a user on each transport in the chat, through
// haproxy in front of three chat servers that share their pages over a
// bus, NATS or Redis, with no sticky sessions: each sends a message, and
// every page shows all of them once, in the same order.
func TestClusterChat(t *testing.T) {
	names := []string{"alice", "bob", "carol", "dave", "erin", "frank"}
	require.LessOrEqual(t, len(clusterTransports), len(names), "a name for each transport's user")
	for _, bus := range clusterBuses {
		t.Run(bus.name, func(t *testing.T) {
			c := startChatCluster(t, bus)
			type user struct {
				name, transport string
				ctx             context.Context
			}
			var users []user
			for i, transport := range clusterTransports {
				u := user{name: names[i], transport: transport, ctx: newUser(t)}
				openPage(t, u.ctx, c.url+"?transport="+u.transport)
				keepCalling(t, u.ctx, transport)
				eval[chromedp.Void](t, u.ctx, fmt.Sprintf(`import("/parley/interface/Chat.js").then(m => m.Chat.setName(%q))`, u.name))
				users = append(users, u)
			}
			for _, u := range users {
				send(t, u.ctx, "hello from "+u.name)
			}
			var pages [][]shown
			for _, u := range users {
				waitFor(t, u.ctx, fmt.Sprintf(`document.querySelectorAll("#messages li").length >= %d`, len(users)))
				time.Sleep(200 * time.Millisecond) // room for a late duplicate to show
				pages = append(pages, eval[[]shown](t, u.ctx, readMessages))
			}
			require.Len(t, pages[0], len(users), "every message exactly once")
			for i, m := range pages[0] {
				assert.Equal(t, users[i].name, m.Author)
				assert.Equal(t, "hello from "+users[i].name, m.Text)
			}
			for i, u := range users[1:] {
				assert.Equal(t, pages[0], pages[i+1], "%s sees what %s sees, in the same order", u.name, users[0].name)
			}
		})
	}
}
