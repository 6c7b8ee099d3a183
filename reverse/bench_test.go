package reverse

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"
)

// benchQuote is a small call argument, already encoded, so that the
// benchmarks measure the outbox and the index rather than encoding.
var benchQuote = json.RawMessage(`{"symbol":"PRLY","price":101.25,"seq":1}`)

// BenchmarkOutboxAppendAck appends calls to one session's outbox and
// hands them to the page and acknowledges them, one at a time and ten at a time, as a page that acks
// every reply (long-poll) or a batch of ten does.
func BenchmarkOutboxAppendAck(b *testing.B) {
	for _, batch := range []int{1, 10} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			h := NewHub()
			defer h.Close()
			s, err := h.Open("/ticker", "browser")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				for range batch {
					if err := s.Call("quote", benchQuote); err != nil {
						b.Fatal(err)
					}
				}
				s.Pending(0) // handed to the page, as a reply carries them
				s.Ack(math.MaxUint64)
			}
			if d := s.Pending(math.MaxUint64); len(d.Messages) != 0 || d.Reset != nil {
				b.Fatalf("outbox not empty after the acks: %+v", d)
			}
		})
	}
}

// BenchmarkFanoutPageIndex sends one call to every page showing a path
// while 10,000 sessions show other paths: the page index means the others
// cost nothing. ns/page is the cost per page reached.
func BenchmarkFanoutPageIndex(b *testing.B) {
	const others = 10_000
	for _, pages := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("pages=%d/others=%d", pages, others), func(b *testing.B) {
			h := NewHub(WithLimits(Limits{Sessions: 1 << 20, PagesPerHTTPSession: 1 << 20}))
			defer h.Close()
			var reached []*Session
			for i := range pages + others {
				path := "/ticker"
				if i >= pages {
					path = "/other/" + strconv.Itoa(i)
				}
				s, err := h.Open(path, "browser")
				if err != nil {
					b.Fatal(err)
				}
				if i < pages {
					reached = append(reached, s)
				}
			}
			target := h.Page("/ticker")
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if err := target.Call("quote", benchQuote); err != nil {
					b.Fatal(err)
				}
				// Keep the outboxes below their limit, as pages acking would.
				if n++; n%500 == 0 {
					b.StopTimer()
					for _, s := range reached {
						s.Pending(0)
						s.Ack(math.MaxUint64)
					}
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*pages), "ns/page")
		})
	}
}

// BenchmarkFanoutHeld publishes one call to 2,000 pages holding real
// connections over loopback (SSE streams, long-polls), each read by a
// client goroutine, and waits until every page has it. ns/page is the
// cost per page reached, client included.
func BenchmarkFanoutHeld(b *testing.B) {
	const pages = 2000
	for _, tc := range []struct {
		name, path string
		idle       time.Duration // the server's IdleTimeout
	}{
		{"sse", "/sse", 0},
		{"lp", "/lp", 0},
		{"lp-idletimeout", "/lp", 2 * time.Minute},
	} {
		path := tc.path
		b.Run(tc.name, func(b *testing.B) {
			h := NewHub(WithLimits(Limits{Sessions: 1 << 20, PagesPerHTTPSession: 1 << 20}))
			defer h.Close()
			url := benchServer(b, h, tc.idle)
			got := make(chan struct{}, pages)
			sessions := make([]*Session, pages)
			for i := range sessions {
				s, err := h.Open("/ticker", "h")
				if err != nil {
					b.Fatal(err)
				}
				sessions[i] = s
				go benchPage(b, url, path, s, got)
			}
			for _, s := range sessions {
				for {
					s.mu.Lock()
					ok := s.held != nil
					s.mu.Unlock()
					if ok {
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
			target := h.Page("/ticker")
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if err := target.Call("quote", benchQuote); err != nil {
					b.Fatal(err)
				}
				for range pages {
					<-got
				}
				n++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*pages), "ns/page")
		})
	}
}
