package reverse

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// within fails the test if done is not closed in a generous time: it
// detects a hang, and measures nothing.
func within(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s hangs", what)
	}
}

func TestEndListenerMayCallTargetsDuringAPublish(t *testing.T) {
	t.Parallel()
	h := NewHub(WithLimits(Limits{OutboxMessages: 2}))
	t.Cleanup(func() {
		if !t.Failed() { // a hub that deadlocked cannot close
			h.Close()
		}
	})
	var mu sync.Mutex
	var left []string
	h.OnSessionEnd(func(s *Session, reason string) {
		// Tell the room who left: a call from inside the listener.
		if err := h.Page("/room").Call("left", s.Page(), reason); err != nil {
			t.Error(err)
		}
		mu.Lock()
		left = append(left, s.Page()+" "+reason)
		mu.Unlock()
	})
	room := open(t, h, "/room", "r")
	open(t, h, "/ann", "a")

	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 { // the third overflows /ann inside the publish
			assert.NoError(t, h.Page("/ann").Call("f"))
		}
		for range 10 {
			assert.NoError(t, h.Page("/other").Call("g"), "later publishes complete")
		}
	}()
	within(t, done, "publishing after an overflow")
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(left) == 1
	}, 10*time.Second, time.Millisecond)
	assert.Equal(t, []string{"/ann overflow"}, left)
	got := msgs(t, room.Pending(0))
	require.Len(t, got, 1)
	assert.Equal(t, "left", got[0].Fn)
	args, err := json.Marshal(got[0].Args)
	require.NoError(t, err)
	assert.JSONEq(t, `["/ann","overflow"]`, string(args))
}

func TestListenersRunInOrderOnceEach(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithLimits(Limits{OutboxMessages: 1}))
	var mu sync.Mutex
	events := map[string][]string{}
	record := func(s *Session, e string) {
		mu.Lock()
		events[s.ID()] = append(events[s.ID()], e)
		mu.Unlock()
	}
	h.OnSessionStart(func(s *Session) {
		// The session overflows and ends while its start listener runs:
		// its end listener still runs after this one, once.
		_ = s.Call("a")
		_ = s.Call("b")
		record(s, "start")
	})
	h.OnSessionEnd(func(s *Session, reason string) { record(s, "end "+reason) })
	var sessions []*Session
	for i := range 20 {
		sessions = append(sessions, open(t, h, "/", fmt.Sprint(i)))
	}
	for _, s := range sessions {
		s.Close()
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range sessions {
			if len(events[s.ID()]) < 2 {
				return false
			}
		}
		return true
	}, 10*time.Second, time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, s := range sessions {
		assert.Equal(t, []string{"start", "end overflow"}, events[s.ID()])
	}
}

func TestPanickingListenerIsLoggedAndContained(t *testing.T) {
	t.Parallel()
	var logged syncBuffer
	h := newTestHub(t, WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
	ran := false
	h.OnSessionEnd(func(*Session, string) { panic("listener bug") })
	h.OnSessionEnd(func(*Session, string) { ran = true })
	s := open(t, h, "/", "h")
	s.Close()
	assert.True(t, ran, "the next listener runs")
	assert.Contains(t, logged.String(), "listener bug")
	assert.Contains(t, logged.String(), "hardening_test.go", "with the stack")
	open(t, h, "/", "h") // the hub goes on
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestForgottenInvocationIsAnsweredAtOnce(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithLimits(Limits{PendingInvocations: 1}))
	s := open(t, h, "/", "h")
	first := invoke(context.Background(), h.Session(s.ID()), "f1") // no deadline
	invoked(t, s, "f1")
	second := invoke(context.Background(), h.Session(s.ID()), "f2")
	m := invoked(t, s, "f2")

	var replies []Reply
	select {
	case replies = <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("the forgotten invocation is never answered")
	}
	require.Len(t, replies, 1)
	assert.Equal(t, s.ID(), replies[0].Session)
	assert.True(t, errors.Is(replies[0].Err, ErrNoReply), "%v", replies[0].Err)
	assert.False(t, errors.Is(replies[0].Err, ErrSessionEnded))

	require.NoError(t, s.Answer(m.Invoke, json.RawMessage(`2`), nil))
	assert.Equal(t, json.RawMessage(`2`), (<-second)[0].Value, "the newer one is still answered")
}

func TestAckCannotPassWhatWasSent(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	url := transportServer(t, h)
	s := open(t, h, "/", "h")
	require.NoError(t, s.Call("f"))
	require.NoError(t, s.Call("g"))
	assert.ErrorIs(t, s.CheckAck(1), ErrAckAhead, "queued is not sent")
	s.Ack(2)
	assert.Len(t, s.Pending(0).Messages, 2, "an ack of what was never sent drops nothing")

	require.NoError(t, s.CheckAck(2), "the call reply above carried both")
	require.NoError(t, s.Call("h"))
	assert.ErrorIs(t, s.CheckAck(3), ErrAckAhead)
	assert.Len(t, get(t, url, "/poll", s, 0).Messages, 3)
	require.NoError(t, s.CheckAck(3), "a poll reply sends")

	require.NoError(t, s.Call("i"))
	assert.Len(t, get(t, url, "/lp", s, 3).Messages, 1)
	require.NoError(t, s.CheckAck(4), "a long-poll reply sends")

	require.NoError(t, s.Call("j"))
	assert.ErrorIs(t, s.CheckAck(5), ErrAckAhead)
	req, err := http.NewRequest(http.MethodGet, url+"/sse?session="+s.ID(), nil)
	require.NoError(t, err)
	req.Header.Set("Last-Event-ID", "4")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	events := readEvents(t, res.Body)
	assert.Equal(t, "open", next(t, events).name)
	assert.Equal(t, "5", next(t, events).id)
	require.NoError(t, s.CheckAck(5), "a stream event sends")
	s.Close()
}

func TestEndedSessionsKeepTheirReason(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithLimits(Limits{OutboxMessages: 1}))
	closed := open(t, h, "/", "a")
	closed.Close()
	over := open(t, h, "/over", "a")
	require.NoError(t, h.Page("/over").Call("f"))
	require.NoError(t, h.Page("/over").Call("f"))
	for _, tc := range []struct {
		name, id, http, want string
	}{
		{"closed", closed.ID(), "a", ReasonClosed},
		{"overflow", over.ID(), "a", ReasonOverflow},
		{"unknown", "no-such-session", "a", ReasonExpired},
		{"another browser", closed.ID(), "mallory", ReasonExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, h.EndReason(tc.id, tc.http))
		})
	}
}

