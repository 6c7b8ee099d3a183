package natsbp_test

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-go/parley/reverse"
)

// benchEnvelope is a reverse call of a typical size.
var benchEnvelope = reverse.Envelope{
	Kind:      "page",
	Key:       "/chat",
	Origin:    "k3J9xQ2mV8pL1wR7tY4uZ0",
	Body:      json.RawMessage(`{"fn":"addMessage","args":[{"id":12345,"user":"alice","text":"hello, world"}]}`),
	Published: time.Now().UnixNano(),
}

func BenchmarkPublish(b *testing.B) {
	srv := startServer(b)
	bp := connect(b, srv)
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			if _, err := bp.Publish(benchEnvelope); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := bp.Publish(benchEnvelope); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkDeliver measures the log's throughput from parallel publishers
// to a hub on another connection: each operation is one entry published
// and delivered.
func BenchmarkDeliver(b *testing.B) {
	srv := startServer(b)
	pub, sub := connect(b, srv), connect(b, srv)
	var got atomic.Int64
	leave, err := sub.Subscribe("bench", func(uint64, reverse.Envelope) { got.Add(1) }, func(reverse.Envelope) {})
	if err != nil {
		b.Fatal(err)
	}
	defer leave()
	got.Store(0)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := pub.Publish(benchEnvelope); err != nil {
				b.Error(err)
				return
			}
		}
	})
	deadline := time.Now().Add(hang)
	for got.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("delivered %d of %d", got.Load(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
