//go:build !linux

package reverse

import (
	"errors"
	"net"
	"net/http"
	"time"
)

// poller is not available here: held pages wait on their handler's
// goroutine, where net/http notices a peer that goes away.
type poller struct{ h *Hub }

// watch is never armed where there is no poller.
type watch struct {
	p  *poller
	s  *Session
	hh *held
	ka *keepAlive
}

func newPoller(*Hub) (*poller, error) {
	return nil, errors.New("reverse: parked connections are watched on Linux only")
}

func (*poller) close() {}

func (*poller) watch(net.Conn, time.Duration, *watch) (*watch, error) {
	return nil, errors.New("reverse: no poller")
}

func (*poller) keep(*watch, net.Conn, *http.Server, *origin, *partial) bool { return false }

func (*watch) read([]byte) (int, peerState) { return 0, peerGone }
func (*watch) write([]byte) (int, error)    { return 0, nil }
func (*watch) rearm()                       {}
func (*watch) leave()                       {}
func (*watch) stop()                        {}
func (*watch) shut()                        {}

type peerState int

const (
	peerQuiet peerState = iota
	peerSent
	peerGone
)

func (*watch) peek() peerState { return peerGone }
