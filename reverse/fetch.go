package reverse

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A page that does not hold a connection, one that polls or one that
// receives only on the replies to its calls (passive), has its requests
// served where they land without moving its session: the hub that got the
// request mails the session's holder a "fetch" with the page's ack, and
// the holder mails back what the page has still to run, as a poll there
// would have answered. One bus round trip, and a request cut on its way
// costs no move: the messages stay in the holder's outbox until the page
// acknowledges them. When the holder does not answer in time, or no longer
// holds the session (it is on its way to another hub), the page gets an
// empty reply and asks again: moving the session instead would make every
// request of a page on a slow cluster move it, each cut short by the
// next. A holder that died leaves the members, and then the page's next
// request takes the session over (Hub.Lookup).

// A hub that learns of a session opened before it joined asks its holder
// the same way for the session's state now (a "record" fetch), so that it
// reads the log from there rather than from the session's checkpoint.

// Kinds of mail that ask a session's holder for what it has.
const (
	kindFetch   = "fetch"   // mail: Key: session id; Invoke: the request; At: the page's ack; Body: fetchPoll, fetchPull or fetchRecord
	kindFetched = "fetched" // mail: Key: session id; Invoke: the request; Body: the answer, none if not held there
)

// What a fetch asks for: a poll's reply (which makes polling the page's
// transport and may carry advice), what rides on a call's reply (both
// answered with a fetchReply), or the session's state without its outbox
// (a sessionRecord).
var (
	fetchPoll   = json.RawMessage(`"poll"`)
	fetchPull   = json.RawMessage(`"pull"`)
	fetchRecord = json.RawMessage(`"record"`)
)

// fetchWait bounds how long a hub waits for a session's holder to answer
// a fetch before it moves the session here.
const fetchWait = handoffWait

// fetchReply is a holder's answer to a fetch: a Delivery, its messages in
// the form records carry them.
type fetchReply struct {
	Msgs   []recordMessage `json:"msgs,omitempty"`
	Reset  *Reset          `json:"reset,omitempty"`
	Advice *Advice         `json:"advice,omitempty"`
	More   bool            `json:"more,omitempty"`
}

// fetches are the fetches a hub waits on, by request id.
type fetches struct {
	mu      sync.Mutex
	waiting map[string]chan []byte
	next    atomic.Uint64
}

// Pull acknowledges ack and returns what the page has still to run, as
// Pending does, for a page that receives only on the replies to its calls
// (the passive transport). Pending answers nothing on a session another
// hub of the backplane holds; Pull asks that hub for the messages, one
// round trip over the backplane, and answers nothing if it does not
// answer within a second.
func (s *Session) Pull(ack uint64) Delivery {
	if s.far == nil {
		return s.pull(ack)
	}
	return s.hub.serveFar(s, ack, fetchPull, func(here *Session) Delivery { return here.pull(ack) })
}

// pull is Pending for a page that receives only on the replies to its
// calls, whose transport it records as Passive unless a connection is
// held for it.
func (s *Session) pull(ack uint64) Delivery {
	d := s.Pending(ack)
	s.mu.Lock()
	if s.held == nil {
		s.transport = Passive
	}
	s.mu.Unlock()
	return d
}

// serveFar serves a poll or a pull (kind) of the far session s: from its
// holder if it answers, with local if the session has come here
// meanwhile, and otherwise with nothing, for the page to ask again.
func (h *Hub) serveFar(s *Session, ack uint64, kind json.RawMessage, local func(*Session) Delivery) Delivery {
	if d, ok := h.fetch(s, ack, kind); ok {
		return d
	}
	if here := h.local(s.id); here != nil {
		return local(here)
	}
	if _, err := h.Lookup(s.id, s.httpSession); errors.Is(err, ErrNotFound) {
		return Delivery{Reset: &Reset{Reason: h.EndReason(s.id, s.httpSession)}}
	}
	return Delivery{}
}

// fetch asks the holder of the far session s for what its page has still
// to run, acknowledging ack. It reports false when the holder does not
// answer (see ask).
func (h *Hub) fetch(s *Session, ack uint64, kind json.RawMessage) (Delivery, bool) {
	h.mu.RLock()
	holder := s.far.holder
	_, here := h.byID[s.id]
	h.mu.RUnlock()
	if here {
		return Delivery{}, false
	}
	body, ok := h.ask(holder, s.id, ack, kind)
	var r fetchReply
	if !ok || json.Unmarshal(body, &r) != nil {
		return Delivery{}, false
	}
	d := Delivery{Reset: r.Reset, Advice: r.Advice, More: r.More}
	for _, m := range r.Msgs {
		if b, ok := messageBody(m.Body); ok {
			d.Messages = append(d.Messages, Message{Seq: m.Seq, body: b})
		}
	}
	return d, true
}

// ask mails the hub holder a fetch of kind for the session id, and
// returns its answer. It reports false when the holder does not hold the
// session, or did not answer within fetchWait.
func (h *Hub) ask(holder, sessionID string, ack uint64, kind json.RawMessage) ([]byte, bool) {
	if holder == "" || holder == h.id {
		return nil, false
	}
	id := strconv.FormatUint(h.fetches.next.Add(1), 36)
	answer := make(chan []byte, 1)
	h.fetches.mu.Lock()
	if h.fetches.waiting == nil {
		h.fetches.waiting = map[string]chan []byte{}
	}
	h.fetches.waiting[id] = answer
	h.fetches.mu.Unlock()
	defer func() {
		h.fetches.mu.Lock()
		delete(h.fetches.waiting, id)
		h.fetches.mu.Unlock()
	}()
	env := Envelope{Kind: kindFetch, Key: sessionID, Invoke: id, At: ack, Origin: h.id, Body: kind}
	if err := h.bp.Send(holder, env); err != nil {
		return nil, false
	}
	wait := time.NewTimer(fetchWait)
	defer wait.Stop()
	select {
	case body := <-answer:
		return body, len(body) > 0
	case <-wait.C:
		return nil, false
	case <-h.stop:
		return nil, false
	}
}

// fetched hands a holder's answer to the fetch waiting for it.
func (h *Hub) fetched(env Envelope) {
	h.fetches.mu.Lock()
	answer := h.fetches.waiting[env.Invoke]
	h.fetches.mu.Unlock()
	if answer != nil {
		select {
		case answer <- env.Body:
		default:
		}
	}
}

// answerFetch answers another hub's fetch of a session this hub holds,
// with what a poll or a call's reply here would carry; with nothing when
// the session is not held here.
func (h *Hub) answerFetch(env Envelope) {
	reply := Envelope{Kind: kindFetched, Key: env.Key, Invoke: env.Invoke, Origin: h.id}
	if s := h.local(env.Key); s != nil {
		var answer any
		switch string(env.Body) {
		case string(fetchRecord):
			h.mu.RLock()
			answer = h.stateLocked(s, h.pos.Load())
			h.mu.RUnlock()
		default:
			var d Delivery
			if string(env.Body) == string(fetchPoll) {
				d = h.pollDelivery(s, env.At)
			} else {
				d = s.pull(env.At)
			}
			r := fetchReply{Reset: d.Reset, Advice: d.Advice, More: d.More}
			for _, m := range d.Messages {
				r.Msgs = append(r.Msgs, recordMessage{Seq: m.Seq, Body: wrapBody(m.body)})
			}
			answer = r
		}
		body, err := json.Marshal(answer)
		if err != nil {
			return
		}
		reply.Body = body
	}
	if err := h.bp.Send(env.Origin, reply); err != nil {
		h.log.Warn("parley: a fetched session's messages not sent", "session", env.Key, "err", err)
	}
}
