//go:build linux

package reverse

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// poller watches parked connections for input with one epoll set and one
// goroutine for the whole hub, so that a held connection is read while it
// is held without a goroutine of its own: a page that closes its
// connection (FIN or RST) is noticed at once, and a request sent behind a
// held one is served.
type poller struct {
	h       *Hub
	epfd    int
	wakefd  int // an eventfd in the set, written to stop the loop
	mu      sync.Mutex
	watches []*watch // by file descriptor: a slot each, not a map entry
	gen     uint32
	servers map[*http.Server]bool // the servers of kept connections: true once shutting down
	closing bool                  // no connection is kept from now on
	done    chan struct{}
}

// watch is one connection in the poller's set: the held connection hh of
// s, or, once its reply has ended, the connection kept for the page's
// next request (ka). s.onInput(hh), or ka.next, runs once on a writer per
// arming, when the peer sent something or went away.
type watch struct {
	p   *poller
	rc  syscall.RawConn
	fd  int32
	gen uint32
	s   *Session
	hh  *held
	ka  *keepAlive
	// left marks leftWatch.
	left bool
	// fired: the loop handed an event to the owner since w was last
	// armed, which disarmed it (EPOLLONESHOT).
	fired atomic.Bool
}

// leftWatch holds the table's slot of a descriptor whose connection left
// its watch (see leave) and is still in the set, disarmed.
var leftWatch = &watch{left: true}

const watchEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// newPoller starts a poller for h.
func newPoller(h *Hub) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, err
	}
	p := &poller{h: h, epfd: epfd, wakefd: wakefd, done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// close stops the loop and closes the set. Held connections stay open;
// connections kept for a page's next request are closed.
func (p *poller) close() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	_, _ = unix.Write(p.wakefd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	<-p.done
	p.closeKept(nil)
	_ = unix.Close(p.epfd)
	_ = unix.Close(p.wakefd)
}

// keep has conn, which came from srv, wait in the poller for the page's
// next request, once a long-poll reply from on it has ended (see
// keepalive.go). w is conn's watch, which watched the held reply, or nil
// if conn is not in the poller; part is the start of the next request,
// come in parts, if it has begun. It reports false, leaving w as it was,
// where conn cannot wait: over TLS, for a hub or server that is closing.
func (p *poller) keep(w *watch, conn net.Conn, srv *http.Server, from *origin, part *partial) bool {
	switch conn.(type) {
	case *tls.Conn, *pipelinedConn:
		// A TLS record may arrive in parts, which only a blocking read
		// waits for; a pipelined request was answered at once.
		return false
	}
	if srv == nil || from == nil || p.h.drain.on.Load() || p.h.stopped() {
		return false
	}
	ka := &keepAlive{conn: conn, srv: srv, from: from, w: w, part: part}
	if ka.w == nil {
		ka.w = &watch{p: p, ka: ka}
	}
	p.h.stats.kept.Add(1)
	if w == nil {
		if _, err := p.watch(conn, 0, ka.w); err != nil {
			ka.end()
			return false
		}
	} else {
		p.mu.Lock()
		if !p.mayKeepLocked(srv) {
			p.mu.Unlock()
			ka.end()
			return false
		}
		w.s, w.hh, w.ka = nil, nil, ka
		// Still armed unless the held reply's owner was handed an event
		// (the page's next poll, come before the swap), which it leaves
		// alone.
		fired := w.fired.Load()
		p.mu.Unlock()
		if fired {
			w.rearm()
		}
	}
	if d := idleTimeout(srv); d > 0 {
		ka.timeOut(d)
	}
	return true
}

// errNotKept: the connection cannot wait for a next request, its hub or
// server closing.
var errNotKept = errors.New("reverse: the connection is not kept")

// mayKeepLocked reports whether a connection of srv may wait for a next
// request: neither the poller nor srv is closing. closeKept closes every
// connection kept before it is asked, so none is left waiting. Called
// with p.mu held.
func (p *poller) mayKeepLocked(srv *http.Server) bool {
	if p.closing {
		return false
	}
	shutting, seen := p.servers[srv]
	if !seen {
		if p.servers == nil {
			p.servers = map[*http.Server]bool{}
		}
		p.servers[srv] = false
		srv.RegisterOnShutdown(func() { p.serverShutdown(srv) })
	}
	return !shutting
}

// serverShutdown closes the connections of srv kept for a next request,
// and keeps none from now on: srv is shutting down.
func (p *poller) serverShutdown(srv *http.Server) {
	p.mu.Lock()
	p.servers[srv] = true
	p.mu.Unlock()
	p.closeKept(srv)
}

// closeKept closes the connections kept for a next request: those of
// srv, or all of them if srv is nil.
func (p *poller) closeKept(srv *http.Server) {
	var kept []*keepAlive
	p.mu.Lock()
	for _, w := range p.watches {
		if w != nil && w.ka != nil && (srv == nil || w.ka.srv == srv) {
			kept = append(kept, w.ka)
		}
	}
	p.mu.Unlock()
	for _, ka := range kept {
		ka.expire()
	}
}

// errNotWatchable: the connection has no socket the poller can watch.
var errNotWatchable = errors.New("reverse: connection cannot be watched")

// watch adds the connection c to the set as w, armed: w.s.onInput(w.hh),
// or w.ka.next, runs on a writer when c's peer sends something or goes
// away. userTimeout, when positive, bounds how long data
// written to c may stay unacknowledged before the system drops the
// connection (TCP_USER_TIMEOUT), so that a peer that vanished without a
// word is found by the next write (a heartbeat).
func (p *poller) watch(c net.Conn, userTimeout time.Duration, w *watch) (*watch, error) {
	sc, ok := socketOf(c).(syscall.Conn)
	if !ok {
		return nil, errNotWatchable
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	w.p, w.rc = p, rc
	var opErr error
	err = rc.Control(func(fd uintptr) {
		p.mu.Lock()
		if w.ka != nil && !p.mayKeepLocked(w.ka.srv) {
			p.mu.Unlock()
			opErr = errNotKept
			return
		}
		p.gen++
		w.fd, w.gen = int32(fd), p.gen
		if n := int(fd) + 1; n > len(p.watches) {
			p.watches = slices.Grow(p.watches, n-len(p.watches))[:n]
		}
		// A connection that left a watch of its own is still in the
		// set: modified, not added. Should the descriptor have been
		// closed and reused since, the other operation is the one.
		ops := [2]int{unix.EPOLL_CTL_ADD, unix.EPOLL_CTL_MOD}
		if old := p.watches[w.fd]; old != nil && old.left {
			ops[0], ops[1] = ops[1], ops[0]
		}
		p.watches[w.fd] = w
		w.fired.Store(false)
		p.mu.Unlock()
		ev := unix.EpollEvent{Events: watchEvents, Fd: w.fd, Pad: int32(w.gen)}
		op := ops[0]
		if opErr = unix.EpollCtl(p.epfd, op, int(fd), &ev); opErr != nil {
			op = ops[1]
			opErr = unix.EpollCtl(p.epfd, op, int(fd), &ev)
		}
		switch {
		case opErr != nil:
			p.forget(w)
		case op == unix.EPOLL_CTL_ADD && userTimeout > 0:
			// Set once, when the socket is added: it keeps it.
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(userTimeout.Milliseconds()))
		}
	})
	if err == nil {
		err = opErr
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// rearm arms w again after its function ran for input that was not for it
// to act on.
func (w *watch) rearm() {
	w.fired.Store(false)
	_ = w.rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: watchEvents, Fd: w.fd, Pad: int32(w.gen)}
		_ = unix.EpollCtl(w.p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
	})
}

// stop takes w out of the set: its function will not run for anything
// that happens from now on. It must be called before the connection is
// closed or handed back to net/http.
func (w *watch) stop() {
	_ = w.rc.Control(func(fd uintptr) {
		_ = unix.EpollCtl(w.p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	})
	w.p.forget(w)
}

// leave ends w without taking its connection out of the set, where it
// stays disarmed, since its function ran: the connection is served, and
// its next watch, if any, costs one operation on the set rather than two.
// A connection that leaves is closed, watched again, or given back to
// net/http, which may close it: the system takes a closed descriptor out
// of the set.
func (w *watch) leave() {
	w.p.mu.Lock()
	if int(w.fd) < len(w.p.watches) && w.p.watches[w.fd] == w {
		w.p.watches[w.fd] = leftWatch
	}
	w.p.mu.Unlock()
}

// forget drops w from the table, unless its descriptor now belongs to a
// newer watch.
func (p *poller) forget(w *watch) {
	p.mu.Lock()
	if int(w.fd) < len(p.watches) && p.watches[w.fd] == w {
		p.watches[w.fd] = nil
	}
	p.mu.Unlock()
}

// loop waits for events and queues the function of each watch that has
// one for the hub's writers.
func (p *poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			p.h.log.Error("parley: waiting for parked connections failed", "err", err)
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(p.wakefd) {
				return
			}
			p.mu.Lock()
			var w *watch
			if int(ev.Fd) < len(p.watches) {
				w = p.watches[ev.Fd]
			}
			var t task
			if w != nil && w.gen == uint32(ev.Pad) && !w.left {
				t = task{s: w.s, hh: w.hh, ka: w.ka, input: true}
				w.fired.Store(true)
			}
			p.mu.Unlock()
			if t.input {
				p.h.writers.add(t)
			}
		}
	}
}

