package rpc

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/parley-go/parley/reverse"
)

// muxRef is one session named by a multiplexed request, with its ack.
type muxRef struct {
	id  string
	ack uint64
}

// parseMuxSessions reads the sessions query parameter of a multiplexed
// GET request: ID.ACK items joined with commas, at most
// reverse.MaxMuxSessions, each id once. An empty text names none.
func parseMuxSessions(text string) ([]muxRef, *Error) {
	if text == "" {
		return nil, nil
	}
	items := strings.Split(text, ",")
	if len(items) > reverse.MaxMuxSessions {
		return nil, Errorf(CodeInvalidArgument, "sessions names more than %d sessions", reverse.MaxMuxSessions)
	}
	refs := make([]muxRef, 0, len(items))
	for i, item := range items {
		id, ackText, ok := strings.Cut(item, ".")
		ack, err := strconv.ParseUint(ackText, 10, 64)
		if !ok || id == "" || err != nil {
			return nil, Errorf(CodeInvalidArgument, "sessions[%d] must be ID.ACK, an id and a sequence number", i)
		}
		refs = append(refs, muxRef{id: id, ack: ack})
	}
	return refs, checkMuxRefs(refs)
}

// checkMuxRefs refuses a set that names a session twice or an empty id.
func checkMuxRefs(refs []muxRef) *Error {
	seen := make(map[string]bool, len(refs))
	for _, ref := range refs {
		switch {
		case ref.id == "":
			return NewError(CodeInvalidArgument, "sessions names an empty session id")
		case seen[ref.id]:
			return Errorf(CodeInvalidArgument, "sessions names session %q twice", ref.id)
		}
		seen[ref.id] = true
	}
	return nil
}

// muxRefs returns the sessions of a multiplexed POST, ordered by id.
func muxRefs(m map[string]uint64) ([]muxRef, *Error) {
	refs := make([]muxRef, 0, len(m))
	for id, ack := range m {
		refs = append(refs, muxRef{id: id, ack: ack})
	}
	slices.SortFunc(refs, func(a, b muxRef) int { return strings.Compare(a.id, b.id) })
	return refs, checkMuxRefs(refs)
}

// muxMembers looks up every session of a multiplexed request for the
// browser httpID; for a request that holds the connection (hold), each is
// moved to this server's hub (reverse.Hub.Hold). A session of another browser fails the whole request
// with permission_denied, and an ack beyond what was sent to its session
// with invalid_argument; a session that is gone is no error: its member
// carries its reset.
func (s *Server) muxMembers(httpID string, refs []muxRef, hold bool) ([]reverse.MuxMember, *Error) {
	members := make([]reverse.MuxMember, 0, len(refs))
	for _, ref := range refs {
		script, err := s.hub.Lookup(ref.id, httpID)
		switch {
		case errors.Is(err, reverse.ErrNotFound):
			members = append(members, reverse.MuxMember{ID: ref.id, Ack: ref.ack, Reset: &reverse.Reset{Reason: s.hub.EndReason(ref.id, httpID)}})
			continue
		case err != nil:
			return nil, Errorf(CodePermissionDenied, "script session %q belongs to another HTTP session", ref.id)
		}
		if script.CheckAck(ref.ack) != nil {
			return nil, Errorf(CodeInvalidArgument, "ack %d of session %q is beyond the last reverse call sent to the page", ref.ack, ref.id)
		}
		if hold {
			held, err := s.hub.Hold(script)
			if err != nil {
				members = append(members, reverse.MuxMember{ID: ref.id, Ack: ref.ack, Reset: &reverse.Reset{Reason: s.hub.EndReason(ref.id, httpID)}})
				continue
			}
			script = held
		}
		members = append(members, reverse.MuxMember{ID: ref.id, Session: script, Ack: ref.ack})
	}
	return members, nil
}

// postMuxMembers checks and looks up the sessions of a multiplexed POST
// (poll, which holds, or ack), refusing one that also names a single
// session.
func (s *Server) postMuxMembers(x *exchange, hold bool) ([]reverse.MuxMember, *Error) {
	if x.req.Session != "" {
		return nil, NewError(CodeInvalidArgument, "a request names session or sessions, not both")
	}
	if len(x.req.Sessions) == 0 {
		return nil, NewError(CodeInvalidArgument, "sessions names no session")
	}
	refs, err := muxRefs(x.req.Sessions)
	if err != nil {
		return nil, err
	}
	return s.muxMembers(x.httpID, refs, hold)
}

