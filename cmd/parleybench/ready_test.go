package main

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/parley-go/parley/reverse"
)

// gatedListener accepts connections only while its gate is open; the
// connections it accepted can all be cut at once.
type gatedListener struct {
	net.Listener

	mu    sync.Mutex
	open  *sync.Cond
	shut  bool
	conns []net.Conn
}

// newGatedListener listens on a free loopback port, gate open.
func newGatedListener(t *testing.T) *gatedListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedListener{Listener: ln}
	g.open = sync.NewCond(&g.mu)
	return g
}

// Accept waits for the gate to be open, then accepts a connection.
func (g *gatedListener) Accept() (net.Conn, error) {
	g.mu.Lock()
	for g.shut {
		g.open.Wait()
	}
	g.mu.Unlock()
	c, err := g.Listener.Accept()
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.conns = append(g.conns, c)
	g.mu.Unlock()
	return c, nil
}

// gate opens or shuts the gate.
func (g *gatedListener) gate(open bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.shut = !open
	g.open.Broadcast()
}

// cut closes every connection accepted so far.
func (g *gatedListener) cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.conns {
		_ = c.Close()
	}
	g.conns = nil
}

// TestWebSocketPagesReadyWhileOpen cuts the sockets of WebSocket pages
// while the server accepts no connection, then lets them reconnect, and
// checks that a page counts as ready only while its socket is open: none
// while they all reconnect, and each once when they are back.
func TestWebSocketPagesReadyWhileOpen(t *testing.T) {
	const pages = 10
	b := newBenchServer(reverse.WithTransports(reverse.Transports{PollInterval: 20 * time.Millisecond}))
	ln := newGatedListener(t)
	srv := &http.Server{Handler: b.handler()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ln.gate(true)
		b.hub.Close()
		_ = srv.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	l, err := newLoader(loadConfig{URL: "http://" + ln.Addr().String() + "/parley/", Pages: pages, Mode: modeWebSocket, Opening: pages})
	if err != nil {
		t.Fatal(err)
	}
	l.start(ctx)
	if got := l.ready.Load(); got != pages {
		t.Fatalf("%d pages ready after opening, want %d", got, pages)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("never %s: %d pages ready, %d held, %d reconnects", what, l.ready.Load(), b.stats().Held, l.snapshot().Reconnects)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	reconnects := func() (n int) {
		for _, p := range l.wsPages {
			if p.Stats().Reconnects > 0 {
				n++
			}
		}
		return n
	}

	ln.gate(false)
	ln.cut()
	waitFor("every page reconnecting", func() bool { return reconnects() == pages })
	if got := l.ready.Load(); got != 0 {
		t.Errorf("%d pages ready while every one reconnects, want 0", got)
	}

	ln.gate(true)
	waitFor("every page held again", func() bool {
		ln.mu.Lock()
		accepted := len(ln.conns)
		ln.mu.Unlock()
		return accepted >= pages && b.stats().Held == pages
	})
	// A quote comes after the open frame on the same socket: once every
	// page has it, every page has seen its socket open.
	if r := b.publish(ctx, publishRequest{Run: "after", Count: 1}); r.Published != 1 {
		t.Fatalf("publish: %+v", r)
	}
	var delivered uint64
	waitFor("the quote delivered", func() bool {
		if d := l.snapshot().Runs["after"]; d != nil {
			delivered += d.Delivered
		}
		return delivered == pages
	})
	if got := l.ready.Load(); got != pages {
		t.Errorf("%d pages ready after they reconnected, want %d", got, pages)
	}
	var reconnected uint64
	for _, p := range l.wsPages {
		reconnected += p.Stats().Reconnects
	}
	if reconnected < pages {
		t.Errorf("%d reconnects reported, want at least %d", reconnected, pages)
	}
}
