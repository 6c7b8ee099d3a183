package reverse

import (
	"container/heap"
	"sync"
	"time"
)

// timers is the one timing structure of a hub: a min-heap of deadlines,
// driven by one goroutine with one time.Timer. A deadline is that of a
// held long-poll (the end of a hold, or of gathering after a first
// message if that comes first): when it passes, the long-poll is due and
// its session is queued for the writers. Or it is the end of a kept
// connection's wait for the page's next request (the server's idle
// timeout): when it passes, the connection is closed.
type timers struct {
	h     *Hub
	epoch time.Time // what clock counts from
	mu    sync.Mutex
	items timerHeap
	wake  chan struct{} // a new earliest deadline
	stop  chan struct{}
	done  chan struct{}
}

// deadline is one entry of the heap: when the long-poll hh of s is due,
// or when the wait of the kept connection ka ends.
type deadline struct {
	when  int64 // on t.clock
	s     *Session
	hh    *held
	ka    *keepAlive
	index int // in the heap; -1 once it fired or was removed
}

// clock is the time since t started, on the monotonic clock.
func (t *timers) clock() int64 { return int64(time.Since(t.epoch)) }

// start starts the goroutine that drives t for h.
func (t *timers) start(h *Hub) {
	t.h = h
	t.epoch = time.Now()
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
	return t.push(&deadline{when: t.clock() + int64(d), s: s, hh: hh})
}

// addKept ends the wait of ka after d, and returns the entry, for remove.
func (t *timers) addKept(d time.Duration, ka *keepAlive) *deadline {
	return t.push(&deadline{when: t.clock() + int64(d), ka: ka})
}

// push adds dl to the heap, and returns it.
func (t *timers) push(dl *deadline) *deadline {
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
	when := t.clock() + int64(d)
	t.mu.Lock()
	first := false
	if dl.index >= 0 && when < dl.when {
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
		now := t.clock()
		t.mu.Lock()
		for len(t.items) > 0 && t.items[0].when <= now {
			due = append(due, heap.Pop(&t.items).(*deadline))
		}
		next := time.Duration(-1)
		if len(t.items) > 0 {
			next = time.Duration(t.items[0].when - now)
		}
		t.mu.Unlock()
		t.h.safely("the deadlines", func() {
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
// session for the writers; or ends the kept connection's wait.
func (dl *deadline) fire() {
	if dl.ka != nil {
		dl.ka.idled()
		return
	}
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
func (q timerHeap) Less(i, j int) bool { return q[i].when < q[j].when }
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
