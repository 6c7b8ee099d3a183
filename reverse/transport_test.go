package reverse

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// transportServer serves a hub's transports the way rpc.Server does, with
// the session id and ack in the query: /lp, /poll, /ack and /sse.
func transportServer(t *testing.T, h *Hub) string {
	t.Helper()
	ts := httptest.NewServer(transportMux(t, h))
	t.Cleanup(func() { closeBoth(h, ts) })
	return ts.URL
}

// transportMux is the handler of transportServer.
func transportMux(t *testing.T, h *Hub) *http.ServeMux {
	mux := http.NewServeMux()
	session := func(r *http.Request) (*Session, uint64) {
		s, err := h.Lookup(r.URL.Query().Get("session"), "h")
		require.NoError(t, err)
		ack, _ := strconv.ParseUint(r.URL.Query().Get("ack"), 10, 64)
		return s, ack
	}
	mux.HandleFunc("/lp", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // as rpc.Server reads its request
		s, ack := session(r)
		h.ServeLongPoll(w, r, s, ack)
	})
	mux.HandleFunc("/poll", func(w http.ResponseWriter, r *http.Request) {
		s, ack := session(r)
		h.ServePoll(w, s, ack)
	})
	mux.HandleFunc("/ack", func(w http.ResponseWriter, r *http.Request) {
		s, ack := session(r)
		h.ServeAck(w, r, s, ack)
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		s, _ := session(r)
		last, _ := strconv.ParseUint(r.Header.Get("Last-Event-ID"), 10, 64)
		h.ServeSSE(w, r, s, last)
	})
	return mux
}

// closeBoth closes h, then ts: a hub that closes hands its parked
// connections back to their server, which must still be open to take them.
func closeBoth(h *Hub, ts *httptest.Server) {
	h.Close()
	ts.Close()
}

// get requests path for session s with ack, and decodes the JSON reply.
func get(t *testing.T, url, path string, s *Session, ack uint64) Delivery {
	t.Helper()
	return <-async(t, url, path, s, ack)
}

// async runs get on its own goroutine.
func async(t *testing.T, url, path string, s *Session, ack uint64) <-chan Delivery {
	ch := make(chan Delivery, 1)
	go func() {
		defer close(ch)
		res, err := http.Get(url + path + "?session=" + s.ID() + "&ack=" + strconv.FormatUint(ack, 10))
		if !assert.NoError(t, err) {
			return
		}
		defer res.Body.Close()
		var d struct {
			Messages []struct {
				Seq uint64
				Fn  string
			}
			Reset  *Reset
			Advice *Advice
			More   bool
		}
		if !assert.NoError(t, json.NewDecoder(res.Body).Decode(&d)) {
			return
		}
		out := Delivery{Reset: d.Reset, Advice: d.Advice, More: d.More}
		for _, m := range d.Messages {
			out.Messages = append(out.Messages, Message{Seq: m.Seq, body: []byte(`"fn":"` + m.Fn + `"`)})
		}
		ch <- out
	}()
	return ch
}

// hold sends a long-poll for s and returns once the server holds it.
func hold(t *testing.T, url string, s *Session) <-chan Delivery {
	t.Helper()
	got := async(t, url, "/lp", s, 0)
	require.Eventually(t, func() bool { return heldNow(s) }, 5*time.Second, time.Millisecond)
	return got
}

// heldNow reports whether s has a connection held right now.
func heldNow(s *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held != nil
}

// forEachHolding runs f with parking on (the default) and off.
func forEachHolding(t *testing.T, f func(t *testing.T, tc Transports)) {
	for _, parking := range []bool{true, false} {
		name := "parked"
		if !parking {
			name = "handler"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, Transports{NoParking: !parking, MaxWaitAfterWrite: -1})
		})
	}
}

func TestLongPollWaitsForAMessage(t *testing.T) {
	t.Parallel()
	forEachHolding(t, func(t *testing.T, tc Transports) {
		h := newTestHub(t, WithTransports(tc))
		url := transportServer(t, h)
		s := open(t, h, "/", "h")
		got := hold(t, url, s)
		select {
		case <-got:
			t.Fatal("the long-poll returned with nothing to deliver")
		case <-time.After(20 * time.Millisecond):
		}
		require.NoError(t, s.Call("wake"))
		assert.Equal(t, []string{"wake"}, fns(t, <-got))
		assert.False(t, heldNow(s))
	})
}