// peerState is what a parked connection's peer has done.
type peerState int

const (
	peerQuiet peerState = iota // nothing to read: the event was spurious
	peerSent                   // there are bytes to read
	peerGone                   // the peer closed or reset the connection
)

// write writes as much of p to w's connection as its socket takes now,
// without waiting: an error only if the connection failed.
func (w *watch) write(p []byte) (int, error) {
	var n int
	var err error
	// syscall's Write and Read, unlike unix's, tell the race detector
	// that what was written happened before what reads it.
	if cerr := w.rc.Control(func(fd uintptr) { n, err = syscall.Write(int(fd), p) }); cerr != nil {
		return 0, cerr
	}
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return 0, nil
	}
	return max(n, 0), err
}

// shut shuts w's connection down both ways: the poller then finds its
// page gone, as when the page leaves.
func (w *watch) shut() {
	_ = w.rc.Control(func(fd uintptr) { _ = unix.Shutdown(int(fd), unix.SHUT_RDWR) })
}

// read reads what w's connection has now into b, without waiting.
func (w *watch) read(b []byte) (int, peerState) {
	n, state := 0, peerGone
	_ = w.rc.Control(func(fd uintptr) {
		m, err := syscall.Read(int(fd), b)
		switch {
		case m > 0:
			n, state = m, peerSent
		case errors.Is(err, unix.EAGAIN):
			state = peerQuiet
		}
	})
	return n, state
}

// peek looks at w's connection without reading from it.
func (w *watch) peek() peerState {
	state := peerGone
	_ = w.rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case n > 0:
			state = peerSent
		case errors.Is(err, unix.EAGAIN):
			state = peerQuiet
		}
	})
	return state
}
