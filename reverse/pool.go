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
// for stallCheck: the writers are blocked (a page that stopped reading can
// hold a writer for as long as writeTimeout) and must not hold up the
// other pages. Busy writers that make progress get no help: more
// goroutines would not write faster. Writers beyond the base number leave
// after a second with nothing to do.
type writers struct {
	h    *Hub
	base int

	mu      sync.Mutex
	cond    sync.Cond
	queue   []task // queue[head:] waits for a writer
	head    int
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
		if w.head < len(w.queue) && w.done == last && w.idle == 0 {
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
// connection (s and hh), the input the poller found on it (input), or a
// function.
type task struct {
	s     *Session
	hh    *held
	input bool
	what  string // fn's description, for the log of a panic
	fn    func()
}

// do runs the task.
func (t task) do(h *Hub) {
	switch {
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
	w.queue = append(w.queue, t)
	w.mu.Unlock()
	w.cond.Signal()
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
		for w.head == len(w.queue) && !w.stopped {
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
		if w.head == len(w.queue) {
			w.running--
			return
		}
		job := w.queue[w.head]
		w.queue[w.head] = task{}
		w.head++
		switch {
		case w.head == len(w.queue):
			w.queue, w.head = w.queue[:0], 0
		case w.head >= 1024 && 2*w.head >= len(w.queue):
			n := copy(w.queue, w.queue[w.head:])
			clear(w.queue[n:])
			w.queue, w.head = w.queue[:n], 0
		}
		timedOut = false
		w.mu.Unlock()
		job.do(w.h)
		w.mu.Lock()
		w.done++
	}
}
