package reverse

import (
	"encoding/json"
	"net/http"
	"time"
)

// held is a connection held open for a page: a long-poll waiting for
// something to send, or an SSE stream.
type held struct {
	kind   string // LongPoll or SSE
	out    sink
	since  time.Time
	timer  *time.Timer // LongPoll: ends the hold
	gather *time.Timer // LongPoll: ends the gathering after a first message

	// SSE only, guarded by the session's mu:
	advice   *Advice // sent in the stream's first event
	begun    bool    // the headers and first event are written
	sent     uint64  // the highest sequence number written
	flushing bool    // a write is under way
	again    bool    // more arrived while writing
}

// holdLocked makes hh the session's held connection, releasing the one
// it replaces: a page holds at most one. Called with s.mu held.
func (s *Session) holdLocked(hh *held) {
	if old := s.held; old != nil {
		s.releaseLocked(old)
	}
	s.held = hh
	s.hub.load.held.Add(1)
	s.transport = hh.kind
}

// releaseLocked detaches hh from the session and finishes it on its own
// goroutine: an empty long-poll reply, or the end of a stream. Called with
// s.mu held.
func (s *Session) releaseLocked(hh *held) {
	if s.held != hh {
		return
	}
	s.detachLocked(hh)
	if hh.kind == LongPoll {
		s.hub.goSafely("a long-poll reply", func() { writeJSONTo(hh.out, Delivery{}) })
	} else {
		s.hub.goSafely("the end of a stream", hh.out.end)
	}
}

// detachLocked forgets hh. Called with s.mu held.
func (s *Session) detachLocked(hh *held) {
	s.held = nil
	s.hub.load.held.Add(-1)
	s.lastSeen = s.hub.now()
	if hh.timer != nil {
		hh.timer.Stop()
	}
	if hh.gather != nil {
		hh.gather.Stop()
	}
}

// notifyLocked tells the held connection, if any, that there is
// something to send: a message or the session's end. Called with s.mu held.
func (s *Session) notifyLocked() {
	hh := s.held
	switch {
	case hh == nil:
	case s.heldBack && s.ended == "" && !s.hub.drain.on.Load():
	case hh.kind == SSE:
		s.hub.goSafely("a stream write", func() { s.flushStream(hh, false) })
	case s.ended != "" || s.hub.tc.MaxWaitAfterWrite < 0:
		s.hub.goSafely("a long-poll reply", func() { s.flushLongPoll(hh) })
	case hh.gather == nil:
		hh.gather = time.AfterFunc(s.hub.tc.MaxWaitAfterWrite, func() {
			s.hub.safely("a long-poll reply", func() { s.flushLongPoll(hh) })
		})
	}
}

// writeJSONTo writes v as a whole JSON reply to out and finishes it.
func writeJSONTo(out sink, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":{"code":"internal","message":"reply could not be encoded"}}`)
	}
	if out.begin(http.StatusOK, jsonHeader, len(b)) == nil {
		_ = out.write(b)
	}
	out.end()
}

var jsonHeader = http.Header{
	"Content-Type":           {"application/json"},
	"Cache-Control":          {"no-store"},
	"X-Content-Type-Options": {"nosniff"},
}

// serve holds w for s as hh.kind, parking the connection when it can.
// When it cannot, serve blocks until the hold ends or the request's
// context is done. first runs with s.mu held once hh is the session's
// held connection; it reports whether there is already something to send.
// A request with another pipelined behind it is not held: it is answered
// unavailable at once (see refusePipelined).
func (s *Session) serve(w http.ResponseWriter, r *http.Request, hh *held, first func(*held) bool) {
	var hs *handlerSink
	switch cs, p := s.parkable(w); p {
	case pipelined:
		refusePipelined(cs, hh.kind)
		return
	case parked:
		hh.out = cs
	default:
		hs = newHandlerSink(w)
		hh.out = hs
	}
	s.mu.Lock()
	s.holdLocked(hh)
	if first(hh) {
		s.notifyLocked()
	}
	s.mu.Unlock()
	if hs == nil {
		return
	}
	select {
	case <-hs.done:
	case <-r.Context().Done():
		s.mu.Lock()
		if s.held == hh {
			s.detachLocked(hh)
		}
		s.mu.Unlock()
	}
	hs.leave()
}

// parkable parks w's connection unless parking is off.
func (s *Session) parkable(w http.ResponseWriter) (*connSink, parking) {
	if s.hub.tc.NoParking {
		return nil, notParked
	}
	return park(w)
}

// refusePipelined answers a held request of kind that has another request
// pipelined behind it, on its taken-over connection, and closes it: a
// long-poll gets 503 with the error unavailable; a stream, which a plain
// EventSource must be able to read, gets a stream with one error event
// (see ServeStreamError). The requests behind it are not read; the client
// sends them again on a new connection.
func refusePipelined(out sink, kind string) {
	if kind == SSE {
		buf := appendStreamEvent(nil, "error", wireError{Code: "unavailable", Message: errPipelined}, streamErrorRetry)
		if out.begin(http.StatusOK, sseHeader, -1) == nil {
			_ = out.write(buf)
		}
		out.end()
		return
	}
	b, _ := json.Marshal(struct {
		Error wireError `json:"error"`
	}{wireError{Code: "unavailable", Message: errPipelined}})
	if out.begin(http.StatusServiceUnavailable, jsonHeader, len(b)) == nil {
		_ = out.write(b)
	}
	out.end()
}

// wireError is the {code, message} shape of rpc.Error, for the few errors
// the hub writes itself.
type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
