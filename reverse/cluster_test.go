package reverse

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mortalBackplane is one process's connection to a shared backplane,
// which the test can cut as a process that dies would: from then on the
// hub neither hears nor says anything, and leaves the members.
type mortalBackplane struct {
	*MemoryBackplane
	dead  atomic.Bool
	mu    sync.Mutex
	leave func()
}

var errDead = errors.New("the process died")

func (b *mortalBackplane) Subscribe(hubID string, deliver func(uint64, Envelope), direct func(Envelope)) (func(), error) {
	leave, err := b.MemoryBackplane.Subscribe(hubID,
		func(pos uint64, env Envelope) {
			if !b.dead.Load() {
				deliver(pos, wire(env))
			}
		},
		func(env Envelope) {
			if !b.dead.Load() {
				direct(wire(env))
			}
		})
	b.mu.Lock()
	b.leave = leave
	b.mu.Unlock()
	return leave, err
}

func (b *mortalBackplane) Publish(env Envelope) (uint64, error) {
	if b.dead.Load() {
		return 0, errDead
	}
	return b.MemoryBackplane.Publish(env)
}

func (b *mortalBackplane) Send(hubID string, env Envelope) error {
	if b.dead.Load() {
		return errDead
	}
	return b.MemoryBackplane.Send(hubID, env)
}

func (b *mortalBackplane) Save(key string, value []byte) error {
	if b.dead.Load() {
		return errDead
	}
	return b.MemoryBackplane.Save(key, value)
}

// kill cuts the hub off, as SIGKILL would.
func (b *mortalBackplane) kill() {
	b.dead.Store(true)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.leave()
}

// cluster starts n hubs on one shared backplane.
func cluster(t *testing.T, n int, opts ...Option) ([]*Hub, []*mortalBackplane) {
	t.Helper()
	shared := NewMemoryBackplane()
	var hubs []*Hub
	var bps []*mortalBackplane
	for range n {
		bp := &mortalBackplane{MemoryBackplane: shared}
		hubs = append(hubs, newTestHub(t, append([]Option{WithBackplane(bp), WithLogger(slog.Default())}, opts...)...))
		bps = append(bps, bp)
	}
	return hubs, bps
}

// page is a page as the runtime is: it runs each message once, in order,
// and acknowledges what it ran.
type page struct {
	id, browser string
	ack         uint64
	ran         []string
}

// poll takes what hub h has for the page, as a held request there would.
func (p *page) poll(t *testing.T, h *Hub) {
	t.Helper()
	view, err := h.Lookup(p.id, p.browser)
	require.NoError(t, err)
	s, err := h.Hold(view)
	require.NoError(t, err)
	d := s.Pending(p.ack)
	require.Nil(t, d.Reset, "the session lives on")
	for _, m := range msgs(t, d) {
		if m.Seq <= p.ack {
			continue // sent again: the page skips it
		}
		require.Equal(t, p.ack+1, m.Seq, "no gap in the sequence")
		p.ack = m.Seq
		var arg string
		require.NoError(t, json.Unmarshal(m.Args[0], &arg))
		p.ran = append(p.ran, arg)
	}
}

