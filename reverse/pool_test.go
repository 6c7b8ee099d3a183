package reverse

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Writers that are all blocked (pages that stopped reading) do not hold
// up the work behind them: the pool grows, and shrinks back after.
func TestBlockedWritersDoNotHoldUpOthers(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	for range h.writers.base {
		h.writers.run("a blocked write", func() { <-block })
	}
	ran := make(chan struct{})
	h.writers.run("the next page", func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(time.Minute): // only detects a hang
		t.Fatal("the work behind blocked writers never ran")
	}
	h.writers.mu.Lock()
	grown := h.writers.running
	h.writers.mu.Unlock()
	assert.Greater(t, grown, h.writers.base)
}

// Writers that make progress get no help: a burst of work starts no
// goroutine per item. (A machine so loaded that no writer finishes
// anything for a whole stall check may add a few: the bound allows for
// some doublings, and is far below one per item.)
func TestBusyWritersDoNotGrowThePool(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	done := make(chan struct{}, 10000)
	for range 10000 {
		h.writers.run("a quick write", func() { done <- struct{}{} })
	}
	for range 10000 {
		<-done
	}
	h.writers.mu.Lock()
	defer h.writers.mu.Unlock()
	require.Less(t, h.writers.running, 16*h.writers.base, "10,000 items, %d writers", h.writers.running)
}

func TestAnEmptiedQueueLetsABurstsArrayGo(t *testing.T) {
	t.Parallel()
	var q fifo
	for i := range 4 * keptTasks {
		q.push(task{what: strconv.Itoa(i)})
	}
	for i := range 4 * keptTasks {
		require.Equal(t, strconv.Itoa(i), q.pop().what, "in order")
	}
	assert.Zero(t, cap(q.items), "the burst's array is let go")
	for range 10 {
		q.push(task{})
	}
	for range 10 {
		q.pop()
	}
	assert.NotZero(t, cap(q.items), "a small array is kept for the next tasks")
}
