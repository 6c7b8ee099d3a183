package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-go/parley/rpc/client"
)

// sseEvents writes the events of a stream, flushing each.
func sseEvents(w http.ResponseWriter, events ...string) {
	for _, e := range events {
		fmt.Fprint(w, e+"\n\n")
	}
	w.(http.Flusher).Flush()
}

// quoteEvent is the event of message seq.
func quoteEvent(seq int) string {
	return fmt.Sprintf(`id: %d`+"\n"+`data: {"seq":%d,"fn":"quote","args":[{"run":"r","seq":%d}]}`, seq, seq, seq)
}

// TestSSEPageResumesAndAcks runs a page against a server of the SSE wire
// spec that ends its first stream, resends a message, and resets the
// session on the second: the page runs every message once and in order,
// resumes with Last-Event-ID and its cookie, counts the gap, opens a new
// session, and acknowledges what it ran with POST ack.
func TestSSEPageResumesAndAcks(t *testing.T) {
	var mu sync.Mutex
	var lastIDs, acks []string
	opened, streams := 0, 0
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	mux := http.NewServeMux()
	mux.HandleFunc("POST /parley/session", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		opened++
		n := opened
		mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "browser", Value: "b1", Path: "/"})
		fmt.Fprintf(w, `{"session":"S%d"}`, n)
	})
	mux.HandleFunc("POST /parley/ack", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Session string
			Ack     uint64
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Header.Get("X-Parley") == "" {
			http.Error(w, "bad ack", http.StatusBadRequest)
			return
		}
		mu.Lock()
		acks = append(acks, fmt.Sprintf("%s:%d", body.Session, body.Ack))
		mu.Unlock()
		fmt.Fprint(w, `{}`)
	})
	mux.HandleFunc("GET /parley/sse", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("browser"); err != nil || c.Value != "b1" {
			http.Error(w, "no cookie", http.StatusForbidden)
			return
		}
		mu.Lock()
		streams++
		n := streams
		lastIDs = append(lastIDs, r.URL.Query().Get("session")+"@"+r.Header.Get("Last-Event-ID"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		switch n {
		case 1:
			sseEvents(w, `event: open`+"\n"+`data: {}`, quoteEvent(1), ": heartbeat", quoteEvent(2), quoteEvent(3), quoteEvent(2))
			time.Sleep(300 * time.Millisecond) // the page acknowledges 3 before the stream ends
		case 2:
			sseEvents(w, `event: open`+"\n"+`data: {}`, quoteEvent(4), `event: reset`+"\n"+`data: {"reason":"expired"}`)
		default:
			sseEvents(w, `event: open`+"\n"+`data: {}`, quoteEvent(1))
			select {
			case <-hold:
			case <-r.Context().Done():
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	var got []uint64
	jar, _ := cookiejar.New(nil)
	p, err := newSSEPage(srv.URL+"/parley/", &http.Client{Jar: jar}, tickerPage, func(m client.Message) {
		mu.Lock()
		got = append(got, m.Seq)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	p.ackDelay = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	readies := 0
	go func() { done <- p.run(ctx, func() { readies++ }) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		ok := len(got) == 5 && slices.Contains(acks, "S2:1")
		mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("ran %v, acks %v", got, acks)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []uint64{1, 2, 3, 4, 1}; !slices.Equal(got, want) {
		t.Errorf("ran %v, want %v", got, want)
	}
	if want := []string{"S1@0", "S1@3", "S2@0"}; !slices.Equal(lastIDs, want) {
		t.Errorf("streams asked for %v, want %v", lastIDs, want)
	}
	if !slices.Contains(acks, "S1:3") {
		t.Errorf("acks %v: no ack of 3 on the first session", acks)
	}
	if st := p.Stats(); st.Duplicates != 1 || st.Gaps != 1 || st.Messages != 5 {
		t.Errorf("stats %+v: want 1 duplicate, 1 gap, 5 messages", st)
	}
	if readies != 1 {
		t.Errorf("ready called %d times, want once", readies)
	}
}