func TestAnyHubServesAFarSession(t *testing.T) {
	t.Parallel()
	hubs, _ := cluster(t, 2)
	a, b := hubs[0], hubs[1]
	var ends atomic.Int32
	for _, h := range hubs {
		h.OnSessionEnd(func(*Session, string) { ends.Add(1) })
	}
	s := open(t, a, "/room", "br")
	s.Join("g")
	require.NoError(t, s.Subscribe("/news/*"))
	require.NoError(t, a.SetUser("br", "ann"))

	view, err := b.Lookup(s.ID(), "br")
	require.NoError(t, err)
	assert.Equal(t, "ann", view.User())
	assert.Equal(t, []string{"g"}, view.Groups())
	assert.Equal(t, []string{"/news/*"}, view.Subscriptions())
	assert.Equal(t, "/room", view.Page())
	_, err = b.Lookup(s.ID(), "someone-else")
	assert.ErrorIs(t, err, ErrForeignSession)

	view.Join("h")
	require.NoError(t, view.Subscribe("/sport/*"))
	assert.Equal(t, []string{"g", "h"}, s.Groups(), "a change made on another hub reaches the holder")
	assert.Equal(t, []string{"g", "h"}, view.Groups())
	require.NoError(t, b.Group("h").Call("f", "to h"))
	require.NoError(t, b.Publish("/sport/x", "sport"))
	require.NoError(t, b.User("ann").Call("f", "to ann"))
	assert.Equal(t, []string{"f", "parley.publish", "f"}, fns(t, s.Pending(0)))

	s.mu.Lock()
	s.sent = s.lastSeq
	s.mu.Unlock()
	view.Ack(2)
	assert.Len(t, s.Pending(0).Messages, 1, "an ack another hub received reaches the holder")

	done := invoke(t.Context(), b.Session(s.ID()), "ask")
	m := invoked(t, s, "ask")
	require.NoError(t, view.Answer(m.Invoke, json.RawMessage(`42`), nil))
	replies := <-done
	require.Len(t, replies, 1)
	assert.JSONEq(t, `42`, string(replies[0].Value), "an answer another hub received reaches the invoker")

	view.Close()
	reason, ended := s.Ended()
	assert.True(t, ended)
	assert.Equal(t, ReasonClosed, reason)
	_, err = b.Lookup(s.ID(), "br")
	assert.ErrorIs(t, err, ErrNotFound, "every hub forgets an ended session")
	require.Eventually(t, func() bool { return ends.Load() == 1 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, int32(1), ends.Load(), "OnSessionEnd runs once in the cluster")
}

// TestSessionsMoveBetweenHubs moves one page's session between three hubs
// at random, as a balancer without sticky sessions sends its polls, while
// all three call it, change its groups and subscribe it: the page runs
// every call once, in the log's order.
func TestSessionsMoveBetweenHubs(t *testing.T) {
	t.Parallel()
	hubs, _ := cluster(t, 3)
	s := open(t, hubs[0], "/p", "br")
	p := &page{id: s.ID(), browser: "br"}
	rng := rand.New(rand.NewPCG(1, 2))
	var want []string
	inGroup := false
	for i := range 600 {
		h := hubs[rng.IntN(3)]
		view, err := h.Lookup(p.id, p.browser)
		require.NoError(t, err)
		arg := fmt.Sprint(i)
		switch rng.IntN(6) {
		case 0:
			p.poll(t, h)
		case 1:
			if inGroup {
				view.Leave("g")
			} else {
				view.Join("g")
			}
			inGroup = !inGroup
		case 2:
			require.NoError(t, h.Group("g").Call("f", arg))
			if inGroup {
				want = append(want, arg)
			}
		case 3:
			require.NoError(t, h.Session(p.id).Call("f", arg))
			want = append(want, arg)
		default:
			require.NoError(t, h.Page("/p").Call("f", arg))
			want = append(want, arg)
		}
	}
	p.poll(t, hubs[0])
	assert.Equal(t, want, p.ran)
}

// TestTakeoverAfterAHubDies kills the hub holding a page, then lets
// another take the page over: it rebuilds the session from the log, and
// the page runs every call once, in order; the same again after a
// checkpoint.
func TestTakeoverAfterAHubDies(t *testing.T) {
	t.Parallel()
	hubs, bps := cluster(t, 3)
	a, b, c := hubs[0], hubs[1], hubs[2]
	s := open(t, a, "/p", "br")
	p := &page{id: s.ID(), browser: "br"}
	var want []string
	call := func(h *Hub, target Target, arg string, reaches bool) {
		require.NoError(t, target.Call("f", arg))
		if reaches {
			want = append(want, arg)
		}
	}
	call(b, b.Page("/p"), "1", true)
	p.poll(t, a)
	call(c, c.Group("g"), "2", false)
	s.Join("g") // a change the holder makes at once
	call(c, c.Group("g"), "3", true)
	call(b, b.Session(p.id), "4", true)
	bps[0].kill()
	call(c, c.Page("/p"), "5", true)
	p.poll(t, b)
	assert.Equal(t, want, p.ran, "rebuilt from the open entry")

	view, err := c.Lookup(p.id, "br")
	require.NoError(t, err)
	view.Leave("g")
	call(c, c.Group("g"), "6", false)
	call(c, c.All(), "7", true)
	bps[1].kill()
	p.poll(t, c)
	assert.Equal(t, want, p.ran, "rebuilt from the checkpoint of the hub it moved to")
}

func (b *mortalBackplane) Err() error {
	if b.dead.Load() {
		return errDead
	}
	return nil
}

func TestAHubWithoutItsBusTakesNoPages(t *testing.T) {
	t.Parallel()
	hubs, bps := cluster(t, 2)
	require.NoError(t, hubs[0].Err())
	bps[0].dead.Store(true)
	_, err := hubs[0].Open("/p", "br")
	assert.ErrorIs(t, err, ErrUnavailable)
	assert.ErrorIs(t, hubs[0].Err(), ErrUnavailable)
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
		h.OnSessionEnd(func(*Session, string) { ends.Add(1) })
	}
	s := open(t, a, "/p", "br")
	p := &page{id: s.ID(), browser: "br"}
	require.NoError(t, b.Page("/p").Call("f", "1"))
	p.poll(t, a)
	require.NoError(t, b.Page("/p").Call("f", "2"))
	require.NoError(t, a.Shutdown(t.Context()))
	require.NoError(t, b.Page("/p").Call("f", "3"))
	p.poll(t, b)
	assert.Equal(t, []string{"1", "2", "3"}, p.ran)
	assert.Zero(t, ends.Load(), "the session lives on")
}

