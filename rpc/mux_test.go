package rpc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse"
)

// muxMessage is a reverse call as a page reads it.
type muxMessage struct {
	Seq  uint64 `json:"seq"`
	Fn   string `json:"fn"`
	Args []int  `json:"args"`
}

// muxItem is one session's delivery on a multiplexed connection.
type muxItem struct {
	Session  string         `json:"session"`
	Messages []muxMessage   `json:"messages"`
	Reset    *reverse.Reset `json:"reset"`
}

// muxLink is a page's end of a multiplexed connection, of any transport.
type muxLink interface {
	// next returns the next deliveries, waiting for them.
	next() []muxItem
	// ack tells the server what the pages have run, as the transport does.
	ack(acks map[string]uint64)
	close()
}

// sessionsParam writes acks as the sessions query parameter.
func sessionsParam(acks map[string]uint64) string {
	ids := make([]string, 0, len(acks))
	for id := range acks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	items := make([]string, len(ids))
	for i, id := range ids {
		items[i] = fmt.Sprintf("%s.%d", id, acks[id])
	}
	return strings.Join(items, ",")
}

// longPollLink is a multiplexed long-poll: each next is one POST poll.
type longPollLink struct {
	c    *client
	acks map[string]uint64
}

func (l *longPollLink) next() []muxItem {
	l.c.t.Helper()
	status, raw := l.c.postRawJSON("poll", map[string]any{"sessions": l.acks})
	require.Equal(l.c.t, http.StatusOK, status, "%s", raw)
	var reply struct {
		Sessions map[string]muxItem `json:"sessions"`
	}
	require.NoError(l.c.t, json.Unmarshal(raw, &reply))
	var out []muxItem
	for id, it := range reply.Sessions {
		it.Session = id
		out = append(out, it)
	}
	return out
}

func (l *longPollLink) ack(acks map[string]uint64) { l.acks = maps(acks) }
func (l *longPollLink) close()                     {}

// sseLink is a multiplexed SSE stream.
type sseLink struct {
	c   *client
	res *http.Response
	sc  *bufio.Scanner
}

func (l *sseLink) next() []muxItem {
	t := l.c.t
	t.Helper()
	name := ""
	for l.sc.Scan() {
		line := l.sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = line[7:]
		case strings.HasPrefix(line, "data: ") && name == "mux":
			var it muxItem
			require.NoError(t, json.Unmarshal([]byte(line[6:]), &it))
			return []muxItem{it}
		}
	}
	t.Fatalf("stream ended: %v", l.sc.Err())
	return nil
}

func (l *sseLink) ack(acks map[string]uint64) {
	status, raw := l.c.postRawJSON("ack", map[string]any{"sessions": acks})
	require.Equal(l.c.t, http.StatusOK, status, "%s", raw)
}

func (l *sseLink) close() { l.res.Body.Close() }

// socketLink is a multiplexed WebSocket.
type socketLink struct{ s *socket }

func (l *socketLink) next() []muxItem {
	for {
		v := l.s.next()
		if _, ok := v["session"]; !ok {
			continue // open
		}
		b, _ := json.Marshal(v)
		var it muxItem
		require.NoError(l.s.t, json.Unmarshal(b, &it))
		return []muxItem{it}
	}
}

func (l *socketLink) ack(acks map[string]uint64) {
	for id, n := range acks {
		l.s.send(map[string]any{"session": id, "ack": n})
	}
}

func (l *socketLink) close() { l.s.conn.Close() }

func maps(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// postRawJSON posts body and returns the status and the raw reply.
func (c *client) postRawJSON(path string, body any) (int, []byte) {
	c.t.Helper()
	b, err := json.Marshal(body)
	require.NoError(c.t, err)
	req, err := http.NewRequest(http.MethodPost, c.url+"/parley/"+path, bytes.NewReader(b))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Parley", "1")
	res, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(res.Body)
	require.NoError(c.t, err)
	return res.StatusCode, buf.Bytes()
}

// openSSE opens GET sse?sessions=... and returns the status and the link.
func (c *client) openSSE(param string) (int, *sseLink) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.url+"/parley/sse?sessions="+param, nil)
	require.NoError(c.t, err)
	res, err := c.http.Do(req)
	require.NoError(c.t, err)
	c.t.Cleanup(func() { res.Body.Close() })
	return res.StatusCode, &sseLink{c: c, res: res, sc: bufio.NewScanner(res.Body)}
}

