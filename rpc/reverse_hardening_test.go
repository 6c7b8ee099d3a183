package rpc

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	Retry, Name, Data string
}

// openStream sends GET sse for session with lastEventID ("" for none) and
// the given extra headers, and returns the reply's status, content type
// and the events of the stream, read until it ends or has n events.
func (c *client) openStream(session, lastEventID string, n int, header http.Header) (int, string, []sseEvent) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.url+"/parley/sse?session="+session, nil)
	require.NoError(c.t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	var events []sseEvent
	var e sseEvent
	sc := bufio.NewScanner(res.Body)
	for len(events) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			events = append(events, e)
			e = sseEvent{}
		case strings.HasPrefix(line, "retry: "):
			e.Retry = line[7:]
		case strings.HasPrefix(line, "event: "):
			e.Name = line[7:]
		case strings.HasPrefix(line, "data: "):
			e.Data = line[6:]
		}
	}
	return res.StatusCode, res.Header.Get("Content-Type"), events
}

// dataCode returns the error code in an error event's data.
func dataCode(t *testing.T, data string) string {
	t.Helper()
	var e Error
	require.NoError(t, json.Unmarshal([]byte(data), &e))
	return string(e.Code)
}

func TestAcksBeyondWhatWasSentAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(t)
	for _, tc := range []struct {
		name string
		send func(sid string) (int, map[string]any)
	}{
		{"ack", func(sid string) (int, map[string]any) { return c.post("ack", map[string]any{"session": sid, "ack": 1}) }},
		{"poll", func(sid string) (int, map[string]any) {
			return c.post("poll", map[string]any{"session": sid, "ack": 1, "wait": false})
		}},
		{"long-poll", func(sid string) (int, map[string]any) {
			return c.post("poll", map[string]any{"session": sid, "ack": 1})
		}},
		{"call", func(sid string) (int, map[string]any) {
			return c.post("call", map[string]any{"session": sid, "ack": 1, "calls": []any{call(1, "add", 1, 1)}})
		}},
		{"sse", func(sid string) (int, map[string]any) {
			status, ct, events := c.openStream(sid, "1", 1, nil)
			assert.Equal(t, http.StatusOK, status, "a plain EventSource must read it")
			assert.True(t, strings.HasPrefix(ct, "text/event-stream"))
			require.Len(t, events, 1)
			assert.Equal(t, "error", events[0].Name)
			var e Error
			require.NoError(t, json.Unmarshal([]byte(events[0].Data), &e))
			return e.Code.HTTPStatus(), map[string]any{"error": map[string]any{"code": string(e.Code)}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sid := c.openSession("/ack-" + tc.name)
			require.NoError(t, f.hub.Session(sid).Call("queued")) // in the outbox, never sent
			status, out := tc.send(sid)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "invalid_argument", errCode(out))

			// The message is still there, and once sent it may be acked.
			_, poll := c.post("poll", map[string]any{"session": sid, "wait": false})
			require.Len(t, poll["messages"], 1)
			status, out = c.post("ack", map[string]any{"session": sid, "ack": 1})
			assert.Equal(t, http.StatusOK, status, "%v", out)
		})
	}
}

// closeSession ends sid the way a page that goes away does.
func closeSession(t *testing.T, c *client, sid string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.url+"/parley/bye", strings.NewReader(`{"session":"`+sid+`"}`))
	require.NoError(t, err)
	res, err := c.http.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusNoContent, res.StatusCode)
}

func TestResetsCarryTheTrueReason(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(t)
	ends := map[string]func(t *testing.T, sid string){
		"closed": func(t *testing.T, sid string) { closeSession(t, c, sid) },
		"overflow": func(t *testing.T, sid string) {
			for range 1001 { // past the default outbox limit
				require.NoError(t, f.hub.Session(sid).Call("f"))
			}
		},
	}
	transports := map[string]func(t *testing.T, sid string) any{
		"session": func(t *testing.T, sid string) any {
			_, out := c.post("session", map[string]any{"session": sid, "page": "/"})
			assert.NotEqual(t, sid, out["session"], "a fresh session")
			return out["reset"]
		},
		"long-poll": func(t *testing.T, sid string) any {
			_, out := c.post("poll", map[string]any{"session": sid})
			return out["reset"]
		},
		"poll": func(t *testing.T, sid string) any {
			_, out := c.post("poll", map[string]any{"session": sid, "wait": false})
			return out["reset"]
		},
		"ack": func(t *testing.T, sid string) any {
			_, out := c.post("ack", map[string]any{"session": sid})
			return out["reset"]
		},
		"call": func(t *testing.T, sid string) any {
			return c.call(sid, 0, call(1, "add", 1, 1))["reset"]
		},
		"sse": func(t *testing.T, sid string) any {
			status, ct, events := c.openStream(sid, "", 2, nil)
			assert.Equal(t, http.StatusOK, status)
			assert.True(t, strings.HasPrefix(ct, "text/event-stream"))
			require.Len(t, events, 1, "one event, then the end")
			assert.Equal(t, "reset", events[0].Name)
			assert.Equal(t, "1000", events[0].Retry)
			var reset map[string]any
			require.NoError(t, json.Unmarshal([]byte(events[0].Data), &reset))
			return reset
		},
	}
	for reason, end := range ends {
		for name, reply := range transports {
			t.Run(reason+"/"+name, func(t *testing.T) {
				sid := c.openSession("/reason")
				end(t, sid)
				assert.Equal(t, map[string]any{"reason": reason}, reply(t, sid))
			})
		}
	}
	t.Run("another browser", func(t *testing.T) {
		sid := c.openSession("/reason")
		closeSession(t, c, sid)
		other := f.client(t)
		_, out := other.post("session", map[string]any{"session": sid, "page": "/"})
		assert.Equal(t, map[string]any{"reason": "expired"}, out["reset"], "the reason is the owner's to know")
	})
}

func TestSSEFailuresAreEventStreams(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice, mallory := f.client(t), f.client(t)
	sid := alice.openSession("/")
	mallory.openSession("/")
	for _, tc := range []struct {
		name    string
		c       *client
		session string
		last    string
		header  http.Header
		code    string
	}{
		{"no session", alice, "", "", nil, "invalid_argument"},
		{"bad Last-Event-ID", alice, sid, "x", nil, "invalid_argument"},
		{"Last-Event-ID ahead", alice, sid, "7", nil, "invalid_argument"},
		{"foreign session", mallory, sid, "", nil, "permission_denied"},
		{"foreign origin", alice, sid, "", http.Header{"Origin": {"https://evil.example"}}, "permission_denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, ct, events := tc.c.openStream(tc.session, tc.last, 2, tc.header)
			assert.Equal(t, http.StatusOK, status)
			assert.True(t, strings.HasPrefix(ct, "text/event-stream"), ct)
			require.Len(t, events, 1, "one event, then the end")
			assert.Equal(t, "error", events[0].Name)
			assert.Equal(t, "5000", events[0].Retry)
			assert.Equal(t, tc.code, dataCode(t, events[0].Data))
		})
	}
}
