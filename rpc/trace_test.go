package rpc

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer safe for the concurrent calls of a batch.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records decodes the JSON log lines written so far, by method.
func (l *lockedBuffer) records(t *testing.T) map[string]map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]map[string]any{}
	for line := range strings.Lines(l.b.String()) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		out[rec["method"].(string)] = rec
	}
	return out
}

func TestSlogInterceptorLogsEveryCall(t *testing.T) {
	t.Parallel()
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFixture(t, WithInterceptor(SlogInterceptor(log)))
	c := f.client(t)
	session := c.openSession("/page")
	rs := results(c.call(session, 0, call(1, "add", 1, 2), call(2, "fail"), call(3, "leak"), call(4, "boom")))
	assert.Equal(t, "internal", errCode(rs[3]), "a panic still fails its call alone")

	recs := buf.records(t)
	require.Len(t, recs, 4)
	for _, tc := range []struct {
		method, level, code string
	}{
		{"add", "INFO", "ok"},
		{"fail", "WARN", "failed_precondition"},
		{"leak", "ERROR", "internal"},
		{"boom", "ERROR", "internal"},
	} {
		t.Run(tc.method, func(t *testing.T) {
			rec := recs[tc.method]
			require.NotNil(t, rec)
			assert.Equal(t, "parley call", rec["msg"])
			assert.Equal(t, tc.level, rec["level"])
			assert.Equal(t, "Calc", rec["service"])
			assert.Equal(t, tc.code, rec["code"])
			assert.Equal(t, session[:6], rec["session"], "a prefix of the session id, never all of it")
			assert.GreaterOrEqual(t, rec["duration"], float64(0))
		})
	}
	assert.NotContains(t, buf.b.String(), session)
}

func TestSlogInterceptorRespectsTheLevel(t *testing.T) {
	t.Parallel()
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f := newFixture(t, WithInterceptor(SlogInterceptor(log)))
	c := f.client(t)
	c.call("", 0, call(1, "add", 1, 2), call(2, "fail"))
	recs := buf.records(t)
	assert.Len(t, recs, 1)
	assert.NotNil(t, recs["fail"])
	assert.Nil(t, recs["add"], "a success is logged at info, below the level")
}