// dialMux opens GET ws?sessions=... and returns the socket, or the HTTP
// status of a refused upgrade.
func (c *client) dialMux(param string) (*socket, int) {
	c.t.Helper()
	return c.dialQuery("sessions="+param, nil)
}

// openLink opens a multiplexed connection of kind for acks.
func openLink(t *testing.T, c *client, kind string, acks map[string]uint64) muxLink {
	t.Helper()
	switch kind {
	case reverse.LongPoll:
		return &longPollLink{c: c, acks: maps(acks)}
	case reverse.SSE:
		status, l := c.openSSE(sessionsParam(acks))
		require.Equal(t, http.StatusOK, status)
		return l
	}
	s, status := c.dialMux(sessionsParam(acks))
	require.Equal(t, http.StatusSwitchingProtocols, status)
	return &socketLink{s: s}
}

var muxKinds = []string{reverse.LongPoll, reverse.SSE, reverse.WebSocket}

// openPages opens n sessions of c's browser, and returns their ids.
func openPages(c *client, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = c.openSession(fmt.Sprintf("/tab%d", i))
	}
	return ids
}

// heldStats returns the hub's held connections of kind and shared sessions.
func heldStats(h *reverse.Hub, kind string) (int, int) {
	st := h.Stats()
	return st.Held[kind], st.SharedSessions
}

func TestMuxDeliversEachSessionsMessagesOnceInOrder(t *testing.T) {
	const pages, perPage, perConnection = 12, 1000, 150
	for _, kind := range muxKinds {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			c := f.client(t)
			ids := openPages(c, pages)
			go func() {
				for i := 1; i <= perPage; i++ {
					for _, id := range ids {
						_ = f.hub.Session(id).Call("f", i)
					}
					if i%10 == 0 {
						// Let the pages read as the calls come, over many
						// connections, rather than all at once.
						time.Sleep(time.Millisecond)
					}
				}
			}()
			ran := map[string]uint64{}
			for _, id := range ids {
				ran[id] = 0
			}
			done := func() bool {
				for _, n := range ran {
					if n < perPage {
						return false
					}
				}
				return true
			}
			connections := 0
			for !done() {
				connections++
				require.Less(t, connections, 10*perPage, "no progress")
				l := openLink(t, c, kind, ran)
				for range perConnection {
					if done() {
						break
					}
					for _, it := range l.next() {
						require.Nil(t, it.Reset)
						for _, m := range it.Messages {
							if m.Seq <= ran[it.Session] {
								continue // sent again after a reconnect: not run twice
							}
							require.Equal(t, ran[it.Session]+1, m.Seq, "in order, none missing")
							require.Equal(t, []int{int(m.Seq)}, m.Args)
							ran[it.Session] = m.Seq
						}
					}
					l.ack(ran)
				}
				l.close()
			}
			if kind != reverse.LongPoll { // every poll is a reconnect
				assert.Greater(t, connections, 1, "resumed across reconnects")
			}
		})
	}
}