func TestLongPollAnswersAtOnceWhenThereIsSomething(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	url := transportServer(t, h)
	s := open(t, h, "/", "h")
	require.NoError(t, s.Call("a"))
	require.NoError(t, s.Call("b"))
	d := get(t, url, "/lp", s, 0)
	assert.Equal(t, []string{"a", "b"}, fns(t, d))
	d = get(t, url, "/lp", s, 0)
	assert.Equal(t, []string{"a", "b"}, fns(t, d), "unacknowledged messages come again")
	go func() { time.Sleep(20 * time.Millisecond); _ = s.Call("c") }()
	d = get(t, url, "/lp", s, 2)
	assert.Equal(t, []string{"c"}, fns(t, d), "acknowledged messages do not")
}

func TestNewerLongPollReleasesTheOlder(t *testing.T) {
	t.Parallel()
	forEachHolding(t, func(t *testing.T, tc Transports) {
		h := newTestHub(t, WithTransports(tc))
		url := transportServer(t, h)
		s := open(t, h, "/", "h")
		first := hold(t, url, s)
		second := async(t, url, "/lp", s, 0)
		assert.Empty(t, (<-first).Messages)
		require.Eventually(t, func() bool { return heldNow(s) }, 5*time.Second, time.Millisecond)
		require.NoError(t, s.Call("f"))
		assert.Equal(t, []string{"f"}, fns(t, <-second))
	})
}

func TestLongPollGathersAfterTheFirstMessage(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithTransports(Transports{MaxWaitAfterWrite: time.Hour, Hold: 200 * time.Millisecond}))
	url := transportServer(t, h)
	s := open(t, h, "/", "h")
	got := hold(t, url, s)
	require.NoError(t, s.Call("a"))
	require.NoError(t, s.Call("b"))
	// The gathering outlasts the hold, so the hold's end sends both.
	assert.Equal(t, []string{"a", "b"}, fns(t, <-got))
}

func TestLongPollHoldEnds(t *testing.T) {
	t.Parallel()
	forEachHolding(t, func(t *testing.T, tc Transports) {
		tc.Hold = 30 * time.Millisecond
		h := newTestHub(t, WithTransports(tc))
		url := transportServer(t, h)
		s := open(t, h, "/", "h")
		d := get(t, url, "/lp", s, 0)
		assert.Empty(t, d.Messages)
		assert.Nil(t, d.Reset)
	})
}

func TestLongPollEndsWithTheSession(t *testing.T) {
	t.Parallel()
	forEachHolding(t, func(t *testing.T, tc Transports) {
		h := newTestHub(t, WithTransports(tc))
		url := transportServer(t, h)
		s := open(t, h, "/", "h")
		got := hold(t, url, s)
		s.Close()
		d := <-got
		require.NotNil(t, d.Reset)
		assert.Equal(t, ReasonClosed, d.Reset.Reason)
	})
}

func TestParkedLongPollLeavesNoGoroutine(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	url := transportServer(t, h)
	s := open(t, h, "/", "h")
	got := hold(t, url, s)
	s.mu.Lock()
	_, parked := s.held.out.(*connSink)
	s.mu.Unlock()
	assert.True(t, parked, "an HTTP/1.1 connection is parked, not held by a handler")
	require.NoError(t, s.Call("f"))
	assert.Equal(t, []string{"f"}, fns(t, <-got))
}

func TestHandlerHoldEndsWhenThePageGoes(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithTransports(Transports{NoParking: true}))
	url := transportServer(t, h)
	s := open(t, h, "/", "h")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", url+"/lp?session="+s.ID(), nil)
	go func() { _, _ = tr.RoundTrip(req) }()
	require.Eventually(t, func() bool { return heldNow(s) }, 5*time.Second, time.Millisecond)
	tr.CloseIdleConnections()
	tr.CancelRequest(req) //nolint:staticcheck // the plain way to drop a connection mid-request
	require.Eventually(t, func() bool { return !heldNow(s) }, 5*time.Second, time.Millisecond)
}

func TestPollAnswersAtOnceWithTheInterval(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithTransports(Transports{PollInterval: 1500 * time.Millisecond}))
	url := transportServer(t, h)
	s := open(t, h, "/", "h")
	d := get(t, url, "/poll", s, 0)
	assert.Empty(t, d.Messages)
	assert.Equal(t, &Advice{Interval: 1500}, d.Advice)
	require.NoError(t, s.Call("f"))
	d = get(t, url, "/poll", s, 0)
	assert.Equal(t, []string{"f"}, fns(t, d))
	d = get(t, url, "/ack", s, 1)
	assert.Nil(t, d.Reset)
	assert.Empty(t, s.Pending(0).Messages, "the ack dropped what the page ran")
}

