package rpc

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/parley-go/parley/reverse"
)

// cutBackplane is a backplane whose bus can be made unreachable.
type cutBackplane struct {
	*reverse.MemoryBackplane
	cut atomic.Bool
}

func (b *cutBackplane) Err() error {
	if b.cut.Load() {
		return http.ErrServerClosed
	}
	return nil
}

func TestHealthFollowsTheBackplane(t *testing.T) {
	t.Parallel()
	bp := &cutBackplane{MemoryBackplane: reverse.NewMemoryBackplane()}
	hub := reverse.NewHub(reverse.WithBackplane(bp))
	t.Cleanup(hub.Close)
	ts := httptest.NewServer(NewServer(WithHub(hub)))
	t.Cleanup(ts.Close)

	assert.Equal(t, http.StatusOK, send(t, ts, http.MethodGet, "/parley/health", "").status)
	assert.Equal(t, http.StatusOK, send(t, ts, http.MethodPost, "/parley/session", `{"page":"/"}`, parleyHeaders()...).status)

	bp.cut.Store(true)
	r := send(t, ts, http.MethodGet, "/parley/health", "")
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Equal(t, string(CodeUnavailable), r.code)
	r = send(t, ts, http.MethodPost, "/parley/session", `{"page":"/"}`, parleyHeaders()...)
	assert.Equal(t, string(CodeUnavailable), r.code, "no new page while the bus is unreachable")

	bp.cut.Store(false)
	assert.Equal(t, http.StatusOK, send(t, ts, http.MethodGet, "/parley/health", "").status)
}

func TestHealthWithoutAHub(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(NewServer())
	t.Cleanup(ts.Close)
	assert.Equal(t, http.StatusOK, send(t, ts, http.MethodGet, "/parley/health", "").status)
}
