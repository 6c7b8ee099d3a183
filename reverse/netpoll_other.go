//go:build !linux

package reverse

import (
	"errors"
	"net"
	"time"
)

// poller is not available here: held pages wait on their handler's
// goroutine, where net/http notices a peer that goes away.
type poller struct{}

// watch is never made where there is no poller.
type watch struct{}

func newPoller(*Hub) (*poller, error) {
	return nil, errors.New("reverse: parked connections are watched on Linux only")
}

func (*poller) close() {}

func (*poller) watch(net.Conn, time.Duration, *Session, *held) (*watch, error) {
	return nil, errors.New("reverse: no poller")
}

func (*watch) rearm() {}
func (*watch) stop()  {}

type peerState int

const (
	peerQuiet peerState = iota
	peerSent
	peerGone
)

func (*watch) peek() peerState { return peerGone }