func TestIdleSessionsExpire(t *testing.T) {
	t.Parallel()
	// The hub's clock stands still until the test moves it on, so that
	// nothing expires before the held session is held.
	base := time.Now()
	var ahead atomic.Int64
	clock := func(h *Hub) { h.now = func() time.Time { return base.Add(time.Duration(ahead.Load())) } }
	h := newTestHub(t, WithSessionTimeout(30*time.Millisecond), clock)
	url := transportServer(t, h)
	idle := open(t, h, "/", "h")
	held := open(t, h, "/", "h")
	got := hold(t, url, held)
	ahead.Store(int64(time.Hour))
	require.Eventually(t, func() bool { _, ended := idle.Ended(); return ended }, 5*time.Second, 5*time.Millisecond)
	reason, _ := idle.Ended()
	assert.Equal(t, ReasonExpired, reason)
	_, ended := held.Ended()
	assert.False(t, ended, "a session with a held connection does not expire")
	held.Close()
	<-got
}

// event is one server-sent event.
type event struct{ id, name, data string }

// readEvents reads events from an SSE stream into a channel until it ends.
func readEvents(t *testing.T, body io.Reader) <-chan event {
	ch := make(chan event, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		var e event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				ch <- e
				e = event{}
			case line == ":":
				e.name = "heartbeat"
			case strings.HasPrefix(line, "id: "):
				e.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.data = line[6:]
			}
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan event) event {
	t.Helper()
	select {
	case e, ok := <-ch:
		require.True(t, ok, "the stream ended")
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return event{}
}

func TestSSEStreamsAndResumes(t *testing.T) {
	t.Parallel()
	forEachHolding(t, func(t *testing.T, tc Transports) {
		h := newTestHub(t, WithTransports(tc))
		url := transportServer(t, h)
		s := open(t, h, "/", "h")
		require.NoError(t, s.Call("before"))

		res, err := http.Get(url + "/sse?session=" + s.ID())
		require.NoError(t, err)
		assert.Equal(t, "text/event-stream; charset=utf-8", res.Header.Get("Content-Type"))
		assert.Equal(t, "no-cache, no-transform", res.Header.Get("Cache-Control"))
		assert.Equal(t, "no", res.Header.Get("X-Accel-Buffering"))
		events := readEvents(t, res.Body)
		assert.Equal(t, "open", next(t, events).name, "the stream opens with an event")
		e := next(t, events)
		assert.Equal(t, "1", e.id)
		assert.JSONEq(t, `{"seq":1,"fn":"before","args":[]}`, e.data)
		require.NoError(t, s.Call("after", 2))
		e = next(t, events)
		assert.Equal(t, "2", e.id)
		assert.JSONEq(t, `{"seq":2,"fn":"after","args":[2]}`, e.data)
		res.Body.Close()

		// Reconnect saying the page ran 1: only 2 comes again.
		req, _ := http.NewRequest("GET", url+"/sse?session="+s.ID(), nil)
		req.Header.Set("Last-Event-ID", "1")
		res, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		events = readEvents(t, res.Body)
		assert.Equal(t, "open", next(t, events).name)
		assert.Equal(t, "2", next(t, events).id)
		s.Close()
		e = next(t, events)
		assert.Equal(t, "reset", e.name)
		assert.JSONEq(t, `{"reason":"closed"}`, e.data)
		_, ok := <-events
		assert.False(t, ok, "the stream ends after a reset")
	})
}

func TestSSEHeartbeatsAndAge(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithTransports(Transports{Heartbeat: 10 * time.Millisecond, StreamMaxAge: 200 * time.Millisecond}))
	url := transportServer(t, h)
	s := open(t, h, "/", "h")
	res, err := http.Get(url + "/sse?session=" + s.ID())
	require.NoError(t, err)
	defer res.Body.Close()
	events := readEvents(t, res.Body)
	assert.Equal(t, "open", next(t, events).name)
	assert.Equal(t, "heartbeat", next(t, events).name)
	for range events { // the stream ends by itself once past its age
	}
	_, ended := s.Ended()
	assert.False(t, ended, "the session outlives its stream")
}