// TestOrphansEndOnceAfterTheTimeout kills the hub holding two pages that
// never come back: after the session timeout the sessions end, once, and
// one hub runs OnSessionEnd for each.
func TestOrphansEndOnceAfterTheTimeout(t *testing.T) {
	t.Parallel()
	hubs, bps := cluster(t, 3, WithSessionTimeout(200*time.Millisecond))
	var mu sync.Mutex
	ended := map[string]string{}
	for _, h := range hubs[1:] { // the dead hub runs nothing more
		h.OnSessionEnd(func(s *Session, reason string) {
			mu.Lock()
			defer mu.Unlock()
			ended[s.ID()] += reason + ";"
		})
	}
	x := open(t, hubs[0], "/p", "x")
	y := open(t, hubs[0], "/p", "y")
	live := open(t, hubs[1], "/p", "z")
	bps[0].kill()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ended) >= 2
	}, 20*time.Second, 10*time.Millisecond)
	// Keep the live page busy meanwhile, as its poll would.
	live.Ack(0)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, ReasonExpired+";", ended[x.ID()])
	assert.Equal(t, ReasonExpired+";", ended[y.ID()])
	for _, h := range hubs[1:] {
		_, err := h.Lookup(x.ID(), "x")
		assert.ErrorIs(t, err, ErrNotFound)
	}
}

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

func TestAMovedSessionEndsOnceWhereItIs(t *testing.T) {
	t.Parallel()
	hubs, _ := cluster(t, 2)
	a, b := hubs[0], hubs[1]
	var onA, onB atomic.Int32
	a.OnSessionEnd(func(*Session, string) { onA.Add(1) })
	b.OnSessionEnd(func(*Session, string) { onB.Add(1) })
	s := open(t, a, "/p", "br")
	view, err := b.Lookup(s.ID(), "br")
	require.NoError(t, err)
	held, err := b.Hold(view)
	require.NoError(t, err)
	held.Close()
	assert.Equal(t, int32(1), onB.Load(), "the hub that holds it runs OnSessionEnd")
	assert.Zero(t, onA.Load(), "the hub it left does not")
}
