package reverse_test

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/reverse/backplanetest"
)

// cluster starts n hubs on one in-memory backplane, each behind a
// connection the test can cut as a process's death would.
func cluster(t *testing.T, n int, opts ...reverse.Option) ([]*reverse.Hub, []*backplanetest.Mortal) {
	t.Helper()
	shared := reverse.NewMemoryBackplane()
	var hubs []*reverse.Hub
	var bps []*backplanetest.Mortal
	for range n {
		bp := &backplanetest.Mortal{Backplane: shared}
		h := reverse.NewHub(append([]reverse.Option{reverse.WithBackplane(bp)}, opts...)...)
		t.Cleanup(h.Close)
		hubs = append(hubs, h)
		bps = append(bps, bp)
	}
	return hubs, bps
}

func open(t *testing.T, h *reverse.Hub, page, browser string) *reverse.Session {
	t.Helper()
	s, err := h.Open(page, browser)
	require.NoError(t, err)
	return s
}

func TestAHubWithoutItsBusTakesNoPages(t *testing.T) {
	t.Parallel()
	hubs, bps := cluster(t, 2)
	require.NoError(t, hubs[0].Err())
	bps[0].Kill()
	_, err := hubs[0].Open("/p", "br")
	assert.ErrorIs(t, err, reverse.ErrUnavailable)
	assert.ErrorIs(t, hubs[0].Err(), reverse.ErrUnavailable)
	_, err = hubs[1].Open("/p", "br")
	assert.NoError(t, err, "the other hub still takes pages")
}

// TestShutdownLeavesSessionsToTheOtherHubs shuts a hub down while its page
// has calls it has not run: the page comes back to another hub and runs
// them, then the rest, once each, and no OnSessionEnd runs.
func TestShutdownLeavesSessionsToTheOtherHubs(t *testing.T) {
	t.Parallel()
	hubs, _ := cluster(t, 2)
	a, b := hubs[0], hubs[1]
	var ends atomic.Int32
	for _, h := range hubs {
		h.OnSessionEnd(func(*reverse.Session, string) { ends.Add(1) })
	}
	s := open(t, a, "/p", "br")
	p := &backplanetest.Page{ID: s.ID(), Browser: "br"}
	require.NoError(t, b.Page("/p").Call("f", "1"))
	p.Poll(t, a)
	require.NoError(t, b.Page("/p").Call("f", "2"))
	require.NoError(t, a.Shutdown(t.Context()))
	require.NoError(t, b.Page("/p").Call("f", "3"))
	p.Poll(t, b)
	assert.Equal(t, []string{"1", "2", "3"}, p.Ran)
	assert.Zero(t, ends.Load(), "the session lives on")
}

// TestOrphansEndOnceAfterTheTimeout kills the hub holding two pages that
// never come back: after the session timeout the sessions end, once, and
// one hub runs OnSessionEnd for each.
func TestOrphansEndOnceAfterTheTimeout(t *testing.T) {
	t.Parallel()
	hubs, bps := cluster(t, 3, reverse.WithSessionTimeout(200*time.Millisecond))
	var mu sync.Mutex
	ended := map[string]string{}
	for _, h := range hubs[1:] { // the dead hub runs nothing more
		h.OnSessionEnd(func(s *reverse.Session, reason string) {
			mu.Lock()
			defer mu.Unlock()
			ended[s.ID()] += reason + ";"
		})
	}
	x := open(t, hubs[0], "/p", "x")
	y := open(t, hubs[0], "/p", "y")
	live := open(t, hubs[1], "/p", "z")
	bps[0].Kill()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ended) >= 2
	}, 20*time.Second, 10*time.Millisecond)
	// Keep the live page busy meanwhile, as its poll would.
	live.Ack(0)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, reverse.ReasonExpired+";", ended[x.ID()])
	assert.Equal(t, reverse.ReasonExpired+";", ended[y.ID()])
	for _, h := range hubs[1:] {
		_, err := h.Lookup(x.ID(), "x")
		assert.ErrorIs(t, err, reverse.ErrNotFound)
	}
}

func TestAMovedSessionEndsOnceWhereItIs(t *testing.T) {
	t.Parallel()
	hubs, _ := cluster(t, 2)
	a, b := hubs[0], hubs[1]
	var onA, onB atomic.Int32
	a.OnSessionEnd(func(*reverse.Session, string) { onA.Add(1) })
	b.OnSessionEnd(func(*reverse.Session, string) { onB.Add(1) })
	s := open(t, a, "/p", "br")
	view, err := b.Lookup(s.ID(), "br")
	require.NoError(t, err)
	held, err := b.Hold(view)
	require.NoError(t, err)
	held.Close()
	assert.Equal(t, int32(1), onB.Load(), "the hub that holds it runs OnSessionEnd")
	assert.Zero(t, onA.Load(), "the hub it left does not")
}

// TestAHubThatJoinsLateLearnsASessionFromItsHolder: a hub that joins after
// the log has dropped the entries since a session's checkpoint learns the
// session from its holder, and serves its page.
func TestAHubThatJoinsLateLearnsASessionFromItsHolder(t *testing.T) {
	t.Parallel()
	shared := reverse.NewMemoryBackplane()
	join := func() *reverse.Hub {
		h := reverse.NewHub(reverse.WithBackplane(shared))
		t.Cleanup(h.Close)
		return h
	}
	a, b := join(), join()
	s := open(t, a, "/p", "br")
	s.Join("g")
	for i := range 5000 { // more than the log keeps
		require.NoError(t, b.Page("/elsewhere").Call("f", i))
	}
	late := join()
	view, err := late.Lookup(s.ID(), "br")
	require.NoError(t, err, "the late hub knows the session")
	assert.Equal(t, []string{"g"}, view.Groups())
	require.NoError(t, late.Group("g").Call("hello"))
	require.Eventually(t, func() bool { return len(view.Pull(0).Messages) == 1 }, 10*time.Second, 10*time.Millisecond,
		"the page gets its call through the late hub")
	assert.Equal(t, 1, a.Len(), "the session stays where it is")
}

// TestAFarBacklogComesInBoundedReplies checks that a page whose session
// another hub holds, pulling through this one, gets a large backlog in
// several replies that say "more" but the last, every message once, in
// order.
func TestAFarBacklogComesInBoundedReplies(t *testing.T) {
	t.Parallel()
	hubs, _ := cluster(t, 2, reverse.WithLimits(reverse.Limits{OutboxBytes: 4 << 20}))
	s := open(t, hubs[0], "/p", "br")
	const count = 40
	for range count {
		require.NoError(t, s.Call("f", strings.Repeat("x", 10<<10)))
	}
	view, err := hubs[1].Lookup(s.ID(), "br")
	require.NoError(t, err)
	var ack uint64
	replies := 0
	for ack < count {
		replies++
		require.Less(t, replies, 100, "no progress")
		d := view.Pull(ack)
		if len(d.Messages) == 0 {
			continue // the holder did not answer in time: the page asks again
		}
		for _, m := range d.Messages {
			require.Equal(t, ack+1, m.Seq, "every message once, in order")
			ack = m.Seq
		}
		assert.Equal(t, ack < count, d.More, "after %d: more says whether messages were left", ack)
	}
	assert.Greater(t, replies, 1, "the backlog came in several replies")
	assert.Equal(t, 1, hubs[0].Len(), "the session stays where it is")
}
