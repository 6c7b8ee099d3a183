package redisbp_test

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/reverse/redisbp/redistest"
)

// benchEnvelope is a reverse call of a typical size.
var benchEnvelope = reverse.Envelope{
	Kind:      "page",
	Key:       "/chat",
	Origin:    "AAAAAAAAAAAAAAAAAAAAAA",
	Body:      json.RawMessage(`{"fn":"addMessage","args":[{"id":12345,"user":"alice","text":"hello, world"}]}`),
	Published: 1_700_000_000_000_000_000,
}

// BenchmarkPublish measures Publish: one at a time (the round trip of
// the append script, next to a PING's) and from many goroutines (Redis's
// throughput).
func BenchmarkPublish(b *testing.B) {
	s := redistest.Start(b)
	bp := newBackplane(b, s)
	// The floor: a PING's round trip on the same client.
	rdb := s.Client(b)
	b.Run("ping", func(b *testing.B) {
		for b.Loop() {
			if err := rdb.Ping(b.Context()).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("serial", func(b *testing.B) {
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

// BenchmarkDeliver measures the log from Publish to deliver: b.N entries
// published by 8 goroutines through one backplane, each delivered to one
// hub subscribed through another; an op is one entry delivered.
func BenchmarkDeliver(b *testing.B) {
	s := redistest.Start(b)
	pub := newBackplane(b, s)
	sub := newBackplane(b, s)
	var got atomic.Int64
	done := make(chan struct{})
	var want atomic.Int64
	leave, err := sub.Subscribe("bench", func(uint64, reverse.Envelope) {
		if got.Add(1) == want.Load() {
			done <- struct{}{}
		}
	}, func(reverse.Envelope) {})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(leave)
	want.Store(int64(b.N))
	b.ResetTimer()
	const publishers = 8
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := p; i < b.N; i += publishers {
				if _, err := pub.Publish(benchEnvelope); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	<-done
}
