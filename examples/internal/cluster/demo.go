package cluster

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/parley-go/parley/reverse/natsbp/embedded"
)

// Timing of the demo's servers.
const (
	// startTimeout bounds how long a server may take to print its URL.
	startTimeout = 30 * time.Second
	// restartDelay is how long the demo waits before it restarts a
	// server that died.
	restartDelay = time.Second
	// stopTimeout is how long a server may take to shut down after
	// SIGTERM before it is killed.
	stopTimeout = 10 * time.Second
)

// Demo runs a cluster of the running program on loopback: an embedded
// NATS server with JetStream (or the Redis server at Redis), Nodes copies
// of the program as its servers, and a round-robin load balancer on Addr
// in front of them that keeps no sticky sessions, so each request may go
// to another server.
type Demo struct {
	// Name names the application in what the demo prints, such as "chat".
	Name string
	// Nodes is how many servers run; at least 1.
	Nodes int
	// Addr is where the balancer listens, such as "localhost:8080".
	Addr string
	// Health is the path at which the balancer checks each server's
	// health, such as "/parley/health": a server that does not answer it
	// with 200 gets no requests. Empty: the balancer checks that the
	// server accepts connections.
	Health string
	// Redis is the address of a running Redis server, host:port or a
	// redis:// URL (see RedisOptions), that the servers share instead of
	// an embedded NATS. Empty: the demo starts an embedded NATS.
	Redis string
}

// Run runs the cluster until SIGINT or SIGTERM. Each server is the
// program itself (os.Executable) run with -addr 127.0.0.1:PORT and
// -nats URL (with Redis set, -redis and Redis, so a password in it shows
// on their command lines), and with a cookie key made for the run in the
// environment variable KeyEnv (kept off the command line, which other
// users of the machine can read); it must print its URL, in a line with "://", on its
// standard output first. The balancer is haproxy when it is installed
// (on PATH, or /usr/sbin/haproxy), else one built in (see builtin). A server
// that dies is restarted on the same port after a second. On the way out
// Run stops the balancer, then the servers (SIGTERM, then a kill after
// 10 seconds), then the embedded NATS, and removes the files it made.
func (d Demo) Run() error {
	if d.Nodes < 1 {
		return fmt.Errorf("a cluster needs at least 1 server, not %d", d.Nodes)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the program to run as the servers: %w", err)
	}
	dir, err := os.MkdirTemp("", "parley-cluster-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var busArgs []string // the servers' flags that join the bus
	var busName string   // the bus, for what the demo prints
	if d.Redis == "" {
		bus, err := embedded.Start(filepath.Join(dir, "nats"))
		if err != nil {
			return err
		}
		defer bus.Shutdown()
		busArgs, busName = []string{"-nats", bus.URL()}, "NATS at "+bus.URL()
	} else {
		opts, err := RedisOptions(d.Redis)
		if err != nil {
			return err
		}
		busArgs, busName = []string{"-redis", d.Redis}, "Redis at "+opts.Addr
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read does not fail

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nodes := make([]*node, d.Nodes)
	var wg sync.WaitGroup
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.stop()
			}
		}
		wg.Wait()
	}()
	for i := range nodes {
		n := &node{
			name: fmt.Sprintf("node %d", i+1),
			exe:  exe,
			args: busArgs,
			env:  append(os.Environ(), KeyEnv+"="+hex.EncodeToString(key)),
			addr: "127.0.0.1:0",
		}
		if err := n.start(ctx); err != nil {
			return err
		}
		nodes[i] = n
		wg.Go(func() { n.supervise(ctx) })
	}

	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.addr
	}
	lb, err := startBalancer(d.Addr, addrs, d.Health, dir)
	if err != nil {
		return err
	}
	defer lb.close()
	fmt.Printf("%s cluster: %s (%d nodes, %s, balancer: %s)\n", d.Name, lb.url, d.Nodes, busName, lb.kind)
	for _, n := range nodes {
		fmt.Printf("  %s: http://%s/\n", n.name, n.addr)
	}
	select {
	case <-ctx.Done():
		fmt.Printf("%s cluster: stopping\n", d.Name)
		return nil
	case err := <-lb.done:
		return fmt.Errorf("the balancer stopped: %w", err)
	}
}

