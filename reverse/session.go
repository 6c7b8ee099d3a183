package reverse

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// Reasons a session ends, as the page sees them in a reset.
const (
	// ReasonExpired: the session had no connection for longer than the
	// hub's SessionTimeout, or the page presented an id the hub no longer knows.
	ReasonExpired = "expired"
	// ReasonOverflow: the outbox passed its message or byte limit.
	ReasonOverflow = "overflow"
	// ReasonClosed: the page or the application ended the session.
	ReasonClosed = "closed"
)

// Message is one reverse call in a session's outbox: a browser function
// name and its JSON-encoded arguments, numbered by the session's sequence.
type Message struct {
	// Seq is the message's per-session sequence number, starting at 1.
	Seq uint64
	// body is `"fn":…,"args":[…]`, shared by every session the call reached.
	body []byte
}

// MarshalJSON encodes the message as {"seq":N,"fn":…,"args":[…]}.
func (m Message) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(m.body)+32)
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, m.Seq, 10)
	b = append(b, ',')
	b = append(b, m.body...)
	return append(b, '}'), nil
}

// Reset tells a page that its session is gone and it may have missed
// messages: the page raises a gap event and opens a fresh session.
type Reset struct {
	// Reason is one of ReasonExpired, ReasonOverflow, ReasonClosed,
	// ReasonEvicted or ReasonShutdown.
	Reason string `json:"reason"`
}

// Session is one open page: its identity, its outbox, and the attributes
// the application keeps on it.
type Session struct {
	id          string
	page        string
	httpSession string
	hub         *Hub
	pageAt      int // its place in the hub's byPage list, guarded by the hub's mu

	mu        sync.Mutex
	msgs      []Message // unacknowledged, ascending by Seq
	bytes     int       // sum of len(body) over msgs
	lastSeq   uint64    // the last sequence number assigned
	sent      uint64    // the highest sequence number handed to the page
	acked     uint64    // the highest sequence number the page has run
	held      *held     // the connection held open for the page, if any
	transport string    // the transport the page last used
	lastSeen  stamp
	ended     string // the reason the session ended, "" while it lives
	advised   bool   // the page polls because the load monitor said so
	// heldBack keeps the outbox from the page until it presents the new
	// id its browser was given (Hub.RotateBrowser).
	heldBack bool
	// moved: the session moved to another hub of the backplane, and this
	// one no longer holds it (see cluster.go).
	moved bool
	// far is set on a session another hub holds, as Lookup returns it to
	// serve a request here: what changes it goes to the log or to its
	// holder (see cluster.go).
	far *farSession

	x  sessionState  // user, groups, attributes, subscriptions, invocations: see state.go
	ev sessionEvents // the lifecycle listeners still to run: see state.go
}

// ID returns the session's 128-bit random identifier, base64url-encoded.
func (s *Session) ID() string { return s.id }

// Page returns the normalised URL path of the page that opened the session.
func (s *Session) Page() string { return s.page }

// HTTPSession returns the id of the HTTP session (browser cookie) the
// session is bound to.
func (s *Session) HTTPSession() string {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	return s.httpSession
}

// Call sends a reverse call to this session's page. See Target.Call.
func (s *Session) Call(fn string, args ...any) error {
	return s.hub.Session(s.id).Call(fn, args...)
}

// Close ends the session. The page learns of it with a reset the next time
// it contacts the server. The OnSessionEnd listeners have run when Close
// returns, unless another goroutine is running this session's listeners.
func (s *Session) Close() {
	if s.far != nil {
		if err := s.hub.change(Envelope{Kind: kindEnd, Key: s.id, Ended: ReasonClosed}); err != nil {
			s.hub.log.Error("parley: session end not sent", "session", s.id, "err", err)
		}
		return
	}
	s.hub.endNow(s, ReasonClosed)
}

