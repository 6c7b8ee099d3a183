package reverse

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// sseTransport streams messages as server-sent events on one held
// response, chunked so that the connection outlives the stream.
type sseTransport struct{}

// sse is the SSE transport.
var sse heldTransport = sseTransport{}

func (sseTransport) name() string { return SSE }

func (sseTransport) flush(s *Session, hh *held, beat bool) { s.flushStream(hh, beat) }

// release ends the stream; the page opens another.
func (sseTransport) release(_ *Session, hh *held) { hh.out.end() }

// input ends the stream: the page sent a request behind it on its
// connection, which net/http serves once the stream has ended. A write
// under way ends it instead, once done.
func (sseTransport) input(s *Session, hh *held) {
	s.mu.Lock()
	if s.held != hh {
		s.mu.Unlock()
		return
	}
	s.detachLocked(hh)
	writing := hh.flushing
	s.mu.Unlock()
	if !writing {
		hh.out.end()
	}
}

var sseHeader = http.Header{
	"Content-Type":           {"text/event-stream; charset=utf-8"},
	"Cache-Control":          {"no-cache, no-transform"},
	"X-Accel-Buffering":      {"no"},
	"X-Content-Type-Options": {"nosniff"},
}

// ServeSSE streams reverse calls to s's page as server-sent events, each
// with id: set to its sequence number, resuming after lastEventID (the
// highest number the page has run, from the Last-Event-ID header). The
// stream opens with an "open" event, so a page can tell a buffering proxy
// (the event does not arrive) and fall back to long-poll; heartbeats keep
// it alive; it ends with a "reset" event if the session ends, and with a
// "shutdown" event if the hub shuts down (Hub.Shutdown). A newer
// request from the page ends an older stream. Where it can, the connection
// is parked and the handler returns at once.
func (h *Hub) ServeSSE(w http.ResponseWriter, r *http.Request, s *Session, lastEventID uint64) {
	s.mu.Lock()
	s.ackLocked(lastEventID)
	s.lastSeen = stampOf(h.now())
	advice := h.adviseLocked(s, SSE)
	s.mu.Unlock()
	s.serve(w, r, &held{t: sse, since: stampOf(h.now()), advice: advice}, func(hh *held) bool {
		hh.sent = s.acked
		return true // the first flush writes the headers and the open event
	})
}

// flushStream writes to the stream hh what it has not sent yet, and a
// heartbeat if asked and there is nothing else. It ends the stream when a
// write fails, the session ends, the hub shuts down (with a "shutdown"
// event after the messages), the page was advised to poll, or the stream
// is past its age.
func (s *Session) flushStream(hh *held, heartbeat bool) {
	for {
		s.mu.Lock()
		if !s.claimWriteLocked(hh) {
			s.mu.Unlock()
			return
		}
		begin := !hh.begun
		hh.begun = true
		var buf []byte
		if begin {
			buf = appendOpen(buf, hh.advice)
		}
		for _, m := range s.msgs {
			if m.Seq > hh.sent && !s.heldBack {
				buf = appendEvent(buf, m)
				hh.sent = m.Seq
			}
		}
		s.sentLocked(hh.sent)
		ended := s.ended
		old := s.hub.now().Sub(hh.since.time()) >= s.hub.tc.StreamMaxAge
		notice := s.hub.shutdownNotice()
		s.mu.Unlock()

		switch {
		case ended != "":
			buf = append(buf, "event: reset\ndata: "...)
			buf, _ = appendJSON(buf, Reset{Reason: ended})
			buf = append(buf, "\n\n"...)
		case notice != nil:
			buf = appendShutdown(buf, notice)
		}
		if heartbeat && len(buf) == 0 {
			buf = append(buf, ":\n\n"...)
		}
		var err error
		if begin {
			err = hh.out.begin(http.StatusOK, sseHeader, -1)
		}
		if err == nil && len(buf) > 0 {
			err = hh.out.write(buf)
		}

		s.mu.Lock()
		hh.flushing = false
		again := hh.again
		hh.again = false
		stop := err != nil || ended != "" || notice != nil || old || hh.once || hh.advice != nil && hh.advice.Transport == Polling
		if stop && s.held == hh {
			s.detachLocked(hh)
		}
		gone := s.held != hh
		s.mu.Unlock()
		if stop || gone {
			hh.out.end()
			return
		}
		if !again {
			return
		}
		heartbeat = false
	}
}

// appendOpen appends the stream's first event: how long the page should
// wait before reconnecting, and the advice, if any.
func appendOpen(buf []byte, advice *Advice) []byte {
	buf = append(buf, "retry: 1000\nevent: open\ndata: "...)
	buf, _ = appendJSON(buf, struct {
		Advice *Advice `json:"advice,omitempty"`
	}{advice})
	return append(buf, "\n\n"...)
}

// appendEvent appends m as an event whose id is its sequence number.
func appendEvent(buf []byte, m Message) []byte {
	buf = append(buf, "id: "...)
	buf = strconv.AppendUint(buf, m.Seq, 10)
	buf = append(buf, "\ndata: "...)
	b, _ := m.MarshalJSON()
	buf = append(buf, b...)
	return append(buf, "\n\n"...)
}

func appendJSON(buf []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(buf, b...), err
}

// heartbeat queues a heartbeat (an SSE comment, a WebSocket ping) for
// every held stream, ending those past their age or whose page is gone.
func (h *Hub) heartbeat() {
	for _, s := range h.sessions() {
		s.mu.Lock()
		if hh := s.held; hh != nil && hh.t != longPoll {
			hh.beat = true
			s.flushLocked(hh)
		}
		s.mu.Unlock()
	}
}

// How long a page waits before it reconnects after a failed stream, as the
// stream's retry field tells a plain EventSource.
const (
	resetRetry       = time.Second     // after a reset, with a fresh session
	streamErrorRetry = 5 * time.Second // after an error event
)

// ServeResetStream answers an SSE request for a session that is gone with
// a stream a plain EventSource can read: 200 text/event-stream, then
// "retry: 1000" and one reset event carrying the reason, then the end.
// There is no open event. The page opens a fresh session.
func ServeResetStream(w http.ResponseWriter, reason string) {
	serveOneEvent(w, appendStreamEvent(nil, "reset", Reset{Reason: reason}, resetRetry))
}

// ServeStreamError answers an SSE request that cannot be served (no or a
// malformed session, a foreign session, a bad Last-Event-ID, a refused
// origin) with a stream a plain EventSource can read: 200
// text/event-stream, then "retry: 5000" and one event named "error" whose
// data is e as JSON (rpc passes its {code, message, details} error), then
// the end. There is no open event. A plain EventSource hands the event to
// its onerror handler as a MessageEvent with data; its own connection
// errors carry none.
func ServeStreamError(w http.ResponseWriter, e any) {
	serveOneEvent(w, appendStreamEvent(nil, "error", e, streamErrorRetry))
}

// serveOneEvent writes a whole stream, buf, through w.
func serveOneEvent(w http.ResponseWriter, buf []byte) {
	for k, v := range sseHeader {
		w.Header()[k] = v
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
}

// appendStreamEvent appends a retry field and the event named event with
// data v as JSON.
func appendStreamEvent(buf []byte, event string, v any, retry time.Duration) []byte {
	buf = append(buf, "retry: "...)
	buf = strconv.AppendInt(buf, retry.Milliseconds(), 10)
	buf = append(buf, "\nevent: "...)
	buf = append(buf, event...)
	buf = append(buf, "\ndata: "...)
	buf, _ = appendJSON(buf, v)
	return append(buf, "\n\n"...)
}
