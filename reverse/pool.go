package reverse

import (
	"runtime"
	"sync"
	"time"
)

// writers is the hub's pool of goroutines that write to held connections
// and serve what parked connections send. A publish starts no goroutine:
// it queues each held connection it reached, once however many messages
// reach it before a writer takes it, so that they leave in one write.
//
// The pool keeps a few writers (twice GOMAXPROCS) and grows, up to
// maxWriters, only when work waits and no writer has finished anything
// for stallCheck: the writers are blocked and must not hold up the other
// pages. A page that stops reading holds no writer where its connection
// is watched without TLS (what its socket does not take is written by a
// goroutine of its own; see connSink.writeLocked); over TLS, or where
// there is no poller, it can hold one for as long as writeTimeout. Busy writers that make progress get no help: more
// goroutines would not write faster. Writers beyond the base number leave
// after a second with nothing to do.
//
// The next requests of long-poll pages, read on the connections kept
// after their replies (see keepalive.go), wait in a second queue, taken
// from when the first is empty and otherwise once in every lowShare
// tasks: the replies of a publish leave before the polls of the pages
// that already have theirs are served, and neither queue starves.
type writers struct {
	h    *Hub
	base int

	mu      sync.Mutex
	cond    sync.Cond
	queue   fifo   // tasks waiting for a writer
	later   fifo   // next requests on kept connections
	taken   int    // tasks taken from queue since the last from later
	running int    // writers alive
	idle    int    // writers waiting for work
	done    uint64 // tasks finished
	stopped bool
	wg      sync.WaitGroup
	quit    chan struct{} // stops the watchdog
}

// stallCheck is how often the pool looks for writers that are all blocked.
const stallCheck = 50 * time.Millisecond

// maxWriters bounds the writers of one hub.
const maxWriters = 4096

// start starts the base writers for h.
func (w *writers) start(h *Hub) {
	w.h = h
	w.base = 2 * runtime.GOMAXPROCS(0)
	w.cond.L = &w.mu
	w.quit = make(chan struct{})
	w.mu.Lock()
	for range w.base {
		w.spawnLocked()
	}
	w.mu.Unlock()
	w.wg.Go(w.watchdog)
}

// watchdog doubles the writers, up to maxWriters, whenever work waited a
// whole stallCheck with no writer finishing anything.
func (w *writers) watchdog() {
	t := time.NewTicker(stallCheck)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-w.quit:
			return
		case <-t.C:
		}
		w.mu.Lock()
		if w.pending() && w.done == last && w.idle == 0 {
			for range min(w.running, maxWriters-w.running) {
				w.spawnLocked()
			}
		}
		last = w.done
		w.mu.Unlock()
	}
}

// stop lets the writers leave once the queue is empty, and waits for them.
// Work queued later runs on a goroutine of its own.
func (w *writers) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	close(w.quit)
	w.cond.Broadcast()
	w.wg.Wait()
}

// task is one item of the writers' queue: the pending output of a held
// connection (s and hh), the input the poller found on it or on a
// connection kept for a page's next request (input, with ka for the
// latter), or a function.
type task struct {
	s     *Session
	hh    *held
	ka    *keepAlive
	input bool
	what  string // fn's description, for the log of a panic
	fn    func()
}

// do runs the task.
func (t task) do(h *Hub) {
	switch {
	case t.ka != nil:
		h.safely("a request on a kept connection", func() { t.ka.next(h) })
	case t.input:
		h.safely("the input of a parked connection", func() { t.s.onInput(t.hh) })
	case t.hh != nil:
		h.safely("a write to a page", func() { t.s.flushQueued(t.hh) })
	default:
		h.safely(t.what, t.fn)
	}
}

// run queues fn for a writer; what describes it in the log of a panic.
func (w *writers) run(what string, fn func()) { w.add(task{what: what, fn: fn}) }

// add queues t.
func (w *writers) add(t task) {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		go t.do(w.h)
		return
	}
	if t.ka != nil {
		w.later.push(t)
	} else {
		w.queue.push(t)
	}
	w.mu.Unlock()
	w.cond.Signal()
}

// lowShare is how many tasks of the first queue a writer takes, when
// both have some, before one of the second.
const lowShare = 16

// pending reports whether a task waits. Called with w.mu held.
func (w *writers) pending() bool { return w.queue.len() > 0 || w.later.len() > 0 }

// nextLocked takes the next task: see writers. Called with w.mu held,
// when one is pending.
func (w *writers) nextLocked() task {
	if w.later.len() > 0 && (w.queue.len() == 0 || w.taken >= lowShare) {
		w.taken = 0
		return w.later.pop()
	}
	w.taken++
	return w.queue.pop()
}

// fifo is a queue of tasks.
type fifo struct {
	items []task // items[head:] wait
	head  int
}

func (q *fifo) len() int { return len(q.items) - q.head }

func (q *fifo) push(t task) { q.items = append(q.items, t) }

// keptTasks is the most tasks an empty queue keeps room for: the array a
// burst grew (one task per page a publish reached) is let go once the
// queue empties, rather than kept by an idle server.
const keptTasks = 1024

// pop takes the first task; the queue is not empty. The array is reused
// once the queue empties, unless a burst made it large, and compacted
// when most of it was taken.
func (q *fifo) pop() task {
	t := q.items[q.head]
	q.items[q.head] = task{}
	q.head++
	switch {
	case q.head == len(q.items) && cap(q.items) > keptTasks:
		q.items, q.head = nil, 0
	case q.head == len(q.items):
		q.items, q.head = q.items[:0], 0
	case q.head >= 1024 && 2*q.head >= len(q.items):
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return t
}

// spawnLocked starts one writer. Called with w.mu held.
func (w *writers) spawnLocked() {
	w.running++
	extra := w.running > w.base
	w.wg.Go(func() { w.loop(extra) })
}

// loop is one writer. An extra writer leaves after a second without work.
func (w *writers) loop(extra bool) {
	var timer *time.Timer
	timedOut := false
	if extra {
		timer = time.AfterFunc(time.Hour, func() {
			w.mu.Lock()
			timedOut = true
			w.mu.Unlock()
			w.cond.Broadcast()
		})
		defer timer.Stop()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for !w.pending() && !w.stopped {
			if extra {
				if timedOut {
					w.running--
					return
				}
				timer.Reset(time.Second)
			}
			w.idle++
			w.cond.Wait()
			w.idle--
		}
		if !w.pending() {
			w.running--
			return
		}
		job := w.nextLocked()
		timedOut = false
		w.mu.Unlock()
		job.do(w.h)
		w.mu.Lock()
		w.done++
	}
}
