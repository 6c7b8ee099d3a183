package natsbp_test

import (
	"testing"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/reverse/backplanetest"
)

func BenchmarkBackplane(b *testing.B) {
	srv := startServer(b)
	backplanetest.Benchmark(b, func(tb testing.TB) reverse.Backplane { return connect(tb, srv) })
}
