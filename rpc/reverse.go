package rpc

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/parley-go/parley/reverse"
)

// lookup finds the page's script session. A session the hub no longer
// knows yields a reset for the page, with the reason it ended; one bound
// to another HTTP session is refused, and so is an ack beyond the last
// reverse call sent to the page.
func (s *Server) lookup(x *exchange) (*reverse.Session, *reverse.Reset, *Error) {
	sess, err := s.hub.Lookup(x.req.Session, x.httpID)
	switch {
	case errors.Is(err, reverse.ErrNotFound):
		return nil, &reverse.Reset{Reason: s.hub.EndReason(x.req.Session, x.httpID)}, nil
	case err != nil:
		return nil, nil, NewError(CodePermissionDenied, "script session belongs to another HTTP session")
	}
	if sess.CheckAck(x.req.Ack) != nil {
		return nil, nil, Errorf(CodeInvalidArgument, "ack %d is beyond the last reverse call sent to the page", x.req.Ack)
	}
	return sess, nil, nil
}

// hold moves the page's session to this server's hub for a connection it
// holds (see reverse.Hub.Hold): a session another server of the cluster
// held comes here. A session that ended meanwhile yields a reset.
func (s *Server) hold(script *reverse.Session, x *exchange) (*reverse.Session, *reverse.Reset, *Error) {
	held, err := s.hub.Hold(script)
	switch {
	case errors.Is(err, reverse.ErrNotFound):
		return nil, &reverse.Reset{Reason: s.hub.EndReason(script.ID(), x.httpID)}, nil
	case err != nil:
		return nil, nil, NewError(CodeUnavailable, strings.TrimPrefix(err.Error(), "reverse: ")+"; try again")
	}
	return held, nil, nil
}

// sessionReply answers a request to open a script session.
type sessionReply struct {
	Session string `json:"session"`
	// Reset is set when the page asked to resume a session that is gone.
	Reset *reverse.Reset `json:"reset,omitempty"`
	// Held is how many connections the browser holds open now (see
	// reverse.Hub.HeldBy): a page that cannot share one holds none of
	// its own past a few.
	Held int `json:"held"`
}

// serveSession opens a script session for the page, or resumes the one it
// names if that is still alive and bound to the same HTTP session.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request, x *exchange) {
	var reply sessionReply
	if x.req.Session != "" {
		x.req.Ack = 0 // opening acknowledges nothing
		script, reset, _ := s.lookup(x)
		if script != nil {
			s.saveSession(w, x)
			writeJSON(w, http.StatusOK, sessionReply{Session: script.ID(), Held: s.hub.HeldBy(x.httpID)})
			return
		}
		// Gone, or not this browser's: the page gets a fresh session and
		// learns that it may have missed messages, and why when it can.
		reply.Reset = &reverse.Reset{Reason: reverse.ReasonExpired}
		if reset != nil {
			reply.Reset = reset
		}
	}
	// The session keeps the browser id as a string of its own, not a
	// slice of the request's Cookie header, which it would keep whole.
	script, err := s.hub.OpenFrom(x.req.Page, strings.Clone(x.httpID), s.clientAddr(r))
	if err != nil {
		code := CodeResourceExhausted
		if errors.Is(err, reverse.ErrShuttingDown) || errors.Is(err, reverse.ErrUnavailable) {
			code = CodeUnavailable
		}
		s.refuse(w, NewError(code, strings.TrimPrefix(err.Error(), "reverse: ")))
		return
	}
	reply.Session = script.ID()
	reply.Held = s.hub.HeldBy(x.httpID)
	s.saveSession(w, x)
	writeJSON(w, http.StatusOK, reply)
}

// isReverseEndpoint reports whether rest names an endpoint of reverse
// Ajax, served only by a server with a hub.
func isReverseEndpoint(rest string) bool {
	switch rest {
	case "session", "poll", "sse", "ws", "ack", "bye":
		return true
	}
	return false
}

// serveReverse serves the reverse-Ajax endpoints, once ServeHTTP has
// checked the method.
func (s *Server) serveReverse(w http.ResponseWriter, r *http.Request, rest string) {
	switch rest {
	case "sse":
		s.serveSSE(w, r)
	case "ws":
		s.serveWebSocket(w, r)
	case "bye":
		s.serveBye(w, r)
	case "session":
		s.post(w, r, s.serveSession)
	case "poll":
		s.post(w, r, s.servePoll)
	case "ack":
		s.post(w, r, s.serveAck)
	}
}