func TestMuxRefusesAForeignSessionBeforeHolding(t *testing.T) {
	for _, kind := range muxKinds {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			mine, other := f.client(t), f.client(t)
			ids := openPages(mine, 2)
			foreign := other.openSession("/x")
			acks := map[string]uint64{ids[0]: 0, ids[1]: 0, foreign: 0}
			switch kind {
			case reverse.LongPoll:
				status, raw := mine.postRawJSON("poll", map[string]any{"sessions": acks})
				assert.Equal(t, http.StatusForbidden, status)
				assert.Contains(t, string(raw), "permission_denied")
			case reverse.SSE:
				_, l := mine.openSSE(sessionsParam(acks))
				var e sseEvent
				for l.sc.Scan() {
					if line := l.sc.Text(); strings.HasPrefix(line, "data: ") {
						e.Data = line[6:]
						break
					}
				}
				assert.Equal(t, "permission_denied", dataCode(t, e.Data))
			default:
				_, status := mine.dialMux(sessionsParam(acks))
				assert.Equal(t, http.StatusForbidden, status)
			}
			st := f.hub.Stats()
			assert.Zero(t, st.SharedSessions, "nothing is held")
			assert.Zero(t, st.Held[kind])
			assert.Zero(t, f.hub.HeldBy(f.browserOf(t, mine)))
		})
	}
}

func TestMuxGoneSessionGetsItsResetAndTheOthersGoOn(t *testing.T) {
	for _, kind := range muxKinds {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			c := f.client(t)
			ids := openPages(c, 2)
			s, err := f.hub.Lookup(ids[1], f.browserOf(t, c))
			require.NoError(t, err)
			s.Close()
			gone := "Z29uZQ"
			l := openLink(t, c, kind, map[string]uint64{ids[0]: 0, ids[1]: 0, gone: 0})
			resets := map[string]string{}
			for len(resets) < 2 {
				for _, it := range l.next() {
					require.NotNil(t, it.Reset, "%+v", it)
					resets[it.Session] = it.Reset.Reason
				}
			}
			assert.Equal(t, map[string]string{ids[1]: reverse.ReasonClosed, gone: reverse.ReasonExpired}, resets)
			if kind == reverse.LongPoll {
				l = openLink(t, c, kind, map[string]uint64{ids[0]: 0})
			}
			require.NoError(t, f.hub.Session(ids[0]).Call("f", 1))
			got := l.next()
			require.Len(t, got, 1)
			assert.Equal(t, ids[0], got[0].Session)
			assert.Equal(t, []muxMessage{{Seq: 1, Fn: "f", Args: []int{1}}}, got[0].Messages)
		})
	}
}

func TestMuxClosingTheConnectionReleasesEveryMember(t *testing.T) {
	for _, kind := range []string{reverse.SSE, reverse.WebSocket} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			c := f.client(t)
			ids := openPages(c, 5)
			acks := map[string]uint64{}
			for _, id := range ids {
				acks[id] = 0
			}
			l := openLink(t, c, kind, acks)
			require.NoError(t, f.hub.Session(ids[4]).Call("f", 1))
			l.next() // every member is held by now
			held, shared := heldStats(f.hub, kind)
			assert.Equal(t, 1, held, "one connection")
			assert.Equal(t, 5, shared)
			assert.Equal(t, 1, f.hub.HeldBy(f.browserOf(t, c)))
			l.close()
			require.Eventually(t, func() bool {
				held, shared := heldStats(f.hub, kind)
				return held == 0 && shared == 0
			}, 10*time.Second, 5*time.Millisecond, "detects a hang")
		})
	}
}

func TestMuxSessionTakenAwayLeavesTheOthersHeld(t *testing.T) {
	for _, kind := range []string{reverse.SSE, reverse.WebSocket} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			c := f.client(t)
			ids := openPages(c, 3)
			l := openLink(t, c, kind, map[string]uint64{ids[0]: 0, ids[1]: 0, ids[2]: 0})
			require.NoError(t, f.hub.Session(ids[0]).Call("f", 1))
			l.next()
			l.ack(map[string]uint64{ids[0]: 1})
			// The tab of ids[2] holds its own connection now.
			status, _, own := c.openStream(ids[2], "", 1, nil)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, "open", own[0].Name)
			require.NoError(t, f.hub.Session(ids[1]).Call("f", 2))
			got := l.next()
			assert.Equal(t, ids[1], got[0].Session)
			_, shared := heldStats(f.hub, kind)
			assert.Equal(t, 2, shared, "the others stay on the shared connection")
		})
	}
}

