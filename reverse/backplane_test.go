package reverse

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wireBackplane is a backplane as one across processes would be: every
// envelope is encoded to JSON and decoded again on its way, and recorded.
type wireBackplane struct {
	*MemoryBackplane
	mu   sync.Mutex
	seen []Envelope
}

// wire returns env after a trip through JSON.
func wire(env Envelope) Envelope {
	raw, err := json.Marshal(env)
	if err != nil {
		panic(err)
	}
	var decoded Envelope
	if err := json.Unmarshal(raw, &decoded); err != nil {
		panic(err)
	}
	return decoded
}

func (b *wireBackplane) Subscribe(hubID string, deliver func(uint64, Envelope), direct func(Envelope)) (func(), error) {
	return b.MemoryBackplane.Subscribe(hubID,
		func(pos uint64, env Envelope) { deliver(pos, wire(env)) },
		func(env Envelope) { direct(wire(env)) })
}

func (b *wireBackplane) record(env Envelope) {
	b.mu.Lock()
	b.seen = append(b.seen, env)
	b.mu.Unlock()
}

func (b *wireBackplane) Publish(env Envelope) (uint64, error) {
	b.record(env)
	return b.MemoryBackplane.Publish(env)
}

func (b *wireBackplane) Send(hubID string, env Envelope) error {
	b.record(env)
	return b.MemoryBackplane.Send(hubID, env)
}

// kinds returns the kinds of the envelopes published since the last call.
func (b *wireBackplane) kinds() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.seen {
		out = append(out, e.Kind)
	}
	b.seen = nil
	return out
}

func TestEveryDeliveryGoesThroughTheBackplane(t *testing.T) {
	t.Parallel()
	bp := &wireBackplane{MemoryBackplane: NewMemoryBackplane()}
	h := newTestHub(t, WithBackplane(bp))
	s := open(t, h, "/p", "browser")
	s.Join("g")
	s.Set("k", 1)
	require.NoError(t, s.Subscribe("/t/*"))

	require.NoError(t, h.SetUser("browser", "ann"))
	require.NoError(t, h.Page("/p").Call("f"))
	require.NoError(t, h.Session(s.ID()).Call("f"))
	require.NoError(t, h.HTTPSession("browser").Call("f"))
	require.NoError(t, h.User("ann").Call("f"))
	require.NoError(t, h.Group("g").Call("f"))
	require.NoError(t, h.All().Call("f"))
	require.NoError(t, h.Where(func(s *Session) bool { return s.Get("k") == 1 }).Call("f"))
	require.NoError(t, h.Publish("/t/x", "data"))
	require.NoError(t, h.Page("/p").DOM().SetText("#a", "b"))
	assert.Equal(t, []string{"hello", "open", "join", "sub", "bind", "page", "session", "browser", "user", "group", "all", "sessions", "topic", "page"}, bp.kinds())
	assert.Len(t, msgs(t, s.Pending(0)), 9, "every call reached the page after its trip as JSON")

	done := invoke(t.Context(), h.Group("g"), "ask")
	m := invoked(t, s, "ask")
	require.NoError(t, s.Answer(m.Invoke, json.RawMessage(`"yes"`), nil))
	replies := <-done
	require.Len(t, replies, 1)
	assert.Equal(t, json.RawMessage(`"yes"`), replies[0].Value)
	assert.Equal(t, []string{"group", "reached", "result"}, bp.kinds(), "the call, the report of the pages reached and the result")
}

