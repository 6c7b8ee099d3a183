package reverse

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTopicPatternMatching(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, topic string
		match          bool
	}{
		{"/stocks/GOOG", "/stocks/GOOG", true},
		{"/stocks/GOOG", "/stocks/GOO", false},
		{"/stocks/GOOG", "/stocks/GOOG/x", false},
		{"/stocks/*", "/stocks/GOOG", true},
		{"/stocks/*", "/stocks", false},
		{"/stocks/*", "/stocks/GOOG/bid", false},
		{"/stocks/*", "/bonds/X", false},
		{"/stocks/**", "/stocks/GOOG", true},
		{"/stocks/**", "/stocks/GOOG/bid/last", true},
		{"/stocks/**", "/stocks", false},
		{"/*/GOOG", "/stocks/GOOG", true},
		{"/*/GOOG", "/stocks/AAPL", false},
		{"/*/*/bid", "/stocks/GOOG/bid", true},
		{"/*/*/bid", "/stocks/GOOG/ask", false},
		{"/*/**", "/a/b/c", true},
		{"/*/**", "/a", false},
		{"/**", "/a", true},
		{"/**", "/a/b", true},
		{"/*", "/a", true},
		{"/*", "/a/b", false},
	} {
		t.Run(tc.pattern+" "+tc.topic, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, checkTopic(tc.pattern, true))
			require.NoError(t, checkTopic(tc.topic, false))
			ix := newTopicIndex()
			s := &Session{id: "s"}
			ix.add(tc.pattern, s)
			var got []*Session
			ix.match(tc.topic, func(x *Session) { got = append(got, x) })
			if tc.match {
				assert.Equal(t, []*Session{s}, got)
			} else {
				assert.Empty(t, got)
			}
			ix.remove(tc.pattern, s)
			assert.Empty(t, ix.exact)
			assert.Equal(t, &topicNode{}, ix.root, "removing the last pattern prunes the trie")
		})
	}
}

func TestCheckTopic(t *testing.T) {
	t.Parallel()
	long := "/" + string(make([]byte, maxTopicLen))
	for _, tc := range []struct {
		in             string
		topic, pattern bool // valid as a published topic, as a pattern
	}{
		{"/a", true, true},
		{"/stocks/GOOG", true, true},
		{"/stocks/*", false, true},
		{"/stocks/**", false, true},
		{"/**/x", false, false},
		{"/a*", false, false},
		{"/a/**b", false, false},
		{"", false, false},
		{"/", false, false},
		{"a/b", false, false},
		{"/a//b", false, false},
		{"/a/", false, false},
		{long, false, false},
	} {
		assert.Equal(t, tc.topic, checkTopic(tc.in, false) == nil, "topic %q", tc.in)
		assert.Equal(t, tc.pattern, checkTopic(tc.in, true) == nil, "pattern %q", tc.in)
		if err := checkTopic(tc.in, true); err != nil {
			assert.ErrorIs(t, err, ErrInvalidTopic)
		}
	}
}

