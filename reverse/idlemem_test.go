package reverse

import (
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIdlePageStructuresFitTheirSizeClasses: what every held page keeps
// fits the allocator's size class it is meant for (…, 32, 48, 64, 80,
// 96, …, 320, 352): a field more moves it to the next.
func TestIdlePageStructuresFitTheirSizeClasses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		size uintptr
		max  uintptr
	}{
		{"Session", unsafe.Sizeof(Session{}), 352},
		{"held", unsafe.Sizeof(held{}), 80},
		{"wsState", unsafe.Sizeof(wsState{}), 32},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.LessOrEqual(t, tt.size, tt.max)
		})
	}
}

// TestLongPollGatheringEndsBeforeTheHold: a message brings the reply of a
// long hold forward to the end of the gathering after it.
func TestLongPollGatheringEndsBeforeTheHold(t *testing.T) {
	t.Parallel()
	forEachHolding(t, func(t *testing.T, tc Transports) {
		tc.Hold, tc.MaxWaitAfterWrite = time.Hour, 10*time.Millisecond
		h := newTestHub(t, WithTransports(tc))
		url := transportServer(t, h)
		s := open(t, h, "/", "h")
		got := hold(t, url, s)
		require.NoError(t, s.Call("a"))
		require.NoError(t, s.Call("b"))
		select {
		case d := <-got:
			assert.Equal(t, []string{"a", "b"}, fns(t, d))
		case <-time.After(10 * time.Second):
			t.Fatal("the reply waited for the end of the hold")
		}
		assert.False(t, heldNow(s))
	})
}

// TestPageIndex: a page's list holds each of its open sessions once, in
// any order, whatever the order they open and end in.
func TestPageIndex(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		open  int
		close []int // indexes of the sessions closed, in order
	}{
		{"none closed", 3, nil},
		{"the first", 3, []int{0}},
		{"the last", 3, []int{2}},
		{"one in the middle", 5, []int{2}},
		{"all, first to last", 4, []int{0, 1, 2, 3}},
		{"all, last to first", 4, []int{3, 2, 1, 0}},
		{"a closed one again", 3, []int{1, 1}},
		{"most of a long list", 200, func() []int {
			var out []int
			for i := range 190 {
				out = append(out, i)
			}
			return out
		}()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHub(t)
			other := open(t, h, "/other", "x")
			var all []*Session
			for i := range tt.open {
				all = append(all, open(t, h, "/p", "h"+strconv.Itoa(i)))
			}
			closed := map[*Session]bool{}
			for _, i := range tt.close {
				all[i].Close()
				closed[all[i]] = true
			}
			// Adding an indexed session again changes nothing.
			h.mu.Lock()
			for _, s := range all {
				if !closed[s] {
					h.byPage.add(s.page, s)
				}
			}
			h.mu.Unlock()

			require.NoError(t, h.Page("/p").Call("hi"))
			for i, s := range all {
				s.mu.Lock()
				n := len(s.msgs)
				s.mu.Unlock()
				want := 1
				if closed[s] {
					want = 0
				}
				assert.Equal(t, want, n, "session %d", i)
			}
			h.mu.RLock()
			list := h.byPage["/p"]
			h.mu.RUnlock()
			assert.Len(t, list, tt.open-len(closed))
			assert.Len(t, h.byPage["/other"], 1)
			other.mu.Lock()
			assert.Empty(t, other.msgs)
			other.mu.Unlock()
		})
	}
}