// node is one server of the demo, a child process that the demo restarts
// when it dies.
type node struct {
	name string
	exe  string
	args []string
	env  []string

	mu      sync.Mutex
	addr    string // -addr; once started, the address it listens on
	proc    *proc  // the process last started
	stopped bool
}

// proc is a process of a server.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited; err is set then
	err  error
}

// start runs the server and waits for it to print its URL. A server
// started again listens on the address it had.
func (n *node) start(ctx context.Context) error {
	n.mu.Lock()
	if n.stopped || ctx.Err() != nil {
		n.mu.Unlock()
		return context.Canceled
	}
	cmd := exec.Command(n.exe, append([]string{"-addr", n.addr}, n.args...)...)
	cmd.Env = n.env
	cmd.SysProcAttr = ownProcessGroup()
	stdout, err1 := cmd.StdoutPipe()
	stderr, err2 := cmd.StderrPipe()
	err := errors.Join(err1, err2)
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		n.mu.Unlock()
		return fmt.Errorf("starting %s: %w", n.name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	n.proc = p
	n.mu.Unlock()

	url := make(chan string, 1)
	var reading sync.WaitGroup
	reading.Go(func() { copyLines(os.Stderr, stderr, n.name, nil) })
	reading.Go(func() { copyLines(os.Stdout, stdout, n.name, url) })
	go func() {
		reading.Wait()
		p.err = cmd.Wait()
		close(p.done)
	}()
	select {
	case u := <-url:
		_, hostPort, _ := strings.Cut(u, "://")
		host, port, err := net.SplitHostPort(strings.TrimSuffix(hostPort, "/"))
		if err != nil {
			_ = cmd.Process.Kill()
			return fmt.Errorf("%s printed the URL %q: %w", n.name, u, err)
		}
		n.mu.Lock()
		n.addr = net.JoinHostPort(host, port)
		n.mu.Unlock()
		return nil
	case <-p.done:
		return fmt.Errorf("%s exited before it printed its URL: %v", n.name, p.err)
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		return fmt.Errorf("%s printed no URL in %v", n.name, startTimeout)
	}
}

// copyLines copies the lines of r to w, each after name, until r ends. If
// url is not nil, the first line with "://" is not copied: the URL in it
// is sent on url instead.
func copyLines(w io.Writer, r io.Reader, name string, url chan<- string) {
	lines := bufio.NewScanner(r)
	for lines.Scan() {
		line := lines.Text()
		if i := strings.Index(line, "://"); url != nil && i >= 0 {
			url <- strings.TrimSpace(line[strings.LastIndex(line[:i], " ")+1:])
			url = nil
			continue
		}
		fmt.Fprintf(w, "%s: %s\n", name, line)
	}
	_, _ = io.Copy(io.Discard, r)
}

// current returns the process last started.
func (n *node) current() *proc {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// supervise restarts the server whenever it dies, until ctx ends or the
// server is stopped.
func (n *node) supervise(ctx context.Context) {
	for {
		p := n.current()
		select {
		case <-ctx.Done():
			return
		case <-p.done:
		}
		if n.isStopped() {
			return
		}
		fmt.Printf("%s exited (%v); restarting it in %v\n", n.name, p.err, restartDelay)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(restartDelay):
			}
			err := n.start(ctx)
			if err == nil {
				fmt.Printf("%s restarted: http://%s/\n", n.name, n.addr)
				break
			}
			if errors.Is(err, context.Canceled) {
				return
			}
			fmt.Printf("%s: %v; trying again in %v\n", n.name, err, restartDelay)
		}
	}
}

func (n *node) isStopped() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopped
}

// stop ends the server: SIGTERM, then a kill if it has not exited after
// stopTimeout. It returns once the server has exited.
func (n *node) stop() {
	n.mu.Lock()
	n.stopped = true
	p := n.proc
	n.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		fmt.Printf("%s did not stop in %v: killing it\n", n.name, stopTimeout)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