func TestPublishReachesEachSubscriberOnce(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	all := open(t, h, "/", "a")
	goog := open(t, h, "/", "b")
	bonds := open(t, h, "/", "c")
	require.NoError(t, all.Subscribe("/stocks/**"))
	require.NoError(t, all.Subscribe("/stocks/*"))
	require.NoError(t, all.Subscribe("/stocks/GOOG"))
	require.NoError(t, goog.Subscribe("/stocks/GOOG"))
	require.NoError(t, bonds.Subscribe("/bonds/*"))
	assert.Equal(t, []string{"/stocks/*", "/stocks/**", "/stocks/GOOG"}, all.Subscriptions())

	require.NoError(t, h.Publish("/stocks/GOOG", map[string]any{"price": 101.5}))
	require.NoError(t, h.Publish("/stocks/AAPL", 7))
	assert.ErrorIs(t, h.Publish("/stocks/*", 1), ErrInvalidTopic, "publishing to a pattern is refused")

	got := msgs(t, all.Pending(0))
	require.Len(t, got, 2, "one message per publication, however many patterns match")
	assert.Equal(t, publishFn, got[0].Fn)
	assert.JSONEq(t, `"/stocks/GOOG"`, string(got[0].Args[0]))
	assert.JSONEq(t, `{"price":101.5}`, string(got[0].Args[1]))
	assert.JSONEq(t, `"/stocks/AAPL"`, string(got[1].Args[0]))
	assert.Len(t, msgs(t, goog.Pending(0)), 1)
	assert.Empty(t, msgs(t, bonds.Pending(0)))

	goog.Unsubscribe("/stocks/GOOG")
	goog.Unsubscribe("/never")
	require.NoError(t, h.Publish("/stocks/GOOG", 2))
	assert.Len(t, msgs(t, goog.Pending(0)), 1, "nothing more after unsubscribing")
	assert.Len(t, msgs(t, all.Pending(0)), 3)

	all.Close()
	bonds.Close()
	h.mu.RLock()
	defer h.mu.RUnlock()
	assert.Empty(t, h.topics.exact, "ended sessions leave the index")
	assert.Equal(t, &topicNode{}, h.topics.root)
}

func TestSubscriptionLimitAndValidation(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithLimits(Limits{Subscriptions: 2}))
	s := open(t, h, "/", "h")
	require.NoError(t, s.Subscribe("/a"))
	require.NoError(t, s.Subscribe("/b/*"))
	require.NoError(t, s.Subscribe("/a"), "a pattern it has does not count twice")
	assert.ErrorIs(t, s.Subscribe("/c"), ErrTooManySubscriptions)
	assert.ErrorIs(t, s.Subscribe("stocks"), ErrInvalidTopic)
	s.Close()
	require.NoError(t, s.Subscribe("/d"))
	assert.Empty(t, s.Subscriptions()[2:], "an ended session does not subscribe")
}

func TestPublishUnderConcurrentSubscriptions(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	var wg sync.WaitGroup
	var sessions []*Session
	for i := range 8 {
		sessions = append(sessions, open(t, h, "/", fmt.Sprint(i)))
	}
	for i, s := range sessions {
		wg.Go(func() {
			for j := range 50 {
				p := fmt.Sprintf("/t/%d/*", j%5)
				assert.NoError(t, s.Subscribe(p))
				if i%2 == 0 {
					s.Unsubscribe(p)
				}
			}
		})
	}
	wg.Go(func() {
		for j := range 100 {
			assert.NoError(t, h.Publish(fmt.Sprintf("/t/%d/x", j%5), j))
		}
	})
	wg.Wait()
	require.NoError(t, h.Publish("/t/3/last", "end"))
	for i, s := range sessions {
		got := msgs(t, s.Pending(0))
		if i%2 == 0 {
			assert.Empty(t, s.Subscriptions())
			continue
		}
		require.NotEmpty(t, got)
		var last string
		require.NoError(t, json.Unmarshal(got[len(got)-1].Args[1], &last))
		assert.Equal(t, "end", last)
	}
}

func TestTopicWithin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, root string
		want          bool
	}{
		{"/stocks", "/stocks", true},
		{"/stocks/GOOG", "/stocks", true},
		{"/stocks/*", "/stocks", true},
		{"/stocks/**", "/stocks", true},
		{"/stocksplit", "/stocks", false},
		{"/*/GOOG", "/stocks", false},
		{"/**", "/stocks", false},
		{"/users/bob/inbox", "/users/alice", false},
		{"/users/*", "/users/alice", false},
		{"/stocks/GOOG", "/stocks/*", false},
	} {
		t.Run(tc.pattern+" in "+tc.root, func(t *testing.T) {
			if got := TopicWithin(tc.pattern, tc.root); got != tc.want {
				t.Errorf("TopicWithin(%q, %q) = %v", tc.pattern, tc.root, got)
			}
		})
	}
}
