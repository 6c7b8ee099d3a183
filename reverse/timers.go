package reverse

import (
	"container/heap"
	"sync"
	"time"
)

// timers is the one timing structure of a hub: a min-heap of deadlines of
// held long-polls (the end of a hold, or of gathering after a first
// message if that comes first), driven by one goroutine with one time.Timer. When a deadline
// passes, the long-poll is due and its session is queued for the writers.
type timers struct {
	h     *Hub
	mu    sync.Mutex
	items timerHeap
	wake  chan struct{} // a new earliest deadline
	stop  chan struct{}
	done  chan struct{}
}

// deadline is one entry of the heap: when the long-poll hh of s is due.
type deadline struct {
	when  time.Time
	s     *Session
	hh    *held
	index int // in the heap; -1 once it fired or was removed
}

// start starts the goroutine that drives t for h.
func (t *timers) start(h *Hub) {
	t.h = h
	t.wake = make(chan struct{}, 1)
	t.stop = make(chan struct{})
	t.done = make(chan struct{})
	go t.run()
}

// close stops the goroutine. Deadlines left in the heap never pass.
func (t *timers) close() {
	close(t.stop)
	<-t.done
}

// add makes hh of s due after d, and returns the entry, for remove.
func (t *timers) add(d time.Duration, s *Session, hh *held) *deadline {
	dl := &deadline{when: time.Now().Add(d), s: s, hh: hh}
	t.mu.Lock()
	heap.Push(&t.items, dl)
	first := dl.index == 0
	t.mu.Unlock()
	if first {
		t.woken()
	}
	return dl
}

// soon makes hh of s due after d at the latest: its deadline, hh.timer,
// is brought forward, or added if it has none. A deadline that passed
// already is left as it is: hh is due. Called with s.mu held.
func (t *timers) soon(d time.Duration, s *Session, hh *held) {
	dl := hh.timer
	if dl == nil {
		hh.timer = t.add(d, s, hh)
		return
	}
	when := time.Now().Add(d)
	t.mu.Lock()
	first := false
	if dl.index >= 0 && when.Before(dl.when) {
		dl.when = when
		heap.Fix(&t.items, dl.index)
		first = dl.index == 0
	}
	t.mu.Unlock()
	if first {
		t.woken()
	}
}

// woken tells the goroutine there is a new earliest deadline.
func (t *timers) woken() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// remove takes dl out of the heap, if it is still there.
func (t *timers) remove(dl *deadline) {
	t.mu.Lock()
	if dl.index >= 0 {
		heap.Remove(&t.items, dl.index)
	}
	t.mu.Unlock()
}

// run fires the deadlines as they pass.
func (t *timers) run() {
	defer close(t.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []*deadline
	for {
		now := time.Now()
		t.mu.Lock()
		for len(t.items) > 0 && !t.items[0].when.After(now) {
			due = append(due, heap.Pop(&t.items).(*deadline))
		}
		next := time.Duration(-1)
		if len(t.items) > 0 {
			next = t.items[0].when.Sub(now)
		}
		t.mu.Unlock()
		t.h.safely("the long-poll deadlines", func() {
			for _, dl := range due {
				dl.fire()
			}
		})
		clear(due)
		due = due[:0]
		if next >= 0 {
			timer.Reset(next)
		} else {
			timer.Stop()
		}
		select {
		case <-timer.C:
		case <-t.wake:
		case <-t.stop:
			return
		}
	}
}

// fire makes the long-poll due, if it is still held, and queues its
// session for the writers.
func (dl *deadline) fire() {
	s := dl.s
	s.mu.Lock()
	if s.held == dl.hh {
		dl.hh.due = true
		s.flushLocked(dl.hh)
	}
	s.mu.Unlock()
}

// timerHeap orders deadlines by when, for container/heap.
type timerHeap []*deadline

func (q timerHeap) Len() int           { return len(q) }
func (q timerHeap) Less(i, j int) bool { return q[i].when.Before(q[j].when) }
func (q timerHeap) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

func (q *timerHeap) Push(x any) {
	dl := x.(*deadline)
	dl.index = len(*q)
	*q = append(*q, dl)
}

func (q *timerHeap) Pop() any {
	old := *q
	n := len(old) - 1
	dl := old[n]
	old[n] = nil
	dl.index = -1
	*q = old[:n]
	return dl
}