// TestMuxNewerSharedConnectionEndsTheOlder: a shared connection that
// takes a session from another ends the other for all its sessions. The
// newer one may be a request the leading tab gave up, read after the one
// it uses now: the page makes its connection again, naming every session,
// and every session is held, and delivered to, once more.
func TestMuxNewerSharedConnectionEndsTheOlder(t *testing.T) {
	for _, kind := range []string{reverse.SSE, reverse.WebSocket} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			c := f.client(t)
			ids := openPages(c, 3)
			all := map[string]uint64{ids[0]: 0, ids[1]: 0, ids[2]: 0}
			used := openLink(t, c, kind, all)
			require.NoError(t, f.hub.Session(ids[0]).Call("f", 1))
			used.next() // every member is held by now
			stale := openLink(t, c, kind, map[string]uint64{ids[0]: 0})
			switch l := used.(type) {
			case *sseLink:
				hang := time.AfterFunc(10*time.Second, func() { l.res.Body.Close() })
				for l.sc.Scan() {
				}
				require.True(t, hang.Stop(), "detects a hang")
				require.NoError(t, l.sc.Err(), "the stream ends, and cleanly")
			case *socketLink:
				require.NoError(t, l.s.conn.SetReadDeadline(time.Now().Add(10*time.Second)), "detects a hang")
				assert.Equal(t, ws.StatusNormalClosure, l.s.closeCode())
			}
			stale.close()
			require.Eventually(t, func() bool { _, n := heldStats(f.hub, kind); return n == 0 }, 10*time.Second, 5*time.Millisecond,
				"no session is held once the given-up connection closes")

			again := openLink(t, c, kind, all)
			for i, id := range ids {
				require.NoError(t, f.hub.Session(id).Call("f", 2+i))
			}
			seen := map[string]bool{}
			for len(seen) < len(ids) {
				for _, it := range again.next() {
					seen[it.Session] = true
				}
			}
			_, shared := heldStats(f.hub, kind)
			assert.Equal(t, 3, shared)
		})
	}
}

func TestMuxLongPollAnswersWhenASessionIsTakenAway(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ids := openPages(c, 2)
	var wg sync.WaitGroup
	var raw []byte
	wg.Go(func() {
		_, raw = c.postRawJSON("poll", map[string]any{"sessions": map[string]uint64{ids[0]: 0, ids[1]: 0}})
	})
	require.Eventually(t, func() bool { _, n := heldStats(f.hub, reverse.LongPoll); return n == 2 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, f.hub.Session(ids[0]).Call("f", 1))
	require.NoError(t, f.hub.Session(ids[1]).Call("f", 1)) // held back by the gathering
	_, taken := c.postRawJSON("poll", map[string]any{"session": ids[1], "wait": false})
	wg.Wait()
	assert.Contains(t, string(taken), `"seq":1`)
	assert.Contains(t, string(raw), ids[0])
}

func TestSessionReplyCountsASharedConnectionOnce(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ids := openPages(c, 4)
	acks := map[string]uint64{}
	for _, id := range ids[:3] {
		acks[id] = 0
	}
	l := openLink(t, c, reverse.SSE, acks)
	require.NoError(t, f.hub.Session(ids[0]).Call("f", 1))
	l.next()
	go c.openStream(ids[3], "", 100, nil) // a page that holds its own
	require.Eventually(t, func() bool { return f.hub.HeldBy(f.browserOf(t, c)) == 2 }, 10*time.Second, 5*time.Millisecond)
	status, out := c.post("session", map[string]any{"page": "/more"})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, float64(2), out["held"])
	other := f.client(t)
	_, out = other.post("session", map[string]any{"page": "/more"})
	assert.Equal(t, float64(0), out["held"], "another browser holds none")
}

