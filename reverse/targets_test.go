package reverse

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// msg is a message as a page decodes it.
type msg struct {
	Seq    uint64
	Fn     string
	Args   []json.RawMessage
	Invoke string
}

// msgs decodes d's messages.
func msgs(t *testing.T, d Delivery) []msg {
	t.Helper()
	b, err := json.Marshal(d.Messages)
	require.NoError(t, err)
	var out []msg
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// reached calls target with a call named name and returns the sessions,
// among all, whose outbox received it.
func reached(t *testing.T, target Target, all ...*Session) []*Session {
	t.Helper()
	name := fmt.Sprintf("probe%d", time.Now().UnixNano())
	require.NoError(t, target.Call(name))
	var out []*Session
	for _, s := range all {
		for _, m := range msgs(t, s.Pending(0)) {
			if m.Fn == name {
				out = append(out, s)
			}
		}
	}
	return out
}

func TestEveryTargetKind(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	a1 := open(t, h, "/chat", "browserA")
	a2 := open(t, h, "/other", "browserA")
	b1 := open(t, h, "/chat", "browserB")
	c1 := open(t, h, "/other", "browserC")
	all := []*Session{a1, a2, b1, c1}
	require.NoError(t, h.SetUser("browserA", "ann"))
	require.NoError(t, h.SetUser("browserC", "ann"))
	a1.Join("sales")
	c1.Join("sales")
	b1.Join("support")
	b1.Set("tier", "gold")
	c1.Set("tier", "gold")
	a2.Set("tier", "silver")

	for _, tc := range []struct {
		name   string
		target Target
		want   []*Session
	}{
		{"page", h.Page("/chat/index.html"), []*Session{a1, b1}},
		{"session", h.Session(a2.ID()), []*Session{a2}},
		{"http session", h.HTTPSession("browserA"), []*Session{a1, a2}},
		{"user", h.User("ann"), []*Session{a1, a2, c1}},
		{"group", h.Group("sales"), []*Session{a1, c1}},
		{"all", h.All(), all},
		{"where", h.Where(func(s *Session) bool { return s.Get("tier") == "gold" }), []*Session{b1, c1}},
		{"nobody", h.Group("nobody"), nil},
	} {
		assert.ElementsMatch(t, tc.want, reached(t, tc.target, all...), tc.name)
	}
}

func TestGroupMembershipBelongsToTheSession(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	s := open(t, h, "/", "h")
	other := open(t, h, "/", "h")
	s.Join("b")
	s.Join("a")
	s.Join("a")
	assert.Equal(t, []string{"a", "b"}, s.Groups())
	assert.Equal(t, []*Session{s}, reached(t, h.Group("a"), s, other))

	// A resumed page is the same session object: its membership holds.
	got, err := h.Lookup(s.ID(), "h")
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, got.Groups())

	s.Leave("a")
	s.Leave("never-joined")
	assert.Equal(t, []string{"b"}, s.Groups())
	assert.Empty(t, reached(t, h.Group("a"), s, other))

	s.Close()
	h.mu.RLock()
	assert.Empty(t, h.byGroup, "an ended session leaves the group index")
	h.mu.RUnlock()
	s.Join("c")
	h.mu.RLock()
	assert.Empty(t, h.byGroup, "an ended session cannot join")
	h.mu.RUnlock()
}

func TestUserBinding(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)

	require.NoError(t, h.SetUser("browser1", "ann")) // logged in before any page opened
	tab1 := open(t, h, "/a", "browser1")
	tab2 := open(t, h, "/b", "browser1")
	bob := open(t, h, "/a", "browser2")
	assert.Equal(t, "ann", tab1.User())
	assert.Equal(t, "", bob.User())
	assert.ElementsMatch(t, []*Session{tab1, tab2}, reached(t, h.User("ann"), tab1, tab2, bob))

	require.NoError(t, h.SetUser("browser1", "carol")) // another login in the same browser
	assert.Empty(t, reached(t, h.User("ann"), tab1, tab2, bob))
	assert.ElementsMatch(t, []*Session{tab1, tab2}, reached(t, h.User("carol"), tab1, tab2, bob))

	require.NoError(t, h.SetUser("browser1", "")) // log out
	assert.Equal(t, "", tab2.User())
	assert.Empty(t, reached(t, h.User("carol"), tab1, tab2, bob))

	// A binding outlives a browser's sessions for the session timeout.
	require.NoError(t, h.SetUser("browser2", "bob"))
	bob.Close()
	h.forgetIdleUsers(time.Now().Add(-time.Hour)) // idle for less than the timeout
	again := open(t, h, "/a", "browser2")
	assert.Equal(t, "bob", again.User(), "a page opened soon after is still bound")
	again.Close()
	h.forgetIdleUsers(time.Now().Add(time.Hour)) // idle for longer
	assert.Equal(t, "", open(t, h, "/a", "browser2").User(), "forgotten after the timeout with no session")
	h.mu.RLock()
	assert.Empty(t, h.users)
	assert.Empty(t, h.byUser["bob"])
	h.mu.RUnlock()
}

func TestAttributesAndWhereUnderConcurrency(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	var sessions []*Session
	for i := range 20 {
		sessions = append(sessions, open(t, h, "/", fmt.Sprint("h", i)))
	}
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Go(func() {
			for j := range 100 {
				s.Set("n", j)
				s.Set("even", i%2 == 0)
				_ = s.Get("n")
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			assert.NoError(t, h.Where(func(s *Session) bool { return s.Get("even") == true }).Call("f"))
		}
	})
	wg.Wait()
	assert.Equal(t, 99, sessions[3].Get("n"))
	sessions[3].Set("n", nil)
	assert.Nil(t, sessions[3].Get("n"), "nil removes")
	got := reached(t, h.Where(func(s *Session) bool { return s.Get("even") == true }), sessions...)
	assert.Len(t, got, 10)
	for _, s := range got {
		assert.Equal(t, true, s.Get("even"))
	}
}

func TestLifecycleListeners(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithLimits(Limits{OutboxMessages: 1}))
	var mu sync.Mutex
	var events []string
	h.OnSessionStart(func(s *Session) {
		s.Join("everyone") // listeners may use the session
		mu.Lock()
		events = append(events, "start "+s.Page())
		mu.Unlock()
	})
	h.OnSessionEnd(func(s *Session, reason string) {
		mu.Lock()
		events = append(events, "end "+s.Page()+" "+reason)
		mu.Unlock()
	})
	a := open(t, h, "/a", "h")
	b := open(t, h, "/b", "h")
	assert.Len(t, reached(t, h.Group("everyone"), a, b), 2)
	a.Close()
	a.Close() // a second end is not reported
	require.NoError(t, h.Page("/b").Call("f"))
	require.NoError(t, h.Page("/b").Call("f")) // overflows b; its listeners run on a goroutine of their own
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) == 4
	}, 5*time.Second, time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"start /a", "start /b", "end /a closed", "end /b overflow"}, events)
}

func TestCallRefusals(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	s := open(t, h, "/", "h")
	assert.NoError(t, s.Call("f", int64(1<<53-1), -(1<<53-1), 1.5e300))
	err := s.Call("f", map[string]int64{"id": 1 << 53})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "9007199254740992")
	assert.Error(t, h.All().Call("parley.publish", "/x", 1), "runtime names are reserved")
	_, err = h.All().Invoke(t.Context(), "parley.dom.remove", "body")
	assert.Error(t, err)
	assert.Len(t, msgs(t, s.Pending(0)), 1, "only the safe call was sent")
}
