package backplanetest

import (
	"encoding/json"
	"errors"
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
	Published: 1_700_000_000_000_000_000,
}

// errHung: a benchmark's hub did not get every entry before the deadline.
var errHung = errors.New("backplanetest: the hub was not delivered every entry in time")

// Benchmark measures the backplane that connect reaches (each call a new
// connection, as in Run): Publish one at a time, which is its round trip,
// and from many goroutines; and Deliver, entries published from many
// goroutines and delivered to a hub on another connection, an operation
// being one entry delivered.
func Benchmark(b *testing.B, connect func(tb testing.TB) reverse.Backplane) {
	bp := connect(b)
	b.Run("Publish/sequential", func(b *testing.B) {
		for b.Loop() {
			if _, err := bp.Publish(benchEnvelope); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Publish/parallel", func(b *testing.B) {
		publishParallel(b, bp)
	})
	b.Run("Deliver", func(b *testing.B) {
		sub := connect(b)
		got := make(chan struct{}, 1024)
		leave, err := sub.Subscribe(newID(), func(uint64, reverse.Envelope) { got <- struct{}{} }, func(reverse.Envelope) {})
		if err != nil {
			b.Fatal(err)
		}
		defer leave()
		done := make(chan error, 1)
		go func() {
			deadline := time.After(hang)
			for range b.N {
				select {
				case <-got:
				case <-deadline:
					done <- errHung
					return
				}
			}
			done <- nil
		}()
		publishParallel(b, bp)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	})
}

// publishParallel publishes b.N envelopes on bp from 8 goroutines per CPU.
func publishParallel(b *testing.B, bp reverse.Backplane) {
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := bp.Publish(benchEnvelope); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