func TestMuxRefusesHostileInput(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ids := openPages(c, 2)
	many := map[string]uint64{}
	var manyParam []string
	for i := range reverse.MaxMuxSessions + 1 {
		many[fmt.Sprintf("s%d", i)] = 0
		manyParam = append(manyParam, fmt.Sprintf("s%d.0", i))
	}
	posts := []struct {
		name string
		body string
		code string
	}{
		{"not an object", `{"sessions":[1]}`, "invalid_argument"},
		{"ack not a number", `{"sessions":{"` + ids[0] + `":"x"}}`, "invalid_argument"},
		{"negative ack", `{"sessions":{"` + ids[0] + `":-1}}`, "invalid_argument"},
		{"duplicate id", `{"sessions":{"` + ids[0] + `":0,"` + ids[0] + `":0}}`, "invalid_argument"},
		{"empty", `{"sessions":{}}`, "invalid_argument"},
		{"empty id", `{"sessions":{"":0}}`, "invalid_argument"},
		{"both forms", `{"session":"` + ids[0] + `","sessions":{"` + ids[1] + `":0}}`, "invalid_argument"},
		{"ack beyond sent", `{"sessions":{"` + ids[0] + `":0,"` + ids[1] + `":5}}`, "invalid_argument"},
		{"101 sessions", string(must(json.Marshal(map[string]any{"sessions": many}))), "invalid_argument"},
	}
	for _, path := range []string{"poll", "ack"} {
		for _, tc := range posts {
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				r := c.postRaw(path, []byte(tc.body))
				assert.Equal(t, http.StatusBadRequest, r.status)
				require.NotNil(t, r.err)
				assert.Equal(t, Code(tc.code), r.err.Code)
			})
		}
	}
	params := []struct{ name, param string }{
		{"no ack", ids[0]},
		{"bad ack", ids[0] + ".x"},
		{"duplicate id", ids[0] + ".0," + ids[0] + ".0"},
		{"empty item", ids[0] + ".0,"},
		{"ack beyond sent", ids[0] + ".7"},
		{"101 sessions", strings.Join(manyParam, ",")},
	}
	for _, tc := range params {
		t.Run("ws/"+tc.name, func(t *testing.T) {
			_, status := c.dialMux(tc.param)
			assert.Equal(t, http.StatusBadRequest, status)
		})
		t.Run("sse/"+tc.name, func(t *testing.T) {
			_, l := c.openSSE(tc.param)
			data := ""
			for l.sc.Scan() {
				if line := l.sc.Text(); strings.HasPrefix(line, "data: ") {
					data = line[6:]
					break
				}
			}
			assert.Equal(t, "invalid_argument", dataCode(t, data))
		})
	}
	st := f.hub.Stats()
	assert.Zero(t, st.SharedSessions)
	assert.Empty(t, st.Held)
}

func TestMuxSocketFrames(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ids := openPages(c, 2)
	foreign := f.client(t).openSession("/x")
	s, status := c.dialMux("")
	require.Equal(t, http.StatusSwitchingProtocols, status)
	assert.Equal(t, true, s.next()["open"])

	s.send(map[string]any{"join": foreign, "ack": 0})
	v := s.next()
	assert.Equal(t, foreign, v["session"])
	assert.Equal(t, "permission_denied", v["error"].(map[string]any)["code"])

	s.send(map[string]any{"join": "Z29uZQ", "ack": 0})
	v = s.next()
	assert.Equal(t, map[string]any{"reason": "expired"}, v["reset"])

	require.NoError(t, f.hub.Session(ids[0]).Call("f", 1))
	s.send(map[string]any{"join": ids[0], "ack": 0})
	v = s.next()
	assert.Equal(t, ids[0], v["session"])
	assert.Len(t, v["messages"], 1)

	s.send(map[string]any{"re": 1, "session": ids[1], "calls": []any{call(1, "whoami")}})
	v = s.next()
	assert.Equal(t, "failed_precondition", v["error"].(map[string]any)["code"], "not joined")

	s.send(map[string]any{"re": 2, "session": ids[0], "calls": []any{call(1, "whoami")}})
	v = s.next()
	assert.Equal(t, float64(2), v["re"])
	assert.Equal(t, ids[0], results(v)[0]["result"].(map[string]any)["script"], "runs as the named session's call")

	for _, bad := range []any{
		map[string]any{"bogus": 1},
		map[string]any{"join": ids[1], "re": 3},
		map[string]any{"session": ids[0]},
		map[string]any{"session": ids[0], "calls": []any{}},
	} {
		s.send(bad)
		v = s.next()
		assert.Equal(t, "invalid_argument", v["error"].(map[string]any)["code"], "%v", bad)
	}

	s.send(map[string]any{"leave": ids[0]})
	require.Eventually(t, func() bool { _, n := heldStats(f.hub, reverse.WebSocket); return n == 0 }, 10*time.Second, 5*time.Millisecond)
	_, err := f.hub.Lookup(ids[0], f.browserOf(t, c))
	assert.NoError(t, err, "a session that leaves stays alive")
}

