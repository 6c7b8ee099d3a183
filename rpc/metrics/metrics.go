// Package metrics exports what a Parley server and its hub do as
// Prometheus metrics.
//
// New returns a Collector that observes an rpc.Server and the
// reverse.Hub it serves: register it with a prometheus.Registerer and
// serve the registry, for instance with promhttp.HandlerFor. Call counts
// and latencies are observed as calls end; everything about the hub's
// sessions, outboxes and deliveries is read from the hub when the
// collector is scraped, from counters the hub keeps without locks, so
// serving pages costs next to nothing more.
//
// The metrics, all named parley_*:
//
//	parley_rpc_calls_total{service,method,code}       counter   calls, by outcome: code is "ok" or the error code the page received
//	parley_rpc_call_duration_seconds{service,method}  histogram time from a call's start to its encoded result
//	parley_rpc_requests_refused_total{code}           counter   whole requests refused before any call ran, by error code
//	parley_reverse_sessions{transport}                gauge     live script sessions, by the transport their page used last
//	parley_reverse_held_connections{transport}        gauge     connections held open for pages now
//	parley_reverse_sessions_opened_total              counter   script sessions opened
//	parley_reverse_sessions_ended_total{reason}       counter   script sessions ended, each a reset for its page
//	parley_reverse_outbox_messages                    gauge     unacknowledged messages, summed over every outbox
//	parley_reverse_outbox_bytes                       gauge     their bytes
//	parley_reverse_outbox_max_messages                gauge     unacknowledged messages of the fullest outbox
//	parley_reverse_outbox_max_bytes                   gauge     bytes of the fullest outbox
//	parley_reverse_delivered_messages_total           counter   reverse calls put in outboxes, one for each page reached
//	parley_reverse_delivered_bytes_total              counter   their bytes
//	parley_reverse_acked_messages_total               counter   messages pages acknowledged
//	parley_reverse_backplane_lag_seconds              histogram time from a hub publishing a reverse call to a hub receiving it
//
// The service and method labels hold only the names of registered
// methods; a call that names none is counted with both empty, so names a
// client made up never become series. transport is "longpoll", "sse",
// "poll", or "none" for a page that has used no reverse transport (a
// passive page, or one still starting). reason is one of the reverse
// Reason constants, such as "expired" or "overflow". With the in-memory
// backplane the lag is close to 0; with a backplane between processes it
// is read from two clocks, which must be kept in step.
//
// Concurrency: a Collector is safe for concurrent use, as Prometheus
// requires.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

// Collector is a prometheus.Collector of a Parley server's metrics.
type Collector struct {
	hub *reverse.Hub // nil for a server without reverse Ajax

	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	refused  *prometheus.CounterVec
	lag      prometheus.Histogram

	sessions, held                   *prometheus.Desc
	opened, ended                    *prometheus.Desc
	outboxMsgs, outboxBytes          *prometheus.Desc
	outboxMaxMsgs, outboxMaxBytes    *prometheus.Desc
	delivered, deliveredBytes, acked *prometheus.Desc
}

// Option configures a Collector.
type Option func(*config)

type config struct {
	callBuckets, lagBuckets []float64
}

// WithCallBuckets sets the upper bounds, in seconds, of the buckets of
// parley_rpc_call_duration_seconds. Default prometheus.DefBuckets
// (5 ms to 10 s).
func WithCallBuckets(b []float64) Option { return func(c *config) { c.callBuckets = b } }

// WithLagBuckets sets the upper bounds, in seconds, of the buckets of
// parley_reverse_backplane_lag_seconds. Default 100 µs to about 3.3 s,
// each twice the one before.
func WithLagBuckets(b []float64) Option { return func(c *config) { c.lagBuckets = b } }