// Ended reports whether the session has ended, and why.
func (s *Session) Ended() (reason string, ended bool) {
	if s.far != nil {
		h := s.hub
		h.mu.RLock()
		_, live := h.far[s.id]
		local := h.byID[s.id]
		h.mu.RUnlock()
		switch {
		case local != nil:
			return local.Ended()
		case live:
			return "", false
		}
		if reason, ok := h.graves.reason(s.id, s.httpSession); ok {
			return reason, true
		}
		return ReasonClosed, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended, s.ended != ""
}

// push appends one message to the outbox. It reports false when the outbox
// would pass its limits, in which case nothing was added. It first answers
// the invocations the session forgot at its pending limit.
func (s *Session) push(body []byte, lim Limits) bool {
	s.hub.answerForgotten(s)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended != "" {
		return true // the page will learn of the end; nothing more to keep
	}
	if len(s.msgs)+1 > lim.OutboxMessages || s.bytes+len(body) > lim.OutboxBytes {
		return false
	}
	s.lastSeq++
	s.msgs = append(s.msgs, Message{Seq: s.lastSeq, body: body})
	s.bytes += len(body)
	s.hub.stats.messages.Add(1)
	s.hub.stats.messageBytes.Add(uint64(len(body)))
	s.notifyLocked()
	return true
}

// ErrAckAhead: a page acknowledged a sequence number beyond the last
// message handed to it. The page cannot have run what it never received,
// so the ack is refused rather than dropping messages never delivered.
var ErrAckAhead = errors.New("reverse: ack beyond the last message sent to the page")

// CheckAck reports whether the page may acknowledge seq: it fails with
// ErrAckAhead when seq is beyond the last message handed to the page on
// any transport (a long-poll or poll reply, a stream event, or a call
// reply). The rpc endpoints refuse such an ack; the Session methods that
// take an ack clamp it to the last message sent instead.
func (s *Session) CheckAck(seq uint64) error {
	if s.far != nil {
		return nil // its holder clamps it
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq > s.sent {
		return fmt.Errorf("%w: ack %d, last sent %d", ErrAckAhead, seq, s.sent)
	}
	return nil
}

// ackLocked drops every message up to and including seq. An ack beyond the
// last message handed to the page is clamped: the page cannot have run
// what it never received.
func (s *Session) ackLocked(seq uint64) {
	if seq > s.sent {
		seq = s.sent
	}
	if seq <= s.acked {
		return
	}
	s.acked = seq
	n := 0
	for n < len(s.msgs) && s.msgs[n].Seq <= seq {
		s.bytes -= len(s.msgs[n].body)
		n++
	}
	s.hub.stats.acked.Add(uint64(n))
	// Copy down rather than reslice so acknowledged bodies can be collected.
	rest := copy(s.msgs, s.msgs[n:])
	clear(s.msgs[rest:])
	s.msgs = s.msgs[:rest]
}

// Delivery is what a page receives on any reply: the messages it has not
// acknowledged yet, or a reset when its session is gone.
type Delivery struct {
	// Messages are the unacknowledged messages, ascending by Seq.
	Messages []Message `json:"messages,omitempty"`
	// Reset is set when the session has ended.
	Reset *Reset `json:"reset,omitempty"`
	// Advice, when set, tells the page to change transport or interval.
	Advice *Advice `json:"advice,omitempty"`
	// Shutdown, when set, tells the page that the server is shutting down
	// and when to reconnect (see Hub.Shutdown). A reply with a Reset has none.
	Shutdown *Shutdown `json:"shutdown,omitempty"`
	// More is set when messages were left for the page's next request,
	// which the page sends at once, even when it polls: a reply carries
	// at most 128 KiB of messages.
	More bool `json:"more,omitempty"`
}

// Pending acknowledges ack and returns what the page has still to run,
// without waiting. It is what rides on ordinary call replies (piggyback).
func (s *Session) Pending(ack uint64) Delivery {
	if s.far != nil {
		s.Ack(ack)
		return Delivery{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ackLocked(ack)
	s.lastSeen = stampOf(s.hub.now())
	return s.deliveryLocked()
}

// Ack records that the page has run every message up to seq.
func (s *Session) Ack(seq uint64) {
	if s.far != nil {
		s.hub.mailHolder(s, Envelope{Kind: kindAck, Key: s.id, Body: strconv.AppendUint(nil, seq, 10)})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ackLocked(seq)
	s.lastSeen = stampOf(s.hub.now())
}

// deliveryLocked returns what a reply to the page carries now, and
// records its messages as handed to the page. Called with s.mu held.
func (s *Session) deliveryLocked() Delivery {
	if s.ended != "" {
		return Delivery{Reset: &Reset{Reason: s.ended}}
	}
	if !s.deliverableLocked() {
		return Delivery{}
	}
	n, size := 0, 0
	for n < len(s.msgs) && (n == 0 || size+len(s.msgs[n].body) <= replyBytes) {
		size += len(s.msgs[n].body)
		n++
	}
	s.sentLocked(s.msgs[n-1].Seq)
	return Delivery{Messages: append([]Message(nil), s.msgs[:n]...), More: n < len(s.msgs)}
}

// replyBytes bounds the message bytes of one reply that carries a
// delivery (a long-poll's, a poll's, a call's). It carries the oldest
// messages that fit, and at least one; the others wait for the page's
// next request, and the reply says so (Delivery.More) for the page to
// send it at once. A page on a slow link thus takes a large backlog in
// replies it can finish within the write timeout, acknowledging each
// before the next, where one reply of the whole backlog would be cut
// before its end at every try.
const replyBytes = 128 << 10

// deliverableLocked reports whether the outbox has messages the page may
// be sent now. Called with s.mu held.
func (s *Session) deliverableLocked() bool {
	return len(s.msgs) > 0 && !s.heldBack
}

// sentLocked records that every message up to seq was handed to the page.
// Called with s.mu held.
func (s *Session) sentLocked(seq uint64) {
	s.sent = max(s.sent, seq)
}
