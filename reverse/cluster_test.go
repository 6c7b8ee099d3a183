package reverse

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestLostEntriesResetThePages gives a hub a log that skips positions, as
// a bus that lost entries does: its pages are told they missed calls.
func TestLostEntriesResetThePages(t *testing.T) {
	t.Parallel()
	bp := NewMemoryBackplane()
	h := newTestHub(t, WithBackplane(bp), WithLogger(slog.New(slog.DiscardHandler)))
	s := open(t, h, "/p", "br")
	h.receive(h.pos.Load()+5, Envelope{Kind: kindAll, Body: json.RawMessage(`{"fn":"f","args":[]}`)})
	reason, ended := s.Ended()
	assert.True(t, ended)
	assert.Equal(t, ReasonUnavailable, reason)
}
