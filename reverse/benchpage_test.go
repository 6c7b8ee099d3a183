package reverse

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// benchServer serves the held transports of h for benchmarks, with the
// server's IdleTimeout set to idleTimeout.
func benchServer(b *testing.B, h *Hub, idleTimeout time.Duration) string {
	mux := http.NewServeMux()
	lookup := func(w http.ResponseWriter, r *http.Request) (*Session, uint64) {
		s, err := h.Lookup(r.URL.Query().Get("session"), "h")
		if err != nil {
			http.Error(w, err.Error(), http.StatusGone) // the benchmark is over
			return nil, 0
		}
		ack, _ := strconv.ParseUint(r.URL.Query().Get("ack"), 10, 64)
		return s, ack
	}
	mux.HandleFunc("/lp", func(w http.ResponseWriter, r *http.Request) {
		if s, ack := lookup(w, r); s != nil {
			h.ServeLongPoll(w, r, s, ack)
		}
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		if s, _ := lookup(w, r); s != nil {
			h.ServeSSE(w, r, s, 0)
		}
	})
	ts := httptest.NewUnstartedServer(mux)
	ts.Config.IdleTimeout = idleTimeout
	ts.Start()
	b.Cleanup(func() { closeBoth(h, ts) })
	return ts.URL
}

// benchPage holds path for s until the hub closes, sending to got for
// every message it receives. A long-poll page acks every reply with its
// next poll; an SSE page reads its one stream.
func benchPage(b *testing.B, url, path string, s *Session, got chan<- struct{}) {
	c := &http.Client{Transport: &http.Transport{}}
	var ack uint64
	for {
		res, err := c.Get(url + path + "?session=" + s.ID() + "&ack=" + strconv.FormatUint(ack, 10))
		if err != nil {
			return
		}
		if path == "/sse" {
			sc := bufio.NewScanner(res.Body)
			for sc.Scan() {
				if bytes.HasPrefix(sc.Bytes(), []byte("id: ")) {
					got <- struct{}{}
				}
			}
			res.Body.Close()
			return
		}
		var d struct{ Messages []struct{ Seq uint64 } }
		err = json.NewDecoder(res.Body).Decode(&d)
		res.Body.Close()
		if err != nil {
			return
		}
		for _, m := range d.Messages {
			ack = m.Seq
			got <- struct{}{}
		}
		if len(d.Messages) == 0 && s.hub.drain.on.Load() {
			return
		}
	}
}