// browserOf returns the browser id c's cookie carries.
func (f *fixture) browserOf(t *testing.T, c *client) string {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, c.url+"/parley/", nil)
	r.Header.Set("Cookie", c.browserCookie(t))
	id, ok := f.srv.readBrowserID(r)
	require.True(t, ok)
	return id
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestBacklogsComeInBoundedReplies checks, through the server, that a
// large backlog leaves in replies of at most 128 KiB of messages that say
// "more" but the last: per session on a multiplexed long-poll, and on the
// replies to calls.
func TestBacklogsComeInBoundedReplies(t *testing.T) {
	t.Parallel()
	const count, size = 30, 10 << 10
	perReply := (128 << 10) / size
	f := newFixture(t)
	c := f.client(t)
	ids := openPages(c, 2)
	for _, id := range ids {
		for range count {
			require.NoError(t, f.hub.Session(id).Call("f", strings.Repeat("x", size)))
		}
	}
	type delivery struct {
		Messages []struct{ Seq uint64 } `json:"messages"`
		More     bool                   `json:"more"`
	}
	// check runs one reply's delivery for a page that ran up to *ran.
	check := func(d delivery, ran *uint64) {
		require.NotEmpty(t, d.Messages)
		require.LessOrEqual(t, len(d.Messages), perReply)
		for _, m := range d.Messages {
			require.Equal(t, *ran+1, m.Seq, "every message once, in order")
			*ran = m.Seq
		}
		require.Equal(t, *ran < count, d.More, "more says whether messages were left, after %d", *ran)
	}

	acks := map[string]uint64{ids[0]: 0, ids[1]: 0}
	polls := 0
	for acks[ids[0]] < count || acks[ids[1]] < count {
		polls++
		require.Less(t, polls, 50, "no progress")
		status, raw := c.postRawJSON("poll", map[string]any{"sessions": acks})
		require.Equal(t, http.StatusOK, status, "%s", raw)
		var reply struct {
			Sessions map[string]delivery `json:"sessions"`
		}
		require.NoError(t, json.Unmarshal(raw, &reply))
		require.NotEmpty(t, reply.Sessions)
		for id, d := range reply.Sessions {
			ran := acks[id]
			check(d, &ran)
			acks[id] = ran
		}
	}
	assert.GreaterOrEqual(t, polls, count/perReply+1, "the backlogs came in several polls")

	// Call replies: a third page's backlog rides on its calls.
	id := c.openSession("/calls")
	for range count {
		require.NoError(t, f.hub.Session(id).Call("f", strings.Repeat("x", size)))
	}
	var ran uint64
	for calls := 1; ran < count; calls++ {
		require.Less(t, calls, 50, "no progress")
		status, raw := c.postRawJSON("call", map[string]any{"session": id, "ack": ran, "calls": []any{call(1, "add", 1, 1)}})
		require.Equal(t, http.StatusOK, status, "%s", raw)
		var d delivery
		require.NoError(t, json.Unmarshal(raw, &d))
		check(d, &ran)
	}
}