// serveMuxPoll serves a multiplexed long-poll: POST poll with
// {"sessions": {ID: ack, ...}}.
func (s *Server) serveMuxPoll(w http.ResponseWriter, r *http.Request, x *exchange) {
	if x.req.Wait != nil && !*x.req.Wait {
		s.refuse(w, NewError(CodeInvalidArgument, "a poll naming sessions is held: wait cannot be false"))
		return
	}
	members, err := s.postMuxMembers(x, true)
	if err != nil {
		s.refuse(w, err)
		return
	}
	s.hub.ServeMuxLongPoll(w, r, members)
}

// muxAckReply answers a multiplexed ack: the reset of every named session
// that is gone, by id.
type muxAckReply struct {
	Sessions map[string]reverse.Delivery `json:"sessions,omitempty"`
}

// serveMuxAck records what the pages of a multiplexed stream have run:
// POST ack with {"sessions": {ID: ack, ...}}.
func (s *Server) serveMuxAck(w http.ResponseWriter, x *exchange) {
	members, err := s.postMuxMembers(x, false)
	if err != nil {
		s.refuse(w, err)
		return
	}
	var reply muxAckReply
	for _, m := range members {
		reset := m.Reset
		if m.Session != nil {
			if x.req.Cookie {
				s.takeCookies(w, m.Session)
			}
			m.Session.Ack(m.Ack)
			if reason, ended := m.Session.Ended(); ended {
				reset = &reverse.Reset{Reason: reason}
			}
		}
		if reset != nil {
			if reply.Sessions == nil {
				reply.Sessions = map[string]reverse.Delivery{}
			}
			reply.Sessions[m.ID] = reverse.Delivery{Reset: reset}
		}
	}
	writeJSON(w, http.StatusOK, reply)
}

// serveMuxSSE serves a multiplexed SSE stream: GET sse?sessions=ID.ACK,...
// Every failure is an error event, as on serveSSE.
func (s *Server) serveMuxSSE(w http.ResponseWriter, r *http.Request) {
	refs, err := parseMuxSessions(r.URL.Query().Get("sessions"))
	if err == nil && len(refs) == 0 {
		err = NewError(CodeInvalidArgument, "sessions names no session")
	}
	var members []reverse.MuxMember
	if err == nil {
		members, err = s.muxMembers(s.browserID(w, r), refs, true)
	}
	if err != nil {
		reverse.ServeStreamError(w, err)
		return
	}
	s.hub.ServeMuxSSE(w, r, members)
}

// serveMuxWebSocket serves a multiplexed WebSocket: GET
// ws?sessions=ID.ACK,... (which may name none) with a WebSocket upgrade,
// once serveWebSocket has checked the origin and the upgrade. A bad set
// is refused before the upgrade. Sessions join later with join frames,
// checked as the set is, for the browser id the socket's calls last set.
func (s *Server) serveMuxWebSocket(w http.ResponseWriter, r *http.Request) {
	refs, err := parseMuxSessions(r.URL.Query().Get("sessions"))
	httpID := s.browserID(w, r)
	var members []reverse.MuxMember
	if err == nil {
		members, err = s.muxMembers(httpID, refs, true)
	}
	if err != nil {
		s.refuse(w, err)
		return
	}
	// A string of its own, not a slice of the Cookie header it would keep whole.
	c := &socketCaller{srv: s, r: newSocketRequest(r), httpID: strings.Clone(httpID)}
	join := func(id string, ack uint64) (*reverse.Session, *reverse.Reset, any) {
		c.mu.Lock()
		browser := c.httpID
		c.mu.Unlock()
		got, err := s.muxMembers(browser, []muxRef{{id: id, ack: ack}}, true)
		if err != nil {
			return nil, nil, err
		}
		return got[0].Session, got[0].Reset, nil
	}
	calls := func(ctx context.Context, script *reverse.Session, frame []byte) []byte {
		return c.batchOf(ctx, script, frame)
	}
	s.hub.ServeMuxWebSocket(w, r, members, reverse.MuxSocketOptions{Join: join, Calls: calls, MaxFrame: s.maxBody})
}