func TestHubsShareABackplane(t *testing.T) {
	t.Parallel()
	bp := NewMemoryBackplane()
	a := newTestHub(t, WithBackplane(bp))
	b := newTestHub(t, WithBackplane(bp))
	onA := open(t, a, "/room", "alice")
	onB := open(t, b, "/room", "bob")
	onB2 := open(t, b, "/room", "alice") // alice's second tab, held by the other process
	onA.Join("g")
	onB.Join("g")
	require.NoError(t, onB.Subscribe("/news/**"))

	require.NoError(t, a.Page("/room").Call("hello"))
	require.NoError(t, a.Publish("/news/today", 1))
	require.NoError(t, a.SetUser("alice", "alice"))
	assert.Equal(t, "alice", onB2.User(), "a binding reaches every hub")
	require.NoError(t, a.User("alice").Call("mine"))
	all := []*Session{onA, onB, onB2}
	assert.ElementsMatch(t, all, reached(t, a.Where(func(*Session) bool { return true }), all...),
		"a Where filter runs over the sessions of every hub")
	require.NoError(t, onB2.SetShared("seat", 7))
	seven := func(s *Session) bool {
		var seat int
		ok, err := s.GetShared("seat", &seat)
		return err == nil && ok && seat == 7
	}
	assert.ElementsMatch(t, []*Session{onB2}, reached(t, a.Where(seven), all...),
		"a Where filter reads the shared attributes of another hub's sessions")
	assert.Equal(t, []string{"hello", "parley.publish"}, fns(t, onB.Pending(0))[:2])
	assert.Equal(t, []string{"hello", "mine"}, fns(t, onB2.Pending(0))[:2])

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := invoke(ctx, a.Group("g"), "count")
	require.NoError(t, onA.Answer(invoked(t, onA, "count").Invoke, json.RawMessage(`1`), nil))
	require.NoError(t, onB.Answer(invoked(t, onB, "count").Invoke, json.RawMessage(`2`), nil))
	replies := <-done
	require.Len(t, replies, 2, "a result from a page held by another hub comes back through the backplane")
	got := map[string]string{}
	for _, r := range replies {
		require.NoError(t, r.Err)
		got[r.Session] = string(r.Value)
	}
	assert.Equal(t, map[string]string{onA.ID(): "1", onB.ID(): "2"}, got)

	_, err := bp.Subscribe(a.id, func(uint64, Envelope) {}, func(Envelope) {})
	assert.ErrorIs(t, err, ErrDuplicateHub)
}

// TestOneOrderPerPublishingHub checks that pages held by another hub see
// the calls of one hub, made from many goroutines, in one order.
func TestOneOrderPerPublishingHub(t *testing.T) {
	t.Parallel()
	bp := NewMemoryBackplane()
	pub := newTestHub(t, WithBackplane(bp))
	far := newTestHub(t, WithBackplane(bp))
	x := open(t, far, "/", "x")
	y := open(t, far, "/", "y")
	z := open(t, pub, "/", "z")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				assert.NoError(t, pub.Page("/").Call("f", g*1000+i))
			}
		})
	}
	wg.Wait()
	jx, err := json.Marshal(x.Pending(0).Messages)
	require.NoError(t, err)
	jy, err := json.Marshal(y.Pending(0).Messages)
	require.NoError(t, err)
	jz, err := json.Marshal(z.Pending(0).Messages)
	require.NoError(t, err)
	assert.JSONEq(t, string(jx), string(jy))
	assert.JSONEq(t, string(jx), string(jz))
	assert.Len(t, x.Pending(0).Messages, 400)
}

func TestMalformedEnvelopesAreDropped(t *testing.T) {
	t.Parallel()
	bp := NewMemoryBackplane()
	h := newTestHub(t, WithBackplane(bp), WithLogger(slog.New(slog.DiscardHandler)))
	s := open(t, h, "/", "h")
	for _, env := range []Envelope{
		{Kind: "all", Body: json.RawMessage(`alert(1)`)},
		{Kind: "all", Body: json.RawMessage(`{"x":1}`)},
		{Kind: "nonsense", Body: json.RawMessage(`{"fn":"f","args":[]}`)},
		{Kind: "bind", Key: "h", Body: json.RawMessage(`7`)},
	} {
		_, err := bp.Publish(env)
		require.NoError(t, err)
	}
	assert.Empty(t, s.Pending(0).Messages)
	assert.Equal(t, "", s.User())
}