func TestTombstonesAreBounded(t *testing.T) {
	t.Parallel()
	var ts tombstones
	t0 := time.Unix(1000, 0)
	for i := range maxTombstones + 1 {
		ts.add(fmt.Sprint(i), "h", ReasonClosed, t0.Add(time.Duration(i)*time.Second))
	}
	_, ok := ts.reason("0", "h")
	assert.False(t, ok, "past the cap the oldest is forgotten")
	r, ok := ts.reason("1", "h")
	assert.True(t, ok)
	assert.Equal(t, ReasonClosed, r)
	assert.Len(t, ts.byID, maxTombstones)

	ts.expire(t0.Add(maxTombstones * time.Second))
	assert.Len(t, ts.byID, 1, "what ended before the cutoff is forgotten")
	_, ok = ts.reason(fmt.Sprint(maxTombstones), "h")
	assert.True(t, ok)
	assert.Less(t, cap(ts.order), 100, "the queue shrinks")
}

// rawPipeline sends reqs in one write on a fresh connection and returns
// the responses the server sent until it closed the connection.
func rawPipeline(t *testing.T, url string, reqs ...string) []string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = io.WriteString(conn, strings.Join(reqs, ""))
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(conn)
	var out []string
	for range reqs {
		res, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		out = append(out, res.Status+"\n"+string(body))
	}
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF, "the server closes the connection after the last reply")
	return out
}

func TestPipelinedHeldRequestsAreAnsweredInOrder(t *testing.T) {
	t.Parallel()
	var logged syncBuffer
	h := newTestHub(t, WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
	url := transportServer(t, h)
	for _, tc := range []struct{ name, path, first string }{
		{"longpoll", "/lp", `200 OK` + "\n" + `{"messages":[{"seq":1,"fn":"f","args":[]}]}`},
		{"sse", "/sse", "200 OK\nretry: 1000\nevent: open\ndata: {}\n\nid: 1\ndata: {\"seq\":1,\"fn\":\"f\",\"args\":[]}\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, h, "/", "h")
			require.NoError(t, s.Call("f"))
			q := "?session=" + s.ID()
			out := rawPipeline(t, url,
				"GET "+tc.path+q+" HTTP/1.1\r\nHost: x\r\n\r\n",
				"GET /poll"+q+"&ack=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			assert.Equal(t, tc.first, out[0], "the held request is answered at once")
			assert.Equal(t, "200 OK\n{\"advice\":{\"interval\":5000}}", out[1], "then the request behind it")
			assert.False(t, heldNow(s), "nothing is held")
			require.NoError(t, s.Call("g"))
			assert.Len(t, get(t, url, "/lp", s, 1).Messages, 1, "the session still serves")
		})
	}
	assert.NotContains(t, logged.String(), "panic")
}
