package reverse

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newLimitedHub returns a hub with limits l.
func newLimitedHub(t *testing.T, l Limits) *Hub {
	t.Helper()
	h := NewHub(WithLimits(l))
	t.Cleanup(h.Close)
	return h
}

// seenAt sets when s was last seen.
func seenAt(s *Session, at time.Time) {
	s.mu.Lock()
	s.lastSeen = stampOf(at)
	s.mu.Unlock()
}

// markHeld makes s look as if a connection were held for it, until the
// test ends.
func markHeld(t *testing.T, s *Session) {
	s.mu.Lock()
	s.held = &held{}
	s.mu.Unlock()
	t.Cleanup(func() {
		s.mu.Lock()
		s.held = nil
		s.mu.Unlock()
	})
}

func TestFullHubEvictsIdlestSession(t *testing.T) {
	t.Parallel()
	h := newLimitedHub(t, Limits{Sessions: 3})
	a, err := h.Open("/p", "A")
	require.NoError(t, err)
	b, err := h.Open("/p", "B")
	require.NoError(t, err)
	c, err := h.Open("/p", "C")
	require.NoError(t, err)
	at := time.Now()
	for i, s := range []*Session{a, b, c} {
		seenAt(s, at.Add(time.Duration(i)*time.Second))
	}
	markHeld(t, a) // the oldest, but it holds a connection

	d, err := h.Open("/p", "D")
	require.NoError(t, err, "a full hub makes room")
	reason, ended := b.Ended()
	assert.True(t, ended)
	assert.Equal(t, ReasonEvicted, reason, "the idlest session without a connection goes")
	for _, s := range []*Session{a, c, d} {
		_, ended := s.Ended()
		assert.False(t, ended, s.ID())
	}

	markHeld(t, c)
	markHeld(t, d)
	_, err = h.Open("/p", "E")
	assert.ErrorIs(t, err, ErrTooManySessions, "every session holds a connection")
	assert.Equal(t, 3, h.Len())
}

func TestPerAddressLimits(t *testing.T) {
	t.Parallel()
	h := newLimitedHub(t, Limits{SessionsPerAddress: 3, BrowsersPerAddress: 2})
	flood := netip.MustParseAddr("203.0.113.7")
	other := netip.MustParseAddr("198.51.100.1")
	open := func(browser string, addr netip.Addr) error {
		_, err := h.OpenFrom("/p", browser, addr)
		return err
	}

	require.NoError(t, open("x", flood))
	require.NoError(t, open("y", flood))
	assert.ErrorIs(t, open("z", flood), ErrTooManySessions, "a third browser at the address")
	require.NoError(t, open("x", flood), "a known browser opens another page")
	err := open("x", flood)
	assert.ErrorIs(t, err, ErrTooManySessions, "the address's fourth session")
	assert.Contains(t, err.Error(), "one address may open 3")

	require.NoError(t, open("z", other), "other addresses are not affected")
	for range 5 {
		require.NoError(t, open("w", netip.Addr{}), "sessions of unknown address are not counted")
	}

	// Ended sessions give their room back.
	for _, s := range h.Snapshot() {
		got, err := h.Lookup(s.ID, "y")
		if err == nil {
			got.Close()
		}
	}
	require.NoError(t, open("z", flood), "y's room went back to the address")
}

