package reverse

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ReasonShutdown: the server that held the session shut down (Hub.Shutdown).
const ReasonShutdown = "shutdown"

// ErrShuttingDown: the hub is shutting down and opens no new session.
// rpc answers such a page with the error code unavailable.
var ErrShuttingDown = errors.New("reverse: the server is shutting down")

// defaultReconnectDelay is the default of WithReconnectDelay.
const defaultReconnectDelay = 2 * time.Second

// WithReconnectDelay sets the most a page waits, once told that the server
// is shutting down, before it reconnects: each page waits a random time
// between half and all of it, so that the pages of a server do not all
// come back to the others at once. Default 2 seconds.
func WithReconnectDelay(d time.Duration) Option {
	return func(h *Hub) { h.drain.delay = d }
}

// Shutdown tells a page that the server is going away: it reconnects, to
// whichever server answers, after a random time between half and all of
// Reconnect milliseconds. It is not a reset: the page keeps its session
// and resumes it wherever the session is known.
type Shutdown struct {
	// Reconnect is the most the page waits before it reconnects, in
	// milliseconds.
	Reconnect int64 `json:"reconnect"`
}

// drainState is what a hub keeps for Shutdown.
type drainState struct {
	on    atomic.Bool   // Shutdown has begun
	delay time.Duration // WithReconnectDelay; 0 means the default
}

// shutdownNotice returns the notice a reply to a page carries while the
// hub shuts down, or nil.
func (h *Hub) shutdownNotice() *Shutdown {
	if !h.drain.on.Load() {
		return nil
	}
	d := h.drain.delay
	if d <= 0 {
		d = defaultReconnectDelay
	}
	return &Shutdown{Reconnect: d.Milliseconds()}
}

// Shutdown takes the hub out of service and shuts down the HTTP servers
// that serve its pages. It is the one call a server that is going away
// makes, on SIGTERM for instance, in place of http.Server.Shutdown.
//
// Neither half works alone. http.Server.Shutdown does not see the
// connections the hub took over to hold pages cheaply (HTTP/1.1), so
// their pages would stay attached to a server that is gone; and it waits
// for the streams the hub holds as running handlers (HTTP/2), which last
// up to Transports.StreamMaxAge. A function registered with
// http.Server.RegisterOnShutdown gets no deadline and nobody waits for it.
// So Shutdown does both, in this order:
//
//  1. It opens no new session: Open and OpenFrom fail with
//     ErrShuttingDown, which rpc answers with the code unavailable.
//  2. It starts the servers' Shutdown, which closes their listeners.
//  3. Every page with a held connection is sent what its outbox holds,
//     then told to reconnect after a short random delay (see Shutdown
//     the type, and WithReconnectDelay), and its connection ends: an SSE
//     stream ends with a "shutdown" event, a long-poll is answered with a
//     "shutdown" field. A page that asks while the hub shuts down is
//     answered the same way at once, never held.
//  4. When every held connection has ended, or ctx is done, every session
//     ends with ReasonShutdown, the OnSessionEnd listeners run, and the hub
//     leaves the backplane, as with Close.
//  5. It waits for the servers' Shutdown, which now finishes promptly.
//
// A session lives in the process of its hub, and so does its outbox: what
// a page had not acknowledged when Shutdown ended it is lost with the
// process. The page learns of it when it reconnects: the hub that answers
// does not know its session and tells it so with a reset, which the
// runtime reports as a gap with the reason "shutdown". Pages are never
// left to miss messages silently.
//
// Shutdown returns the first error of the servers' Shutdown calls, or
// ctx's error if ctx ended before the held connections did. Like
// http.Server.Shutdown, it does not end ordinary requests that are still
// running when ctx ends: call http.Server.Close then. Calling Shutdown
// again, or Close after it, does nothing more.
func (h *Hub) Shutdown(ctx context.Context, servers ...*http.Server) error {
	h.drain.on.Store(true)
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		wg.Go(func() { errs[i] = srv.Shutdown(ctx) })
	}
	err := h.releaseAll(ctx)
	h.close(ReasonShutdown)
	wg.Wait()
	return errors.Join(errors.Join(errs...), err)
}

// releaseAll sends every held connection what its page has pending and the
// shutdown notice, and waits until no connection is held or ctx is done.
// The hub polls its count of held connections, as http.Server.Shutdown
// polls its connections.
func (h *Hub) releaseAll(ctx context.Context) error {
	all := h.sessions()
	for _, s := range all {
		s.mu.Lock()
		if hh := s.held; hh != nil {
			hh.due = true
			s.flushLocked(hh)
		}
		s.mu.Unlock()
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for h.load.held.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// appendShutdown appends the event that ends a stream when the server
// shuts down: a retry field telling a plain EventSource how long to wait,
// and a "shutdown" event whose data is n.
func appendShutdown(buf []byte, n *Shutdown) []byte {
	return appendStreamEvent(buf, "shutdown", n, time.Duration(n.Reconnect)*time.Millisecond)
}

// addNotice adds the shutdown notice to d while the hub shuts down, unless
// d carries a reset.
func (h *Hub) addNotice(d *Delivery) {
	if d.Reset == nil {
		d.Shutdown = h.shutdownNotice()
	}
}
