package rpc

import (
	"errors"
	"net/http"

	"github.com/parley-go/parley/reverse"
)

// lookup finds the page's script session. A session the hub no longer
// knows yields a reset for the page; one bound to another HTTP session is
// refused.
func (s *Server) lookup(x *exchange) (*reverse.Session, *reverse.Reset, *Error) {
	sess, err := s.hub.Lookup(x.req.Session, x.httpID)
	switch {
	case errors.Is(err, reverse.ErrNotFound):
		return nil, &reverse.Reset{Reason: reverse.ReasonExpired}, nil
	case err != nil:
		return nil, nil, NewError(CodePermissionDenied, "script session belongs to another HTTP session")
	}
	return sess, nil, nil
}

// sessionReply answers a request to open a script session.
type sessionReply struct {
	Session string `json:"session"`
	// Reset is set when the page asked to resume a session that is gone.
	Reset *reverse.Reset `json:"reset,omitempty"`
}

// serveSession opens a script session for the page, or resumes the one it
// names if that is still alive and bound to the same HTTP session.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request, x *exchange) {
	var reply sessionReply
	if x.req.Session != "" {
		if script, _, _ := s.lookup(x); script != nil {
			s.saveSession(w, x)
			writeJSON(w, http.StatusOK, sessionReply{Session: script.ID()})
			return
		}
		// Gone, or not this browser's: the page gets a fresh session and
		// learns that it may have missed messages.
		reply.Reset = &reverse.Reset{Reason: reverse.ReasonExpired}
	}
	script, err := s.hub.Open(x.req.Page, x.httpID)
	if err != nil {
		writeError(w, NewError(CodeResourceExhausted, "too many script sessions"))
		return
	}
	reply.Session = script.ID()
	s.saveSession(w, x)
	writeJSON(w, http.StatusOK, reply)
}

// servePoll holds a long-poll until the page has messages, the hold time
// passes, or the page goes away.
func (s *Server) servePoll(w http.ResponseWriter, r *http.Request, x *exchange) {
	if x.req.Session == "" {
		writeError(w, NewError(CodeInvalidArgument, "poll without a session"))
		return
	}
	script, reset, err := s.lookup(x)
	if err != nil {
		writeError(w, err)
		return
	}
	s.saveSession(w, x)
	if reset != nil {
		writeJSON(w, http.StatusOK, reverse.Delivery{Reset: reset})
		return
	}
	writeJSON(w, http.StatusOK, script.Poll(r.Context(), x.req.Ack, s.pollHold, s.pollAfterWrite))
}