// TestAddressesCountedOnlyWhenALimitCanBeReached: a hub whose
// per-address limits are above its total keeps no count of what each
// address holds; one with either limit within it counts, and a page that
// moves to a new browser id moves in its address's count.
func TestAddressesCountedOnlyWhenALimitCanBeReached(t *testing.T) {
	t.Parallel()
	addr := netip.MustParseAddr("203.0.113.7")
	for _, tt := range []struct {
		name    string
		limits  Limits
		counted bool
	}{
		{"both above the total", Limits{Sessions: 10, SessionsPerAddress: 11, BrowsersPerAddress: 11}, false},
		{"sessions per address within it", Limits{Sessions: 10, SessionsPerAddress: 10, BrowsersPerAddress: 11}, true},
		{"browsers per address within it", Limits{Sessions: 10, SessionsPerAddress: 11, BrowsersPerAddress: 10}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newLimitedHub(t, tt.limits)
			a, err := h.OpenFrom("/p", "x", addr)
			require.NoError(t, err)
			b, err := h.OpenFrom("/p", "y", addr)
			require.NoError(t, err)
			h.RotateBrowser("x", "x2", a)
			count := func() (int, map[string]int) {
				h.mu.RLock()
				defer h.mu.RUnlock()
				use := h.ids.byAddr[addr]
				if use == nil {
					return 0, nil
				}
				return use.sessions, use.browsers
			}
			n, browsers := count()
			if !tt.counted {
				assert.Zero(t, n)
				h.mu.RLock()
				assert.Nil(t, a.x.addr)
				h.mu.RUnlock()
				return
			}
			assert.Equal(t, 2, n)
			assert.Equal(t, map[string]int{"x2": 1, "y": 1}, browsers)
			a.Close()
			b.Close()
			n, _ = count()
			assert.Zero(t, n, "ended sessions are counted no more")
		})
	}
}

func TestDefaultSessionsFitTheOpenFileLimit(t *testing.T) {
	t.Parallel()
	n := openFileLimit()
	if n <= 0 {
		t.Skip("the open-file limit is unknown here")
	}
	got := Limits{}.withDefaults().Sessions
	assert.Less(t, got, n, "every session may hold a connection, and more files are needed")
	assert.LessOrEqual(t, got, 100_000)
}

func TestRotatedBrowserClaimsItsSessions(t *testing.T) {
	t.Parallel()
	h := newLimitedHub(t, Limits{})
	caller, err := h.Open("/p", "old")
	require.NoError(t, err)
	tab, err := h.Open("/p", "old")
	require.NoError(t, err)
	planted, err := h.Open("/p", "old") // whoever else knows the old id
	require.NoError(t, err)

	h.RotateBrowser("old", "new", caller)
	require.NoError(t, h.SetUser("new", "alice"))
	assert.Equal(t, "new", caller.HTTPSession())
	assert.Equal(t, "alice", caller.User())

	// What the user is sent now waits in the other pages' outboxes until
	// they show they have the new id.
	require.NoError(t, h.User("alice").Call("welcome"))
	assert.Len(t, caller.Pending(0).Messages, 1)
	for _, s := range []*Session{tab, planted} {
		assert.Empty(t, s.Pending(0).Messages, "held back until claimed")
	}

	_, err = h.Lookup(tab.ID(), "other")
	assert.True(t, errors.Is(err, ErrForeignSession))
	got, err := h.Lookup(tab.ID(), "new")
	require.NoError(t, err)
	assert.Same(t, tab, got)
	assert.Equal(t, "alice", tab.User())
	assert.Len(t, tab.Pending(0).Messages, 1, "claimed: the held-back message arrives")

	got, err = h.Lookup(tab.ID(), "old")
	require.NoError(t, err, "a request sent before the move still carries the old id")
	assert.Same(t, tab, got)
	assert.Equal(t, "new", tab.HTTPSession(), "and does not move the page back")
	_, err = h.Lookup(caller.ID(), "elsewhere")
	assert.ErrorIs(t, err, ErrForeignSession)

	// Past the grace, the old id reaches none of the moved pages, and the
	// page that never presented the new id ends without what was held back.
	h.mu.Lock()
	r := h.ids.rotated["old"]
	r.at = r.at.Add(-h.renameGrace() - time.Second)
	h.ids.rotated["old"] = r
	h.mu.Unlock()
	for _, s := range []*Session{caller, tab} {
		_, err = h.Lookup(s.ID(), "old")
		assert.ErrorIs(t, err, ErrForeignSession)
	}
	h.expireIdle()
	reason, ended := planted.Ended()
	assert.True(t, ended)
	assert.Equal(t, ReasonClosed, reason)
	assert.Equal(t, &Reset{Reason: ReasonClosed}, planted.Pending(0).Reset)
	_, ended = tab.Ended()
	assert.False(t, ended)
}
