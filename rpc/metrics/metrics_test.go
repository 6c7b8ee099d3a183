package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
	"github.com/parley-go/parley/rpc/metrics"
)

// newServer returns a server with one service, Svc.ok, and its test
// server; with a hub when withHub.
func newServer(t *testing.T, withHub bool) (*rpc.Server, string) {
	t.Helper()
	var opts []rpc.Option
	if withHub {
		hub := reverse.NewHub()
		t.Cleanup(hub.Close)
		opts = append(opts, rpc.WithHub(hub))
	}
	srv := rpc.NewServer(opts...)
	srv.Register(rpc.ServiceDesc{Name: "Svc", Methods: []rpc.MethodDesc{{
		Name:    "ok",
		Handler: func(context.Context, rpc.Args) (any, error) { return true, nil },
	}}})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, ts.URL
}

// callOK calls Svc.ok at url.
func callOK(t *testing.T, url string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/parley/call",
		strings.NewReader(`{"calls":[{"id":1,"service":"Svc","method":"ok","args":[]}]}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Parley", "1")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	require.Equal(t, http.StatusOK, res.StatusCode)
}

func TestCollectorFollowsTheConventions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		withHub bool
		want    []string
	}{
		{"remoting only", false, []string{"parley_rpc_call_duration_seconds", "parley_rpc_calls_total"}},
		{"with a hub", true, []string{
			"parley_reverse_acked_messages_total",
			"parley_reverse_backplane_lag_seconds",
			"parley_reverse_delivered_bytes_total",
			"parley_reverse_delivered_messages_total",
			"parley_reverse_held_connections",
			"parley_reverse_outbox_bytes",
			"parley_reverse_outbox_max_bytes",
			"parley_reverse_outbox_max_messages",
			"parley_reverse_outbox_messages",
			"parley_reverse_sessions",
			"parley_reverse_sessions_ended_total",
			"parley_reverse_sessions_opened_total",
			"parley_rpc_call_duration_seconds",
			"parley_rpc_calls_total",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, url := newServer(t, tc.withHub)
			c := metrics.New(srv)
			callOK(t, url)
			// A pedantic registry checks that what is collected matches
			// what is described.
			reg := prometheus.NewPedanticRegistry()
			require.NoError(t, reg.Register(c))
			fams, err := reg.Gather()
			require.NoError(t, err)
			var names []string
			for _, f := range fams {
				names = append(names, f.GetName())
			}
			assert.Equal(t, tc.want, slices.Sorted(slices.Values(names)))
			problems, err := testutil.CollectAndLint(c)
			require.NoError(t, err)
			assert.Empty(t, problems)
		})
	}
}

func TestCollectorCountsCalls(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, false)
	c := metrics.New(srv, metrics.WithCallBuckets([]float64{1000}))
	for range 3 {
		callOK(t, url)
	}
	expected := `
# HELP parley_rpc_calls_total Calls served, by service, method and outcome: code is "ok" or the error code the page received.
# TYPE parley_rpc_calls_total counter
parley_rpc_calls_total{code="ok",method="ok",service="Svc"} 3
`
	assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(expected), "parley_rpc_calls_total"))
	assert.Equal(t, 1, testutil.CollectAndCount(c, "parley_rpc_call_duration_seconds"))
}

// ExampleNew exports a server's metrics at /metrics.
func ExampleNew() {
	hub := reverse.NewHub()
	defer hub.Close()
	srv := rpc.NewServer(rpc.WithHub(hub))
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.New(srv))

	mux := http.NewServeMux()
	mux.Handle("/parley/", srv)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	_ = mux // serve it with http.ListenAndServe
}
