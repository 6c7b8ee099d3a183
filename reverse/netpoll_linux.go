//go:build linux

package reverse

import (
	"errors"
	"net"
	"slices"
	"sync"
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
	done    chan struct{}
}

// watch is one connection in the poller's set: the held connection hh of
// s. s.onInput(hh) runs once on a writer per arming, when the peer sent
// something or went away.
type watch struct {
	p   *poller
	rc  syscall.RawConn
	fd  int32
	gen uint32
	s   *Session
	hh  *held
}

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

// close stops the loop and closes the set. Watched connections stay open.
func (p *poller) close() {
	_, _ = unix.Write(p.wakefd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	<-p.done
	_ = unix.Close(p.epfd)
	_ = unix.Close(p.wakefd)
}

// errNotWatchable: the connection has no socket the poller can watch.
var errNotWatchable = errors.New("reverse: connection cannot be watched")

// watch adds the connection c of hh, held for s, to the set, armed:
// s.onInput(hh) runs on a writer when c's peer sends something or goes
// away. userTimeout, when positive, bounds how long data
// written to c may stay unacknowledged before the system drops the
// connection (TCP_USER_TIMEOUT), so that a peer that vanished without a
// word is found by the next write (a heartbeat).
func (p *poller) watch(c net.Conn, userTimeout time.Duration, s *Session, hh *held) (*watch, error) {
	sc, ok := socketOf(c).(syscall.Conn)
	if !ok {
		return nil, errNotWatchable
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	w := &watch{p: p, rc: rc, s: s, hh: hh}
	var opErr error
	err = rc.Control(func(fd uintptr) {
		if userTimeout > 0 {
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(userTimeout.Milliseconds()))
		}
		p.mu.Lock()
		p.gen++
		w.fd, w.gen = int32(fd), p.gen
		if n := int(fd) + 1; n > len(p.watches) {
			p.watches = slices.Grow(p.watches, n-len(p.watches))[:n]
		}
		p.watches[w.fd] = w
		p.mu.Unlock()
		ev := unix.EpollEvent{Events: watchEvents, Fd: w.fd, Pad: int32(w.gen)}
		if opErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev); opErr != nil {
			p.forget(w)
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
			if w != nil && w.gen != uint32(ev.Pad) {
				w = nil
			}
			p.mu.Unlock()
			if w != nil {
				p.h.writers.add(task{s: w.s, hh: w.hh, input: true})
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
