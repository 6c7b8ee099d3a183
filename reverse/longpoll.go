package reverse

import (
	"net/http"
)

// longPollTransport holds a request until there is something to send or
// the hold ends, then answers it with a Content-Length: the connection
// stays open for the page's next poll.
type longPollTransport struct{}

// longPoll is the long-poll transport.
var longPoll heldTransport = longPollTransport{}

func (longPollTransport) name() string { return LongPoll }

// flush answers hh if its reply is due: the hold ended, the gathering
// after a first message ended, or the session ended.
func (longPollTransport) flush(s *Session, hh *held, _ bool) {
	s.mu.Lock()
	if s.held != hh || !hh.due {
		s.mu.Unlock()
		return
	}
	s.answerLocked(hh)
}

// release answers hh, which a newer request of the page replaced, empty.
func (longPollTransport) release(_ *Session, hh *held) { writeDelivery(hh.out, &Delivery{}) }

// input answers hh at once: the page sent a request behind it on its
// connection, which net/http serves once hh's reply is written.
func (longPollTransport) input(s *Session, hh *held) {
	s.mu.Lock()
	if s.held != hh {
		s.mu.Unlock()
		return
	}
	s.answerLocked(hh)
}

// answerLocked detaches hh and answers it with what is pending. Called
// with s.mu held; it unlocks it.
func (s *Session) answerLocked(hh *held) {
	s.detachLocked(hh)
	d := s.deliveryLocked()
	s.hub.addNotice(&d)
	s.mu.Unlock()
	writeDelivery(hh.out, &d)
}

// ServeLongPoll answers a long-poll from s's page, which has run every
// message up to ack: at once if there is something to send or advice to
// give, or if the hub is shutting down (with the shutdown notice; see
// Hub.Shutdown), otherwise when there is, or when the hold ends. A newer request
// from the page releases an older one. Where it can, the connection is
// parked and the handler returns at once.
func (h *Hub) ServeLongPoll(w http.ResponseWriter, r *http.Request, s *Session, ack uint64) {
	s.mu.Lock()
	s.ackLocked(ack)
	s.lastSeen = stampOf(h.now())
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
		replyDelivery(w, d)
		return
	}
	s.mu.Unlock()
	s.serve(w, r, &held{t: longPoll, since: stampOf(h.now())}, func(hh *held) bool {
		hh.timer = h.timers.add(h.tc.holdFor(), s, hh)
		return s.deliverableLocked() || s.ended != "" || h.drain.on.Load()
	})
}

// ServePoll answers a poll from s's page at once, with what is pending and
// the interval to poll at: the polling transport. A session another hub
// of the backplane holds is polled there, without moving it (Session.Pull
// tells how).
func (h *Hub) ServePoll(w http.ResponseWriter, s *Session, ack uint64) {
	var d Delivery
	if s.far != nil {
		d = h.serveFar(s, ack, fetchPoll, func(held *Session) Delivery { return h.pollDelivery(held, ack) })
	} else {
		d = h.pollDelivery(s, ack)
	}
	h.addNotice(&d)
	replyDelivery(w, d)
}

// pollDelivery acknowledges ack and returns what a poll of s answers.
func (h *Hub) pollDelivery(s *Session, ack uint64) Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ackLocked(ack)
	s.lastSeen = stampOf(h.now())
	s.transport = Polling
	if s.held != nil {
		s.releaseLocked(s.held)
	}
	d := s.deliveryLocked()
	d.Advice = h.adviseLocked(s, Polling)
	return d
}

// ServeAck records an acknowledgement from s's page, which has run every
// message up to ack, and answers r with a reset if the session has ended.
// Streaming pages acknowledge this way. Over HTTP/1.1 without TLS the
// connection then waits in the hub's poller, as after a long-poll reply:
// the page's next ack on it is read and served by the hub, after the
// deliveries waiting, with no goroutine of net/http's while it waits (see
// keepalive.go).
func (h *Hub) ServeAck(w http.ResponseWriter, r *http.Request, s *Session, ack uint64) {
	var d Delivery
	if s.far != nil {
		s.Ack(ack)
	} else {
		s.mu.Lock()
		s.ackLocked(ack)
		s.lastSeen = stampOf(h.now())
		if s.ended != "" {
			d.Reset = &Reset{Reason: s.ended}
		}
		s.mu.Unlock()
	}
	body := encodeDelivery(&d)
	if !h.replyKept(w, r, body) {
		replyJSON(w, body)
	}
}

// replyDelivery answers a request at once with d.
func replyDelivery(w http.ResponseWriter, d Delivery) { replyJSON(w, encodeDelivery(&d)) }

// replyJSON answers a request at once with the JSON body.
func replyJSON(w http.ResponseWriter, body []byte) {
	for k, v := range jsonHeader {
		w.Header()[k] = v
	}
	_, _ = w.Write(body)
}
