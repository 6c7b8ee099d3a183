package rpc

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse"
)

// TestPagesThatAskDuringShutdownAreSentAway asks the server, while its hub
// shuts down (from an OnSessionEnd listener, which Shutdown runs before it
// returns), to open a session and to hold a long-poll: the open is
// refused with unavailable, and the long-poll is answered at once with
// the notice to reconnect.
func TestPagesThatAskDuringShutdownAreSentAway(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(t)
	pages := map[string]bool{c.openSession("/page"): true, c.openSession("/page"): true}

	type answer struct {
		status int
		body   map[string]any
	}
	var opened, polled *answer
	f.hub.OnSessionEnd(func(s *reverse.Session, _ string) {
		if opened != nil {
			return
		}
		status, body := c.post("session", map[string]any{"page": "/page"})
		opened = &answer{status, body}
		for id := range pages {
			if id != s.ID() {
				status, body := c.post("poll", map[string]any{"session": id, "ack": 0})
				polled = &answer{status, body}
			}
		}
	})
	// The deadline only detects a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, f.hub.Shutdown(ctx))

	require.NotNil(t, opened)
	assert.Equal(t, http.StatusServiceUnavailable, opened.status)
	assert.Equal(t, "unavailable", errCode(opened.body), "%v", opened.body)
	require.NotNil(t, polled)
	assert.Equal(t, http.StatusOK, polled.status)
	assert.Equal(t, map[string]any{"shutdown": map[string]any{"reconnect": float64(2000)}}, polled.body)
}
