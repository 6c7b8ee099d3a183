package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parley-go/parley/cmd/parleybench/internal/procfs"
	"github.com/parley-go/parley/reverse"
)

// startRawBench serves the raw floor on a loopback port for the test and
// returns the bench server with it.
func startRawBench(t *testing.T) *benchServer {
	t.Helper()
	b := newBenchServer(reverse.WithTransports(reverse.Transports{PollInterval: 20 * time.Millisecond}))
	raw, err := listenRaw("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	b.raw = raw
	go raw.serve()
	t.Cleanup(func() {
		raw.close()
		b.hub.Close()
	})
	return b
}

// startPages opens pages pages of mode against url (or, in mode raw, the
// raw address) and waits until every one is ready.
func startPages(t *testing.T, url, raw, mode string, pages int) *loader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l, err := newLoader(loadConfig{URL: url, Raw: raw, Pages: pages, Mode: mode, Interval: 20 * time.Millisecond, Opening: 16})
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{})
	go func() {
		l.start(ctx)
		close(opened)
	}()
	select {
	case <-opened:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s pages did not open", mode)
	}
	if got := l.ready.Load(); got != int64(pages) {
		t.Fatalf("%d %s pages ready, want %d", got, mode, pages)
	}
	return l
}

// rigFor drives b's publisher and l's pages, measuring this process.
func rigFor(b *benchServer, l *loader) fanoutRig {
	return fanoutRig{
		serverPID: os.Getpid(),
		publish: func(run string) error {
			r := b.publish(context.Background(), publishRequest{Run: run, Count: 1})
			if r.Published != 1 {
				return fmt.Errorf("published %d quotes: %s", r.Published, r.Error)
			}
			return nil
		},
		snap:    func() (Snapshot, error) { return l.snapshot(), nil },
		pending: func() (int, error) { return b.pending(), nil },
	}
}