// New returns a collector that observes srv's calls and, when srv has
// one, its hub (rpc.WithHub). It starts observing at once; register it
// with a prometheus.Registerer to export what it saw.
func New(srv *rpc.Server, opts ...Option) *Collector {
	cfg := config{
		callBuckets: prometheus.DefBuckets,
		lagBuckets:  prometheus.ExponentialBuckets(0.0001, 2, 16),
	}
	for _, o := range opts {
		o(&cfg)
	}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	c := &Collector{
		hub: srv.Hub(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_rpc_calls_total",
			Help: `Calls served, by service, method and outcome: code is "ok" or the error code the page received.`,
		}, []string{"service", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_rpc_call_duration_seconds",
			Help:    "Time from a call's start to its encoded result, interceptors included.",
			Buckets: cfg.callBuckets,
		}, []string{"service", "method"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_rpc_requests_refused_total",
			Help: "Whole requests refused before any call ran (CSRF and origin checks, malformed or oversized bodies, unknown endpoints or sessions), by error code.",
		}, []string{"code"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "parley_reverse_backplane_lag_seconds",
			Help:    "Time from a hub publishing a reverse call on the backplane to this hub receiving it.",
			Buckets: cfg.lagBuckets,
		}),
		sessions:       desc("parley_reverse_sessions", `Live script sessions, by the transport their page used last ("none" for none yet).`, "transport"),
		held:           desc("parley_reverse_held_connections", "Connections held open for pages, by transport.", "transport"),
		opened:         desc("parley_reverse_sessions_opened_total", "Script sessions opened."),
		ended:          desc("parley_reverse_sessions_ended_total", "Script sessions ended, by reason; each is a reset for its page.", "reason"),
		outboxMsgs:     desc("parley_reverse_outbox_messages", "Unacknowledged messages, summed over every outbox."),
		outboxBytes:    desc("parley_reverse_outbox_bytes", "Bytes of unacknowledged messages, summed over every outbox."),
		outboxMaxMsgs:  desc("parley_reverse_outbox_max_messages", "Unacknowledged messages of the fullest outbox."),
		outboxMaxBytes: desc("parley_reverse_outbox_max_bytes", "Bytes of unacknowledged messages of the fullest outbox."),
		delivered:      desc("parley_reverse_delivered_messages_total", "Reverse calls put in outboxes, one for each page reached."),
		deliveredBytes: desc("parley_reverse_delivered_bytes_total", "Bytes of the reverse calls put in outboxes."),
		acked:          desc("parley_reverse_acked_messages_total", "Messages pages acknowledged."),
	}
	srv.Observe(observer{c})
	if c.hub != nil {
		c.hub.Observe(observer{c})
	}
	return c
}

// observer is the Collector as the server and the hub see it. It keeps
// the observing methods out of the Collector's own method set.
type observer struct{ c *Collector }

// ObserveCall implements rpc.Observer.
func (o observer) ObserveCall(service, method string, code rpc.Code, d time.Duration) {
	label := "ok"
	if code != "" {
		label = string(code)
	}
	o.c.calls.WithLabelValues(service, method, label).Inc()
	o.c.duration.WithLabelValues(service, method).Observe(d.Seconds())
}

// ObserveRefusal implements rpc.Observer.
func (o observer) ObserveRefusal(code rpc.Code) { o.c.refused.WithLabelValues(string(code)).Inc() }

// ObserveBackplaneLag implements reverse.Observer.
func (o observer) ObserveBackplaneLag(d time.Duration) { o.c.lag.Observe(d.Seconds()) }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.calls.Describe(ch)
	c.duration.Describe(ch)
	c.refused.Describe(ch)
	if c.hub == nil {
		return
	}
	c.lag.Describe(ch)
	for _, d := range []*prometheus.Desc{
		c.sessions, c.held, c.opened, c.ended,
		c.outboxMsgs, c.outboxBytes, c.outboxMaxMsgs, c.outboxMaxBytes,
		c.delivered, c.deliveredBytes, c.acked,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It reads the hub's gauges and
// counters (reverse.Hub.Stats) at each scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.calls.Collect(ch)
	c.duration.Collect(ch)
	c.refused.Collect(ch)
	if c.hub == nil {
		return
	}
	c.lag.Collect(ch)
	st := c.hub.Stats()
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for t, n := range withZeros(st.Sessions, reverse.LongPoll, reverse.SSE, reverse.Polling, "") {
		if t == "" {
			t = "none"
		}
		gauge(c.sessions, n, t)
	}
	for t, n := range withZeros(st.Held, reverse.LongPoll, reverse.SSE) {
		gauge(c.held, n, t)
	}
	counter(c.opened, st.Opened)
	for reason, n := range withZeros(st.Ended, reverse.ReasonExpired, reverse.ReasonOverflow, reverse.ReasonClosed, reverse.ReasonEvicted, reverse.ReasonShutdown) {
		counter(c.ended, n, reason)
	}
	gauge(c.outboxMsgs, st.OutboxMessages)
	gauge(c.outboxBytes, st.OutboxBytes)
	gauge(c.outboxMaxMsgs, st.MaxOutboxMessages)
	gauge(c.outboxMaxBytes, st.MaxOutboxBytes)
	counter(c.delivered, st.Messages)
	counter(c.deliveredBytes, st.MessageBytes)
	counter(c.acked, st.Acked)
}

// withZeros returns counts with a count of 0 for every key it lacks, so
// that a series exists before its first session.
func withZeros[N int | uint64](counts map[string]N, keys ...string) map[string]N {
	for _, k := range keys {
		if _, ok := counts[k]; !ok {
			counts[k] = 0
		}
	}
	return counts
}