// liveSession finds the request's script session for a transport: a
// missing session is refused, and a gone one is answered with a reset.
func (s *Server) liveSession(w http.ResponseWriter, x *exchange) *reverse.Session {
	if x.req.Session == "" {
		s.refuse(w, NewError(CodeInvalidArgument, "no session"))
		return nil
	}
	script, reset, err := s.lookup(x)
	switch {
	case err != nil:
		s.refuse(w, err)
	case reset != nil:
		writeJSON(w, http.StatusOK, reverse.Delivery{Reset: reset})
	}
	return script
}

// servePoll serves the long-poll and polling transports: a poll with
// "wait": false is answered at once, any other is held.
func (s *Server) servePoll(w http.ResponseWriter, r *http.Request, x *exchange) {
	if x.req.Sessions != nil {
		s.serveMuxPoll(w, r, x)
		return
	}
	script := s.liveSession(w, x)
	if script == nil {
		return
	}
	if x.req.Wait != nil && !*x.req.Wait {
		// A poll holds nothing: another server's session is polled there.
		s.hub.ServePoll(w, script, x.req.Ack)
		return
	}
	script, reset, err := s.hold(script, x)
	switch {
	case err != nil:
		s.refuse(w, err)
	case reset != nil:
		writeJSON(w, http.StatusOK, reverse.Delivery{Reset: reset})
	default:
		s.hub.ServeLongPoll(w, r, script, x.req.Ack)
	}
}

// serveAck records what a streaming page has run.
func (s *Server) serveAck(w http.ResponseWriter, r *http.Request, x *exchange) {
	if x.req.Sessions != nil {
		s.serveMuxAck(w, x)
		return
	}
	if script := s.liveSession(w, x); script != nil {
		if x.req.Cookie {
			s.takeCookies(w, script)
		}
		s.hub.ServeAck(w, r, script, x.req.Ack)
	}
}

// serveSSE serves the SSE transport: GET sse?session=ID, resuming after
// the Last-Event-ID header (or the lastEventId parameter). It may be
// opened by a plain EventSource, so it asks only for the page's own
// origin, not for Parley's POST headers; and every failure is a stream
// that EventSource can read: a reset event for a session that is gone, an
// error event otherwise (see reverse.ServeStreamError).
func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request) {
	if err := s.checkOrigin(r); err != nil {
		reverse.ServeStreamError(w, err)
		return
	}
	if r.URL.Query().Has("sessions") {
		s.serveMuxSSE(w, r)
		return
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("lastEventId")
	}
	x, script, reset, ok := s.heldSession(w, r, last, "Last-Event-ID", func(e *Error) { reverse.ServeStreamError(w, e) })
	switch {
	case !ok:
	case reset != nil:
		reverse.ServeResetStream(w, reset.Reason)
	default:
		s.hub.ServeSSE(w, r, script, x.req.Ack)
	}
}

// heldSession reads the session and the ack (ackText, named ackName in
// errors) of a GET request for a held transport (sse, ws), and looks the
// session up. It reports false when the request cannot be served, which
// fail has answered; a session that is gone yields its reset.
func (s *Server) heldSession(w http.ResponseWriter, r *http.Request, ackText, ackName string, fail func(*Error)) (*exchange, *reverse.Session, *reverse.Reset, bool) {
	var ack uint64
	if ackText != "" {
		n, err := strconv.ParseUint(ackText, 10, 64)
		if err != nil {
			fail(NewError(CodeInvalidArgument, ackName+" must be a sequence number"))
			return nil, nil, nil, false
		}
		ack = n
	}
	x := &exchange{srv: s, r: r, httpID: s.browserID(w, r), req: request{Session: r.URL.Query().Get("session"), Ack: ack}}
	if x.req.Session == "" {
		fail(NewError(CodeInvalidArgument, "no session"))
		return nil, nil, nil, false
	}
	script, reset, err := s.lookup(x)
	if err == nil && script != nil {
		script, reset, err = s.hold(script, x)
	}
	if err != nil {
		fail(err)
		return nil, nil, nil, false
	}
	return x, script, reset, true
}

// serveBye ends the page's session at once: the page is going away. Pages
// send it as a beacon on pagehide, which cannot carry Parley's headers, so
// it asks only for the page's own origin and the session's own browser.
func (s *Server) serveBye(w http.ResponseWriter, r *http.Request) {
	if err := s.checkOrigin(r); err != nil {
		s.refuse(w, err)
		return
	}
	body, err := readBody(w, r, 4096)
	var req request
	var spare spareSlices
	if err != nil || s.decodeRequest(body, &req, &spare) != nil || req.Session == "" {
		s.refuse(w, NewError(CodeInvalidArgument, "bye takes {\"session\": ID}"))
		return
	}
	if script, err := s.hub.Lookup(req.Session, s.browserID(w, r)); err == nil {
		script.Close()
	}
	w.WriteHeader(http.StatusNoContent)
}
