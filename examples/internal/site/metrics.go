package site

import (
	"net/http"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-go/parley/rpc"
	"github.com/parley-go/parley/rpc/metrics"
)

// Metrics returns the handler of an example's /metrics: the Prometheus
// metrics of srv and its hub (see package metrics), and of the Go
// runtime and the process. It answers clients on this machine only, as
// the debug page does: others get 404, since series name the services
// and show the load. A deployment that scrapes from elsewhere puts the
// registry behind its own access rule instead.
func Metrics(srv *rpc.Server) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		metrics.New(srv),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fromLoopback(r) {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// fromLoopback reports whether r came from a loopback address. The
// examples are reached directly, with no proxy in front, so the
// connection's peer is the client.
func fromLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}