func TestLoadMonitorAdvisesPollingAndBack(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithTransports(Transports{Load: LoadLimits{MaxHeld: 1}, PollInterval: 2 * time.Second}))
	url := transportServer(t, h)
	a := open(t, h, "/", "h")
	b := open(t, h, "/", "h")
	c := open(t, h, "/", "h")
	firstHeld := hold(t, url, a)
	secondHeld := hold(t, url, b)

	// Two held, over the limit of one: the next page is told to poll.
	d := get(t, url, "/lp", c, 0)
	assert.Equal(t, &Advice{Transport: Polling, Interval: 2000}, d.Advice)
	d = get(t, url, "/poll", c, 0)
	assert.Equal(t, &Advice{Interval: 2000}, d.Advice, "still loaded: keep polling")

	a.Close()
	b.Close()
	<-firstHeld
	<-secondHeld
	d = get(t, url, "/poll", c, 0)
	assert.Equal(t, &Advice{Transport: Comet}, d.Advice, "the load dropped: back to Comet")
}

func TestLoadMonitorHysteresis(t *testing.T) {
	t.Parallel()
	m := loadMonitor{limits: LoadLimits{MaxRate: 10}}
	at := func(sec int64) time.Time { return time.Unix(1000+sec, 0) }
	for range 9 {
		assert.False(t, m.request(at(0)), "9 a second is under the rate")
	}
	assert.False(t, m.request(at(0)), "10 is at the rate, not over it")
	assert.True(t, m.request(at(0)), "the 11th request in a second is over the rate")
	for range 9 {
		assert.True(t, m.request(at(1)), "the last second's rate still counts")
	}
	assert.True(t, m.request(at(2)), "9 a second is not below 80% of 10: still overloaded")
	assert.False(t, m.request(at(4)), "a quiet second ends the overload")
}

// TestRepliesCarryABoundedBacklog checks that a backlog larger than a
// reply may carry leaves in several replies, each within replyBytes and
// saying "more" but the last, and that a page acknowledging each gets
// every message once, in order: on long-poll (answered at once, and
// held when the backlog arrives), on polling and on call replies.
func TestRepliesCarryABoundedBacklog(t *testing.T) {
	t.Parallel()
	const count, size = 40, 10 << 10 // 400 KiB: four replies at least
	perReply := replyBytes / size    // whole messages of size that fit
	arg := strings.Repeat("x", size)
	for _, way := range []string{"lp", "lp-held", "poll", "pending"} {
		t.Run(way, func(t *testing.T) {
			t.Parallel()
			h := newTestHub(t, WithLimits(Limits{OutboxBytes: 4 << 20}))
			url := transportServer(t, h)
			s := open(t, h, "/", "h")
			var first <-chan Delivery
			if way == "lp-held" {
				first = hold(t, url, s)
			}
			for range count {
				require.NoError(t, s.Call("m", arg))
			}
			var ack uint64
			replies := 0
			for {
				var d Delivery
				switch {
				case first != nil:
					d, first = <-first, nil
				case way == "pending":
					d = s.Pending(ack)
				case way == "poll":
					d = get(t, url, "/poll", s, ack)
				default:
					d = get(t, url, "/lp", s, ack)
				}
				replies++
				require.NotEmpty(t, d.Messages, "reply %d", replies)
				require.LessOrEqual(t, len(d.Messages), perReply, "reply %d carries at most replyBytes", replies)
				for _, m := range d.Messages {
					require.Equal(t, ack+1, m.Seq, "every message once, in order")
					ack = m.Seq
				}
				if ack == count {
					assert.False(t, d.More, "the last reply leaves nothing")
					break
				}
				require.True(t, d.More, "reply %d leaves messages and says so", replies)
			}
			assert.GreaterOrEqual(t, replies, count/perReply+1)
		})
	}
}

// TestAMessageLargerThanAReplyGoesAlone checks that a message past
// replyBytes is delivered on its own rather than never.
func TestAMessageLargerThanAReplyGoesAlone(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithLimits(Limits{OutboxBytes: 4 << 20}))
	s := open(t, h, "/", "h")
	require.NoError(t, s.Call("small"))
	require.NoError(t, s.Call("large", strings.Repeat("x", 2*replyBytes)))
	require.NoError(t, s.Call("after"))
	d := s.Pending(0)
	assert.Equal(t, []string{"small"}, fns(t, d))
	assert.True(t, d.More)
	d = s.Pending(1)
	assert.Equal(t, []string{"large"}, fns(t, d))
	assert.True(t, d.More)
	d = s.Pending(2)
	assert.Equal(t, []string{"after"}, fns(t, d))
	assert.False(t, d.More)
}