// TestFanoutFloor measures the raw floor and the SSE transport on a few
// pages in process, and checks the floor row's figures and the ratios of
// the transport's row to it.
func TestFanoutFloor(t *testing.T) {
	const pages, repeats, publishes = 50, 3, 4
	_, runtimeErr := procfs.ReadRuntime(os.Getpid()) // without it, CPU is counted in whole clock ticks

	rb := startRawBench(t)
	rawPages := startPages(t, "", rb.raw.ln.Addr().String(), modeRaw, pages)
	if got := rb.stats().Raw; got != pages {
		t.Fatalf("the floor server holds %d connections, want %d", got, pages)
	}
	floor := fanoutRow{Transport: modeRaw, Pages: pages, Ready: pages, Repeats: repeats}
	if err := measureFanout(&floor, rigFor(rb, rawPages), 10*time.Second, publishes); err != nil {
		t.Fatal(err)
	}

	sb, url := startBench(t)
	ssePages := startPages(t, url, "", modeSSE, pages)
	sse := fanoutRow{Transport: modeSSE, Pages: pages, Ready: pages, Repeats: repeats}
	if err := measureFanout(&sse, rigFor(sb, ssePages), 10*time.Second, publishes); err != nil {
		t.Fatal(err)
	}

	rows := []fanoutRow{floor, sse}
	compareWithFloor(rows)
	for _, r := range rows {
		t.Run(r.Transport, func(t *testing.T) {
			if r.Unacked != 0 {
				t.Fatalf("%d messages unacknowledged when the windows closed", r.Unacked)
			}
			if r.Delivered != pages*repeats || r.Missed != 0 || r.Trip.N != pages*repeats || r.AllHave.N != repeats {
				t.Fatalf("delivered %d, missed %d, %d trips over %d repeats; want %d, 0, %d over %d",
					r.Delivered, r.Missed, r.Trip.N, r.AllHave.N, pages*repeats, pages*repeats, repeats)
			}
			if r.Trip.P50 <= 0 || r.Trip.P50 > r.Trip.P99 || r.Trip.P99 > r.Trip.Max || r.AllHave.Max != r.Trip.Max {
				t.Fatalf("trip %+v, all have it %+v", r.Trip, r.AllHave)
			}
			if r.PerSecond <= 0 || r.PerSecond < float64(pages)/r.AllHave.Max {
				t.Fatalf("%.0f deliveries/s with the last page reached after %v s at worst", r.PerSecond, r.AllHave.Max)
			}
			if r.CPUPerDelivery < 0 || runtimeErr == nil && r.CPUPerDelivery == 0 {
				t.Fatalf("%.2f µs CPU per delivery", r.CPUPerDelivery)
			}
			if want := r.ServerCPU * repeats * 1e6 / float64(r.Delivered); !near(r.CPUPerDelivery, want) {
				t.Fatalf("CPU per delivery %.3f µs, want %.3f µs from %.6f s per publish", r.CPUPerDelivery, want, r.ServerCPU)
			}
			st := r.Stream
			if st == nil {
				t.Fatal("no stream was measured")
			}
			if st.Publishes != publishes || st.Delivered != pages*publishes || st.Missed != 0 || st.Unacked != 0 || st.Trip.N != pages*publishes {
				t.Fatalf("stream %+v; want %d deliveries of %d publishes, none missed or unacknowledged", st, pages*publishes, publishes)
			}
			if st.Took <= 0 || st.Drain < 0 || !near(st.PerSecond, float64(st.Delivered)/st.Took) || st.Took < st.Trip.Max {
				t.Fatalf("stream took %.6f s, drained in %.6f s, %.0f deliveries/s, slowest trip %.6f s", st.Took, st.Drain, st.PerSecond, st.Trip.Max)
			}
			if st.CPUSeconds < 0 || runtimeErr == nil && st.CPUSeconds == 0 || !near(st.CPUPerDelivery, st.CPUSeconds*1e6/float64(st.Delivered)) {
				t.Fatalf("stream CPU %.6f s, %.3f µs per delivery", st.CPUSeconds, st.CPUPerDelivery)
			}
			if r.ServerFiles < pages {
				t.Fatalf("the server had %d files open, fewer than its %d pages' connections", r.ServerFiles, pages)
			}
		})
	}
	f, s := rows[0], rows[1]
	if f.Floor != nil {
		t.Fatalf("the floor is compared with itself: %+v", f.Floor)
	}
	if s.Floor == nil {
		t.Fatal("SSE is not compared with the floor")
	}
	if !near(s.Floor.P99, s.Trip.P99/f.Trip.P99) || !near(s.Floor.P50, s.Trip.P50/f.Trip.P50) {
		t.Fatalf("SSE trip at %+v of the floor's; p99 %.6f / %.6f", s.Floor, s.Trip.P99, f.Trip.P99)
	}
	if !near(s.Floor.PerSecond, s.PerSecond/f.PerSecond) {
		t.Fatalf("SSE at %.3f of the floor's deliveries/s; %.0f / %.0f is %.3f", s.Floor.PerSecond, s.PerSecond, f.PerSecond, s.PerSecond/f.PerSecond)
	}
	if f.CPUPerDelivery > 0 && !near(s.Floor.CPUPerDelivery, s.CPUPerDelivery/f.CPUPerDelivery) {
		t.Fatalf("SSE at %.3f× the floor's CPU per delivery; %.2f / %.2f is %.3f", s.Floor.CPUPerDelivery, s.CPUPerDelivery, f.CPUPerDelivery, s.CPUPerDelivery/f.CPUPerDelivery)
	}
	if !near(s.Floor.StreamPerSecond, s.Stream.PerSecond/f.Stream.PerSecond) {
		t.Fatalf("SSE's stream at %.3f of the floor's deliveries/s; %.0f / %.0f", s.Floor.StreamPerSecond, s.Stream.PerSecond, f.Stream.PerSecond)
	}
	if f.Stream.CPUPerDelivery > 0 && !near(s.Floor.StreamCPUPerDelivery, s.Stream.CPUPerDelivery/f.Stream.CPUPerDelivery) {
		t.Fatalf("SSE's stream at %.3f× the floor's CPU per delivery; %.2f / %.2f", s.Floor.StreamCPUPerDelivery, s.Stream.CPUPerDelivery, f.Stream.CPUPerDelivery)
	}

	var md strings.Builder
	if err := fanoutMarkdown(&md, fanoutResult{Rows: rows}, time.Second); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| raw | 50 | 3 |", "Against the raw floor", "| sse | 50 |", "| transport | pages | p50 × floor's | p99 × floor's | deliveries/s | of the floor's |",
		"## Isolated publish", "## Stream of publishes", "| sse | 50 | 4 |", "| raw | 50 | 4 |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, md.String())
		}
	}
}

// near reports whether a and b agree to a part in a million.
func near(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-6*max(a, b, -a, -b)
}

// TestRawEventIsAnSSEEvent checks the bytes the floor writes for a quote:
// one server-sent event with the quote's sequence number as its id and
// the reverse message as its data, which a raw page reads back.
func TestRawEventIsAnSSEEvent(t *testing.T) {
	t.Parallel()
	q := &quote{Symbol: "PRLY", Price: 101.5, Run: "r", Seq: 7, PublishedAt: 1_700_000_000_000_000}
	got, err := appendRawEvent(nil, 7, q)
	if err != nil {
		t.Fatal(err)
	}
	want := "id: 7\ndata: {\"seq\":7,\"fn\":\"quote\",\"args\":[{\"symbol\":\"PRLY\",\"price\":101.5,\"run\":\"r\",\"seq\":7,\"publishedAt\":1700000000000000}]}\n\n"
	if string(got) != want {
		t.Fatalf("appendRawEvent =\n%q, want\n%q", got, want)
	}
}
