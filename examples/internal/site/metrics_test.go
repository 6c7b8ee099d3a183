package site_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/examples/chat/chat"
	"github.com/parley-go/parley/reverse"
)

// browser is a client of an example, with its cookies.
type browser struct {
	t    *testing.T
	url  string
	http *http.Client
}

func newBrowser(t *testing.T, url string) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, url: url, http: &http.Client{Jar: jar}}
}

// post sends body to the Parley endpoint and decodes the JSON reply.
func (b *browser) post(endpoint string, body any) map[string]any {
	raw, err := json.Marshal(body)
	if !assert.NoError(b.t, err) {
		return nil
	}
	req, err := http.NewRequest(http.MethodPost, b.url+"/parley/"+endpoint, bytes.NewReader(raw))
	if !assert.NoError(b.t, err) {
		return nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Parley", "1")
	res, err := b.http.Do(req)
	if !assert.NoError(b.t, err) {
		return nil
	}
	defer res.Body.Close()
	var out map[string]any
	if res.StatusCode != http.StatusNoContent {
		assert.NoError(b.t, json.NewDecoder(res.Body).Decode(&out))
	}
	assert.Less(b.t, res.StatusCode, 300, "%s: %v", endpoint, out)
	return out
}

// call sends calls for the page whose session is session, which has run
// every message up to ack.
func (b *browser) call(session string, ack int, calls ...map[string]any) map[string]any {
	return b.post("call", map[string]any{"session": session, "ack": ack, "calls": calls})
}

func chatCall(id int, method string, args ...any) map[string]any {
	return map[string]any{"id": id, "service": "Chat", "method": method, "args": append([]any{}, args...)}
}

// scrape GETs url's /metrics and parses it.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	require.NoError(t, err)
	return fams
}

// value returns the value of the series of name with exactly labels: a
// counter's or gauge's value, a histogram's count. It fails the test if
// there is no such series.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	fam := fams[name]
	require.NotNil(t, fam, "no metric %s", name)
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range fam.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			if lp.GetValue() != "" {
				got[lp.GetName()] = lp.GetValue()
			}
		}
		if !assert.ObjectsAreEqual(want, got) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	require.Failf(t, "no series", "%s%v", name, want)
	return 0
}

func TestChatServesItsMetrics(t *testing.T) {
	t.Parallel()
	app := chat.NewApp()
	t.Cleanup(app.Hub.Close)
	ts := httptest.NewServer(app.Handler)
	t.Cleanup(ts.Close)
	b := newBrowser(t, ts.URL)
	writer := b.post("session", map[string]any{"page": "/"})["session"].(string)
	reader := b.post("session", map[string]any{"page": "/"})["session"].(string)

	// The reader's page long-polls; the writer's has used no transport.
	polled := make(chan map[string]any, 1)
	go func() { polled <- b.post("poll", map[string]any{"session": reader, "ack": 0}) }()
	require.Eventually(t, func() bool { return app.Hub.Stats().Held[reverse.LongPoll] == 1 },
		10*time.Second, time.Millisecond, "the long-poll is never held")
	fams := scrape(t, ts.URL)
	assert.Equal(t, 1.0, value(t, fams, "parley_reverse_held_connections", "transport", "longpoll"))
	assert.Equal(t, 0.0, value(t, fams, "parley_reverse_held_connections", "transport", "sse"))
	assert.Equal(t, 1.0, value(t, fams, "parley_reverse_sessions", "transport", "longpoll"))
	assert.Equal(t, 1.0, value(t, fams, "parley_reverse_sessions", "transport", "none"))
	assert.Equal(t, 2.0, value(t, fams, "parley_reverse_sessions_opened_total"))

	// Two messages, each pushed to both pages; each reply to the writer
	// carries what it has not acknowledged, and each call acknowledges
	// what the reply before carried.
	b.call(writer, 0, chatCall(1, "send", "hello"))
	b.call(writer, 1, chatCall(2, "send", "world"))
	b.call(writer, 2, chatCall(3, "setName", " "), chatCall(4, "noSuchMethod"))
	<-polled
	b.post("bye", map[string]any{"session": writer})

	fams = scrape(t, ts.URL)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"parley_rpc_calls_total", []string{"service", "Chat", "method", "send", "code", "ok"}, 2},
		{"parley_rpc_calls_total", []string{"service", "Chat", "method", "setName", "code", "invalid_argument"}, 1},
		{"parley_rpc_calls_total", []string{"code", "unimplemented"}, 1},
		{"parley_rpc_call_duration_seconds", []string{"service", "Chat", "method", "send"}, 2},
		{"parley_reverse_sessions_opened_total", nil, 2},
		{"parley_reverse_sessions_ended_total", []string{"reason", "closed"}, 1},
		{"parley_reverse_sessions", []string{"transport", "longpoll"}, 1},
		{"parley_reverse_sessions", []string{"transport", "none"}, 0},
		{"parley_reverse_held_connections", []string{"transport", "longpoll"}, 0},
		{"parley_reverse_delivered_messages_total", nil, 4},
		{"parley_reverse_acked_messages_total", nil, 2},
		{"parley_reverse_outbox_messages", nil, 2},
		{"parley_reverse_outbox_max_messages", nil, 2},
		{"parley_reverse_backplane_lag_seconds", nil, 2},
	} {
		assert.Equal(t, tc.want, value(t, fams, tc.name, tc.labels...), "%s%v", tc.name, tc.labels)
	}
	delivered := value(t, fams, "parley_reverse_delivered_bytes_total")
	assert.Equal(t, delivered/2, value(t, fams, "parley_reverse_outbox_bytes"),
		"the reader holds one copy of each message")
	assert.NotNil(t, fams["go_goroutines"], "the Go runtime's metrics")
}

func TestMetricsAreForThisMachineOnly(t *testing.T) {
	t.Parallel()
	app := chat.NewApp()
	t.Cleanup(app.Hub.Close)
	for _, tc := range []struct {
		remote string
		status int
	}{
		{"127.0.0.1:5000", http.StatusOK},
		{"[::1]:5000", http.StatusOK},
		{"[::ffff:127.0.0.1]:5000", http.StatusOK},
		{"192.0.2.7:5000", http.StatusNotFound},
		{"[2001:db8::1]:5000", http.StatusNotFound},
		{"not an address", http.StatusNotFound},
	} {
		t.Run(tc.remote, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.RemoteAddr = tc.remote
			w := httptest.NewRecorder()
			app.Handler.ServeHTTP(w, req)
			assert.Equal(t, tc.status, w.Code)
			if tc.status == http.StatusOK {
				assert.Contains(t, w.Body.String(), "parley_reverse_sessions_opened_total")
			}
		})
	}
}
