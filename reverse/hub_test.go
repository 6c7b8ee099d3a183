package reverse

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newTestHub(t *testing.T, opts ...Option) *Hub {
	t.Helper()
	h := NewHub(opts...)
	t.Cleanup(h.Close)
	return h
}

func open(t *testing.T, h *Hub, page, httpID string) *Session {
	t.Helper()
	s, err := h.Open(page, httpID)
	require.NoError(t, err)
	return s
}

// fns returns the function names of d's messages.
func fns(t *testing.T, d Delivery) []string {
	t.Helper()
	var out []string
	for _, m := range d.Messages {
		var msg struct{ Fn string }
		b, err := json.Marshal(m)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &msg))
		out = append(out, msg.Fn)
	}
	return out
}

func TestNormalizePage(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/":                       "/",
		"":                        "/",
		"/chat":                   "/chat",
		"/chat/":                  "/chat",
		"/chat?room=1#top":        "/chat",
		"/index.html":             "/",
		"/docs/index.htm?x":       "/docs",
		"/a/../b//c":              "/b/c",
		"relative/index.html":     "/relative",
		"/callcenter/index.html/": "/callcenter",
	} {
		assert.Equal(t, want, NormalizePage(in), "NormalizePage(%q)", in)
	}
}

func TestTargetsReachTheirPagesOnly(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	chatA := open(t, h, "/chat", "alice")
	chatB := open(t, h, "/chat/index.html?x=1", "bob")
	other := open(t, h, "/other", "alice")

	require.NoError(t, h.Page("/chat").Call("toChat", 1))
	require.NoError(t, h.Session(other.ID()).Call("toOther"))
	require.NoError(t, h.All().Call("toAll"))
	require.NoError(t, h.Page("/nobody").Call("lost"))

	assert.Equal(t, []string{"toChat", "toAll"}, fns(t, chatA.Pending(0)))
	assert.Equal(t, []string{"toChat", "toAll"}, fns(t, chatB.Pending(0)))
	assert.Equal(t, []string{"toOther", "toAll"}, fns(t, other.Pending(0)))
}

func TestMessageEncoding(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	s := open(t, h, "/", "h")
	require.NoError(t, s.Call("ChatPage.addMessage", map[string]any{"text": "<b>hi</b>"}, 2))
	b, err := json.Marshal(s.Pending(0))
	require.NoError(t, err)
	assert.JSONEq(t, `{"messages":[{"seq":1,"fn":"ChatPage.addMessage","args":[{"text":"<b>hi</b>"},2]}]}`, string(b))

	assert.Error(t, s.Call(""), "an empty function name is refused")
	assert.Error(t, s.Call("f", make(chan int)), "an argument JSON cannot carry is refused")
	assert.Len(t, s.Pending(1).Messages, 0, "refused calls add nothing")
}

func TestAckDropsWhatThePageRan(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	s := open(t, h, "/", "h")
	for range 3 {
		require.NoError(t, s.Call("f"))
	}
	seqs := func(d Delivery) (out []uint64) {
		for _, m := range d.Messages {
			out = append(out, m.Seq)
		}
		return out
	}
	assert.Equal(t, []uint64{1, 2, 3}, seqs(s.Pending(0)))
	assert.Equal(t, []uint64{3}, seqs(s.Pending(2)))
	assert.Equal(t, []uint64{3}, seqs(s.Pending(1)), "an older ack does not bring acknowledged messages back")
	assert.Empty(t, seqs(s.Pending(99)), "an ack past the end is clamped")
	require.NoError(t, s.Call("f"))
	assert.Equal(t, []uint64{4}, seqs(s.Pending(3)), "numbering goes on after a clamped ack")
}

func TestLookupChecksTheHTTPSession(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	s := open(t, h, "/", "alice")
	got, err := h.Lookup(s.ID(), "alice")
	require.NoError(t, err)
	assert.Same(t, s, got)
	_, err = h.Lookup(s.ID(), "mallory")
	assert.ErrorIs(t, err, ErrForeignSession)
	_, err = h.Lookup("no-such-id", "alice")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Len(t, s.ID(), 22, "128 bits, base64url")
}

func TestSessionLimits(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithLimits(Limits{PagesPerHTTPSession: 2, Sessions: 3}))
	open(t, h, "/", "a")
	open(t, h, "/", "a")
	_, err := h.Open("/", "a")
	assert.ErrorIs(t, err, ErrTooManySessions, "per HTTP session")
	open(t, h, "/", "b")
	// The hub is full; "c" gets in by the eviction of an idle session
	// (TestFullHubEvictsIdlestSession), so that a new visitor is never
	// refused while a page that holds nothing keeps its place.
	_, err = h.Open("/", "c")
	assert.NoError(t, err, "in all")
	assert.Equal(t, 3, h.Len())
}

func TestOverflowEndsTheSessionWithAReset(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithLimits(Limits{OutboxMessages: 3}))
	s := open(t, h, "/p", "h")
	for range 4 {
		require.NoError(t, h.Page("/p").Call("f"))
	}
	d := s.Pending(0)
	require.NotNil(t, d.Reset)
	assert.Equal(t, ReasonOverflow, d.Reset.Reason)
	assert.Empty(t, d.Messages)
	_, err := h.Lookup(s.ID(), "h")
	assert.ErrorIs(t, err, ErrNotFound)

	hb := newTestHub(t, WithLimits(Limits{OutboxBytes: 100}))
	sb := open(t, hb, "/", "h")
	require.NoError(t, sb.Call("f", string(make([]byte, 60))))
	require.NoError(t, sb.Call("f", string(make([]byte, 60))))
	reason, ended := sb.Ended()
	assert.True(t, ended)
	assert.Equal(t, ReasonOverflow, reason)
}

