package reverse

import (
	"encoding/json"
	"net/http"
	"time"
)

// ServeLongPoll answers a long-poll from s's page, which has run every
// message up to ack: at once if there is something to send or advice to
// give, or if the hub is shutting down (with the shutdown notice; see
// Hub.Shutdown), otherwise when there is, or when the hold ends. A newer request
// from the page releases an older one. Where it can, the connection is
// parked and the handler returns at once.
func (h *Hub) ServeLongPoll(w http.ResponseWriter, r *http.Request, s *Session, ack uint64) {
	s.mu.Lock()
	s.ackLocked(ack)
	s.lastSeen = h.now()
	s.transport = LongPoll
	advice := h.adviseLocked(s, LongPoll)
	if advice != nil || s.deliverableLocked() || s.ended != "" || h.drain.on.Load() {
		d := s.deliveryLocked()
		d.Advice = advice
		h.addNotice(&d)
		if s.held != nil {
			s.releaseLocked(s.held)
		}
		s.mu.Unlock()
		replyJSON(w, d)
		return
	}
	s.mu.Unlock()
	s.serve(w, r, &held{kind: LongPoll, since: h.now()}, func(hh *held) bool {
		hh.timer = time.AfterFunc(h.tc.Hold, func() {
			h.safely("a long-poll reply", func() { s.flushLongPoll(hh) })
		})
		return s.deliverableLocked() || s.ended != "" || h.drain.on.Load()
	})
}

// ServePoll answers a poll from s's page at once, with what is pending and
// the interval to poll at: the polling transport.
func (h *Hub) ServePoll(w http.ResponseWriter, s *Session, ack uint64) {
	s.mu.Lock()
	s.ackLocked(ack)
	s.lastSeen = h.now()
	s.transport = Polling
	if s.held != nil {
		s.releaseLocked(s.held)
	}
	d := s.deliveryLocked()
	d.Advice = h.adviseLocked(s, Polling)
	h.addNotice(&d)
	s.mu.Unlock()
	replyJSON(w, d)
}

// ServeAck records an acknowledgement from s's page, which has run every
// message up to ack, and answers with a reset if the session has ended.
// Streaming pages acknowledge this way.
func (h *Hub) ServeAck(w http.ResponseWriter, s *Session, ack uint64) {
	s.mu.Lock()
	s.ackLocked(ack)
	s.lastSeen = h.now()
	var d Delivery
	if s.ended != "" {
		d.Reset = &Reset{Reason: s.ended}
	}
	s.mu.Unlock()
	replyJSON(w, d)
}

// flushLongPoll answers the held long-poll hh with what is pending, unless
// it was answered already.
func (s *Session) flushLongPoll(hh *held) {
	s.mu.Lock()
	if s.held != hh {
		s.mu.Unlock()
		return
	}
	s.detachLocked(hh)
	d := s.deliveryLocked()
	s.hub.addNotice(&d)
	s.mu.Unlock()
	writeJSONTo(hh.out, d)
}

// replyJSON answers a request at once with v.
func replyJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"reply could not be encoded"}}`, http.StatusInternalServerError)
		return
	}
	for k, v := range jsonHeader {
		w.Header()[k] = v
	}
	_, _ = w.Write(b)
}
