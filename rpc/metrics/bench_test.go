package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parley-go/parley/rpc"
	"github.com/parley-go/parley/rpc/metrics"
)

// BenchmarkDispatchObserved compares one call through a Server with and
// without a Collector observing it, in the same run.
func BenchmarkDispatchObserved(b *testing.B) {
	for _, observed := range []bool{false, true} {
		name := "bare"
		if observed {
			name = "collector"
		}
		b.Run(name, func(b *testing.B) {
			srv := rpc.NewServer()
			srv.Register(rpc.ServiceDesc{Name: "Bench", Methods: []rpc.MethodDesc{{
				Name: "echo", Params: []string{"v"},
				Handler: func(ctx context.Context, args rpc.Args) (any, error) {
					var v string
					err := args.Decode(0, &v)
					return v, err
				},
			}}})
			if observed {
				metrics.New(srv)
			}
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest("POST", "/parley/call", strings.NewReader(
					`{"calls":[{"id":1,"service":"Bench","method":"echo","args":["hello"]}]}`))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("X-Parley", "1")
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
