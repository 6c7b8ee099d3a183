package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/parley-go/parley/reverse"
)

// startCountingBench serves a bench server on a loopback port for the
// test; the function it returns counts the connections the server has
// accepted, each once, however many times a connection handed back after
// a held reply is served again.
func startCountingBench(t *testing.T) (*benchServer, string, func() int) {
	t.Helper()
	b := newBenchServer(reverse.WithTransports(reverse.Transports{PollInterval: 20 * time.Millisecond}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	peers := map[string]bool{}
	srv := &http.Server{Handler: b.handler(), ConnState: func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			peers[c.RemoteAddr().String()] = true
			mu.Unlock()
		}
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		b.hub.Close()
		_ = srv.Close()
	})
	return b, "http://" + ln.Addr().String() + "/parley/", func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(peers)
	}
}

// TestPagesHoldOneConnectionEach opens pages of every held transport,
// publishes quotes that they all receive and acknowledge, and checks that
// the server accepted about one connection per page: a page's session
// open and acks share a few keep-alive connections with the other pages',
// as a browser's tabs do, rather than keeping a second connection each.
// Long-poll is left out: Go's client puts a poll's connection back in its
// pool only after the reply is read, on a goroutine of its own, so the
// next poll may open another now and then, which no bound can allow for.
func TestPagesHoldOneConnectionEach(t *testing.T) {
	const pages, shared, quotes = 20, 2, 3
	for _, mode := range []string{modeSSE, modeWebSocket} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			b, url, accepted := startCountingBench(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			t.Cleanup(cancel)
			l, err := newLoader(loadConfig{URL: url, Pages: pages, Mode: mode, Opening: 8, SharedConns: shared})
			if err != nil {
				t.Fatal(err)
			}
			l.start(ctx)
			if got := l.ready.Load(); got != pages {
				t.Fatalf("%d pages ready, want %d", got, pages)
			}
			for i := range quotes {
				if r := b.publish(ctx, publishRequest{Run: fmt.Sprint("r", i), Count: 1}); r.Published != 1 {
					t.Fatalf("publish %d: %+v", i, r)
				}
				if p, st := b.pending(), b.stats().Pending; p != st || p == 0 {
					t.Fatalf("publish %d: pending %d by the counters, %d in the outboxes", i, p, st)
				}
				for b.pending() > 0 && ctx.Err() == nil { // every page has run the quote and acknowledged it
					time.Sleep(10 * time.Millisecond)
				}
			}
			if ctx.Err() != nil {
				t.Fatalf("the pages did not acknowledge every quote: %d pending", b.stats().Pending)
			}
			if st := b.stats().Pending; st != 0 {
				t.Fatalf("the counters say every quote is acknowledged, and %d are in the outboxes", st)
			}
			var delivered uint64
			for _, d := range l.snapshot().Runs {
				delivered += d.Delivered
			}
			if delivered != pages*quotes {
				t.Fatalf("%d quotes delivered, want %d", delivered, pages*quotes)
			}
			if got := accepted(); got > pages+shared {
				t.Fatalf("the server accepted %d connections for %d pages; want at most %d, one per page and %d shared",
					got, pages, pages+shared, shared)
			}
		})
	}
}

// TestBenchServerHoldsAPagePerFile opens as many sessions as the bench
// server may hold pages, one file each with fdSlack to spare, and checks
// that none was evicted to make room: the hub's default total keeps an
// eighth of the open-file limit for other files, too many for 18,000
// pages under a limit of 20,000.
func TestBenchServerHoldsAPagePerFile(t *testing.T) {
	n := openFiles() - fdSlack
	if n < 1 || n > 50_000 {
		t.Skipf("an open-file limit of %d files is not one this test can fill", openFiles())
	}
	b := newBenchServer()
	t.Cleanup(b.hub.Close)
	for i := range n {
		if _, err := b.hub.Open(tickerPage, fmt.Sprint("browser-", i/50)); err != nil {
			t.Fatalf("page %d of %d: %v", i+1, n, err)
		}
	}
	if got := b.hub.Len(); got != n {
		t.Fatalf("the hub holds %d sessions of the %d opened", got, n)
	}
}