// TestConcurrentCallersSeeOneOrder checks that pages agree on the order of
// calls made from many goroutines at once.
func TestConcurrentCallersSeeOneOrder(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	a := open(t, h, "/", "a")
	b := open(t, h, "/", "b")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				assert.NoError(t, h.Page("/").Call("f", g*1000+i))
			}
		})
	}
	wg.Wait()
	ja, err := json.Marshal(a.Pending(0).Messages)
	require.NoError(t, err)
	jb, err := json.Marshal(b.Pending(0).Messages)
	require.NoError(t, err)
	assert.JSONEq(t, string(ja), string(jb))
	assert.Len(t, a.Pending(0).Messages, 400)
}

// TestExactlyOnceOverALossyLink plays a page whose replies are often lost
// while calls keep arriving: every call must run once, in order.
func TestExactlyOnceOverALossyLink(t *testing.T) {
	t.Parallel()
	const n = 5000
	h := newTestHub(t, WithLimits(Limits{OutboxMessages: n}))
	s := open(t, h, "/", "h")
	go func() {
		for i := range n {
			_ = s.Call("f", i)
		}
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	var ran []int
	var lastSeq uint64
	for len(ran) < n {
		d := s.Pending(lastSeq)
		require.Nil(t, d.Reset)
		if rng.IntN(3) == 0 {
			continue // the reply was lost on the way
		}
		for _, m := range d.Messages {
			if m.Seq <= lastSeq {
				continue
			}
			require.Equal(t, lastSeq+1, m.Seq, "no hole in the sequence")
			lastSeq = m.Seq
			var msg struct{ Args []int }
			b, _ := json.Marshal(m)
			require.NoError(t, json.Unmarshal(b, &msg))
			ran = append(ran, msg.Args[0])
		}
	}
	for i, v := range ran {
		require.Equal(t, i, v)
	}
}

func TestCloseEndsEverySession(t *testing.T) {
	t.Parallel()
	h := NewHub()
	s := open(t, h, "/", "h")
	h.Close()
	h.Close() // a second Close is harmless
	_, ended := s.Ended()
	assert.True(t, ended)
	assert.Zero(t, h.Len())
}

func TestSnapshot(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	b := open(t, h, "/b", "h")
	a := open(t, h, "/a", "h")
	require.NoError(t, b.Call("f"))
	require.NoError(t, b.Call("f"))
	snap := h.Snapshot()
	require.Len(t, snap, 2)
	assert.Equal(t, a.ID(), snap[0].ID)
	assert.Equal(t, "/a", snap[0].Page)
	assert.Equal(t, 0, snap[0].Pending)
	assert.Equal(t, "/b", snap[1].Page)
	assert.Equal(t, 2, snap[1].Pending)
}

// TestBrowserIndex: a browser's sessions are listed in the order they
// were added, whichever is removed, and whether or not its id hashes as
// another browser's.
func TestBrowserIndex(t *testing.T) {
	t.Parallel()
	a, b, c := &Session{id: "a", httpSession: "x"}, &Session{id: "b", httpSession: "x"}, &Session{id: "c", httpSession: "x"}
	y, z := &Session{id: "y", httpSession: "y"}, &Session{id: "z", httpSession: "y"}
	for _, collide := range []bool{false, true} {
		for _, tt := range []struct {
			name   string
			remove []*Session
			want   []*Session
		}{
			{"none removed", nil, []*Session{a, b, c}},
			{"the first", []*Session{a}, []*Session{b, c}},
			{"a later one", []*Session{b}, []*Session{a, c}},
			{"the last", []*Session{c}, []*Session{a, b}},
			{"the first twice over", []*Session{a, b}, []*Session{c}},
			{"all", []*Session{b, a, c}, nil},
			{"one never added", []*Session{{id: "d", httpSession: "x"}}, []*Session{a, b, c}},
		} {
			name := tt.name
			if collide {
				name += ", ids that hash alike"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ix := newBrowserIndex()
				if collide {
					ix.hash = func(string) uint64 { return 1 }
				}
				// Under a collision, y's first page takes the slot first.
				addList(ix, "y", y)
				for _, s := range []*Session{a, b, c} {
					addList(ix, "x", s)
				}
				addList(ix, "y", z)
				for _, s := range tt.remove {
					delList(ix, "x", s)
				}
				assert.Equal(t, tt.want, ix.appendTo(nil, "x"))
				assert.Equal(t, len(tt.want), ix.count("x"))
				assert.Equal(t, tt.want, slices.Collect(ix.each("x")))
				assert.Equal(t, []*Session{y, z}, ix.appendTo(nil, "y"), "other browsers keep theirs")
				assert.Equal(t, 2, ix.count("y"))
				if tt.want == nil {
					assert.NotContains(t, ix.more, "x", "an empty list is not kept")
					assert.Len(t, ix.first, 1, "only y's first page is kept alone")
				}
				// y leaving frees the slot; x's pages stay listed in order.
				delList(ix, "y", y)
				delList(ix, "y", z)
				assert.Equal(t, tt.want, ix.appendTo(nil, "x"))
				assert.Equal(t, 0, ix.count("y"))
			})
		}
	}
}
