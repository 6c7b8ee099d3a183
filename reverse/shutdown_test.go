package reverse

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shutdownServer serves h's long-poll (/lp) and SSE (/sse) transports for
// the browser "h", over HTTP/2 with TLS when http2 is set, and over plain
// HTTP/1.1 otherwise.
func shutdownServer(t *testing.T, h *Hub, http2 bool) *httptest.Server {
	t.Helper()
	session := func(r *http.Request) *Session {
		s, err := h.Lookup(r.URL.Query().Get("session"), "h")
		require.NoError(t, err)
		return s
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/lp", func(w http.ResponseWriter, r *http.Request) {
		h.ServeLongPoll(w, r, session(r), 0)
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		h.ServeSSE(w, r, session(r), 0)
	})
	ts := httptest.NewUnstartedServer(mux)
	if http2 {
		ts.EnableHTTP2 = true
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(func() { closeBoth(h, ts) })
	return ts
}

// shutdownReply is a long-poll reply as a page reads it.
type shutdownReply struct {
	Messages []struct {
		Seq uint64
		Fn  string
	}
	Reset    *Reset
	Shutdown *Shutdown
}

// TestShutdownReleasesHeldPages holds pages on each transport, over
// HTTP/1.1 (where the hub takes the connections over) and HTTP/2 (where
// they are running handlers), queues messages for them, and shuts down:
// every page gets its messages, then the notice to reconnect, then the
// end of its reply, and the server's Shutdown finishes.
func TestShutdownReleasesHeldPages(t *testing.T) {
	t.Parallel()
	const pages = 3
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		for _, kind := range []string{LongPoll, SSE} {
			t.Run(proto+"/"+kind, func(t *testing.T) {
				t.Parallel()
				// A long-poll gathers for an hour after a first message, so
				// the messages are still in the outbox when Shutdown comes.
				h := newTestHub(t, WithTransports(Transports{MaxWaitAfterWrite: time.Hour}), WithReconnectDelay(1500*time.Millisecond))
				ts := shutdownServer(t, h, proto == "HTTP/2.0")
				client := ts.Client()

				var ended []string
				h.OnSessionEnd(func(_ *Session, reason string) { ended = append(ended, reason) })

				var replies []<-chan []string
				for range pages {
					s := open(t, h, "/", "h")
					replies = append(replies, receive(t, client, ts.URL, kind, s, proto))
				}
				require.NoError(t, h.Page("/").Call("first"))
				require.NoError(t, h.Page("/").Call("second"))

				// The deadline only detects a hang.
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				require.NoError(t, h.Shutdown(ctx, ts.Config))

				for i, got := range replies {
					select {
					case seen := <-got:
						assert.Equal(t, []string{"first", "second", `shutdown {"reconnect":1500}`}, seen, "page %d", i)
					case <-time.After(10 * time.Second):
						t.Fatalf("page %d was not released", i)
					}
				}
				assert.Equal(t, []string{ReasonShutdown, ReasonShutdown, ReasonShutdown}, ended)
				assert.Zero(t, h.Len())
			})
		}
	}
}

// receive holds a connection for s over kind (on a goroutine of its own)
// and returns once the server holds it. When the reply ends, the channel
// gets what the page received, in order: the names of the functions
// called, then "shutdown" or "reset" with the notice.
func receive(t *testing.T, client *http.Client, url, kind string, s *Session, proto string) <-chan []string {
	t.Helper()
	got := make(chan []string, 1)
	go func() {
		defer close(got)
		path := map[string]string{LongPoll: "/lp", SSE: "/sse"}[kind]
		res, err := client.Get(url + path + "?session=" + s.ID())
		if !assert.NoError(t, err) {
			return
		}
		defer res.Body.Close()
		assert.Equal(t, proto, res.Proto)
		var seen []string
		if kind == LongPoll {
			var d shutdownReply
			if !assert.NoError(t, json.NewDecoder(res.Body).Decode(&d)) {
				return
			}
			for _, m := range d.Messages {
				seen = append(seen, m.Fn)
			}
			if d.Shutdown != nil {
				seen = append(seen, "shutdown "+jsonOf(t, d.Shutdown))
			}
			if d.Reset != nil {
				seen = append(seen, "reset "+jsonOf(t, d.Reset))
			}
			got <- seen
			return
		}
		for e := range readEvents(t, res.Body) {
			switch e.name {
			case "":
				var m struct{ Fn string }
				if assert.NoError(t, json.Unmarshal([]byte(e.data), &m)) {
					seen = append(seen, m.Fn)
				}
			case "shutdown", "reset":
				seen = append(seen, e.name+" "+e.data)
			}
		}
		got <- seen
	}()
	require.Eventually(t, func() bool { return heldNow(s) }, 5*time.Second, time.Millisecond)
	return got
}

// jsonOf encodes v as JSON.
func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
