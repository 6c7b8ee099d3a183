package reverse

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatsCountSessionsOutboxesAndAcks(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithLimits(Limits{OutboxMessages: 3}))
	url := transportServer(t, h)
	held := open(t, h, "/held", "h")
	polled := open(t, h, "/p", "h")
	open(t, h, "/p", "h") // a passive page
	open(t, h, "/flood", "h")
	closed := open(t, h, "/closed", "h")

	reply := hold(t, url, held)
	get(t, url, "/poll", polled, 0)
	require.NoError(t, h.Page("/p").Call("f", "xy"))
	require.NoError(t, h.Page("/p").Call("f", "xyz"))
	for range 4 {
		require.NoError(t, h.Page("/flood").Call("g"))
	}
	closed.Close()
	// The polling page receives both calls and acknowledges the first.
	require.Len(t, polled.Pending(0).Messages, 2)
	polled.Ack(1)

	st := h.Stats()
	assert.Equal(t, st.Counters, h.Counters(), "Counters reads the counters Stats carries, and nothing changed between")
	assert.Equal(t, map[string]int{LongPoll: 1, Polling: 1, "": 1}, st.Sessions)
	assert.Equal(t, map[string]int{LongPoll: 1}, st.Held)
	assert.Equal(t, 3, st.OutboxMessages, "one left on the polling page, two on the passive one")
	bodyXY, bodyXYZ := len(`"fn":"f","args":["xy"]`), len(`"fn":"f","args":["xyz"]`)
	assert.Equal(t, bodyXYZ+bodyXY+bodyXYZ, st.OutboxBytes)
	assert.Equal(t, 2, st.MaxOutboxMessages)
	assert.Equal(t, bodyXY+bodyXYZ, st.MaxOutboxBytes)
	assert.Equal(t, uint64(5), st.Opened)
	assert.Equal(t, map[string]uint64{ReasonOverflow: 1, ReasonClosed: 1}, st.Ended)
	gBody := len(`"fn":"g","args":[]`)
	assert.Equal(t, uint64(2+2+3), st.Messages, "two pages twice, and the flooded page until its outbox was full")
	assert.Equal(t, uint64(2*bodyXY+2*bodyXYZ+3*gBody), st.MessageBytes)
	assert.Equal(t, uint64(1), st.Acked)

	// The held page's call is answered; its connection is held no more.
	require.NoError(t, h.Page("/held").Call("f"))
	assert.Len(t, (<-reply).Messages, 1)
	require.Eventually(t, func() bool { return !heldNow(held) }, 5*time.Second, time.Millisecond)
	assert.Empty(t, h.Stats().Held)
}

// lagObserver records the lags a hub reports.
type lagObserver struct {
	mu   sync.Mutex
	lags []time.Duration
}

func (o *lagObserver) ObserveBackplaneLag(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lags = append(o.lags, d)
}

func (o *lagObserver) seen() []time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lags
}

// skewedBackplane moves the publication time of every reverse call by
// shift before passing it on, as a backplane whose hubs' clocks differ
// would; with drop, it loses the time as an older hub would.
type skewedBackplane struct {
	*MemoryBackplane
	shift time.Duration
	drop  bool
}

func (b skewedBackplane) Publish(env Envelope) (uint64, error) {
	switch {
	case b.drop:
		env.Published = 0
	case env.Published != 0:
		env.Published -= int64(b.shift)
	}
	return b.MemoryBackplane.Publish(env)
}

func TestBackplaneLagIsObserved(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		bp     skewedBackplane
		check  func(t *testing.T, lags []time.Duration)
		expect int
	}{
		{"in memory", skewedBackplane{}, func(t *testing.T, lags []time.Duration) {
			assert.GreaterOrEqual(t, lags[0], time.Duration(0))
		}, 1},
		{"published an hour ago", skewedBackplane{shift: time.Hour}, func(t *testing.T, lags []time.Duration) {
			assert.GreaterOrEqual(t, lags[0], time.Hour)
		}, 1},
		{"clock ahead", skewedBackplane{shift: -time.Hour}, func(t *testing.T, lags []time.Duration) {
			assert.Equal(t, time.Duration(0), lags[0])
		}, 1},
		{"time unknown", skewedBackplane{drop: true}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bp := tc.bp
			bp.MemoryBackplane = NewMemoryBackplane()
			h := newTestHub(t, WithBackplane(bp))
			obs := &lagObserver{}
			h.Observe(obs)
			s := open(t, h, "/p", "h")
			s.Join("g")
			require.NoError(t, h.Group("g").Call("f"))
			require.NoError(t, h.SetUser("h", "ann")) // between hubs: no lag
			lags := obs.seen()
			require.Len(t, lags, tc.expect)
			if tc.check != nil {
				tc.check(t, lags)
			}
		})
	}
}
