package redisbp_test

import (
	"testing"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/reverse/backplanetest"
	"github.com/parley-go/parley/reverse/redisbp/redistest"
)

// BenchmarkBackplane measures the Redis backplane, and a PING's round
// trip on one client, the floor of Publish's.
func BenchmarkBackplane(b *testing.B) {
	s := redistest.Start(b)
	rdb := s.Client(b)
	b.Run("ping", func(b *testing.B) {
		for b.Loop() {
			if err := rdb.Ping(b.Context()).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	backplanetest.Benchmark(b, func(tb testing.TB) reverse.Backplane { return newBackplane(tb, s) })
}
