package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/parley-go/parley/rpc/client"
)

// wsServer is a tiny server of the WebSocket transport's wire spec: POST
// session hands out sessions S1, S2, … with a cookie, and GET ws upgrades
// a socket of a known session, with the page's cookie and origin, and runs
// script on it.
type wsServer struct {
	t      *testing.T
	url    string
	opened atomic.Int64
	script func(conn net.Conn, session, ack string)
	// refuse, if set, answers GET ws with 404 and this error body.
	refuse string
}

func newWSServer(t *testing.T, script func(conn net.Conn, session, ack string)) *wsServer {
	t.Helper()
	s := &wsServer{t: t, script: script}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /parley/session", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Parley") == "" {
			http.Error(w, "no X-Parley", http.StatusForbidden)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "browser", Value: "b1", Path: "/"})
		fmt.Fprintf(w, `{"session":"S%d"}`, s.opened.Add(1))
	})
	mux.HandleFunc("GET /parley/ws", func(w http.ResponseWriter, r *http.Request) {
		if s.refuse != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, s.refuse)
			return
		}
		if c, err := r.Cookie("browser"); err != nil || c.Value != "b1" {
			http.Error(w, "no cookie", http.StatusForbidden)
			return
		}
		if r.Header.Get("Origin") != "http://"+r.Host {
			http.Error(w, "bad origin "+r.Header.Get("Origin"), http.StatusForbidden)
			return
		}
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		s.script(conn, r.URL.Query().Get("session"), r.URL.Query().Get("ack"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/parley/"
	return s
}

// send writes one text frame from the server.
func send(conn net.Conn, v string) error { return wsutil.WriteServerText(conn, []byte(v)) }

// readClientFrame reads one frame from the page, unmasked, control frames
// included.
func readClientFrame(conn net.Conn) (ws.Frame, error) {
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return ws.Frame{}, err
	}
	f, err := ws.ReadFrame(conn)
	if err != nil {
		return f, err
	}
	if f.Header.Masked {
		ws.Cipher(f.Payload, f.Header.Mask, 0)
	}
	return f, nil
}

// messagesFrame returns a delivery frame of quotes from seq first to last.
func messagesFrame(first, last int) string {
	var ms []string
	for i := first; i <= last; i++ {
		ms = append(ms, fmt.Sprintf(`{"seq":%d,"fn":"quote","args":[{"run":"r","seq":%d}]}`, i, i))
	}
	return `{"messages":[` + strings.Join(ms, ",") + `]}`
}

// runWSPage runs a page against s until the test ends or stop is called,
// recording the seq of every message it handles.
func runWSPage(t *testing.T, s *wsServer, abrupt bool) (p *wsPage, seqs func() []uint64, stop func() error) {
	t.Helper()
	var mu sync.Mutex
	var got []uint64
	jar, _ := cookiejar.New(nil)
	p, err := newWSPage(s.url, &http.Client{Jar: jar}, tickerPage, func(m client.Message) {
		mu.Lock()
		got = append(got, m.Seq)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	p.ackDelay = time.Hour // only the count rule and leaving send acks
	p.abrupt = abrupt
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.run(ctx, nil) }()
	t.Cleanup(cancel)
	return p, func() []uint64 {
			mu.Lock()
			defer mu.Unlock()
			return append([]uint64(nil), got...)
		}, func() error {
			cancel()
			return <-done
		}
}

// TestWSPageDeliversAndAcks checks the page's frame handling: it runs
// every message once and in order, skipping resent ones; it answers pings;
// it acknowledges at once when 100 messages ran unacknowledged, and
// otherwise only when it leaves, with its pending ack before a close frame
// with code 1000.
func TestWSPageDeliversAndAcks(t *testing.T) {
	t.Parallel()
	fromPage := make(chan ws.Frame, 16)
	s := newWSServer(t, func(conn net.Conn, session, ack string) {
		if session != "S1" || ack != "0" {
			t.Errorf("socket of session %q with ack %q, want S1 and 0", session, ack)
			return
		}
		for _, f := range []string{`{"open":true}`, messagesFrame(1, 3), messagesFrame(2, 4)} {
			if err := send(conn, f); err != nil {
				t.Error(err)
				return
			}
		}
		if err := ws.WriteFrame(conn, ws.NewPingFrame([]byte("hb"))); err != nil {
			t.Error(err)
			return
		}
		if err := send(conn, messagesFrame(5, 104)); err != nil {
			t.Error(err)
			return
		}
		if err := send(conn, messagesFrame(105, 107)); err != nil {
			t.Error(err)
			return
		}
		for {
			f, err := readClientFrame(conn)
			if err != nil {
				close(fromPage)
				return
			}
			fromPage <- f
		}
	})
	_, seqs, stop := runWSPage(t, s, false)

	next := func(what string) ws.Frame {
		t.Helper()
		select {
		case f, ok := <-fromPage:
			if !ok {
				t.Fatalf("the socket ended before %s", what)
			}
			return f
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s from the page", what)
		}
		return ws.Frame{}
	}
	if f := next("pong"); f.Header.OpCode != ws.OpPong || string(f.Payload) != "hb" {
		t.Fatalf("got %v %q, want the pong of ping \"hb\"", f.Header.OpCode, f.Payload)
	}
	if f := next("ack of 100 messages"); f.Header.OpCode != ws.OpText || string(f.Payload) != `{"ack":104}` {
		t.Fatalf("got %v %q, want the ack frame {\"ack\":104}", f.Header.OpCode, f.Payload)
	}
	for len(seqs()) < 107 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if f := next("pending ack"); string(f.Payload) != `{"ack":107}` {
		t.Fatalf("got %v %q, want the pending ack {\"ack\":107}", f.Header.OpCode, f.Payload)
	}
	f := next("close frame")
	if code, _ := ws.ParseCloseFrameData(f.Payload); f.Header.OpCode != ws.OpClose || code != ws.StatusNormalClosure {
		t.Fatalf("got %v with code %d, want a close frame with code 1000", f.Header.OpCode, code)
	}
	got := seqs()
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("message %d handled has seq %d: %v", i, seq, got)
		}
	}
}

// TestWSPageReconnects checks that the page reopens a session after a
// reset frame, and resumes its session with its ack after the socket
// fails.
func TestWSPageReconnects(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sockets []string
	resumed := make(chan struct{})
	s := newWSServer(t, func(conn net.Conn, session, ack string) {
		mu.Lock()
		sockets = append(sockets, session+"@"+ack)
		n := len(sockets)
		mu.Unlock()
		_ = send(conn, `{"open":true}`)
		switch n {
		case 1:
			_ = send(conn, `{"reset":{"reason":"overflow"}}`)
			_ = ws.WriteFrame(conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
		case 2:
			_ = send(conn, messagesFrame(1, 2)) // then the socket breaks
		default:
			close(resumed)
			_, _ = readClientFrame(conn)
		}
	})
	p, _, stop := runWSPage(t, s, false)
	select {
	case <-resumed:
	case <-time.After(20 * time.Second):
		t.Fatal("the page did not reconnect")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"S1@0", "S2@0", "S2@2"}
	if fmt.Sprint(sockets[:3]) != fmt.Sprint(want) {
		t.Fatalf("sockets %v, want %v", sockets, want)
	}
	if st := p.Stats(); st.Gaps != 1 || st.Messages != 2 || st.Reconnects != 1 {
		t.Fatalf("stats %+v, want 1 gap, 2 messages, 1 reconnect", st)
	}
}

// TestWSPageAbrupt checks that a page that vanishes closes its TCP
// connection without an ack or a close frame.
func TestWSPageAbrupt(t *testing.T) {
	t.Parallel()
	ended := make(chan error, 1)
	s := newWSServer(t, func(conn net.Conn, session, ack string) {
		_ = send(conn, `{"open":true}`)
		_ = send(conn, messagesFrame(1, 3))
		f, err := readClientFrame(conn)
		if err == nil {
			err = fmt.Errorf("the page sent a %v frame %q", f.Header.OpCode, f.Payload)
		}
		ended <- err
	})
	_, seqs, stop := runWSPage(t, s, true)
	for len(seqs()) < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("the socket ended with %v, want the connection closed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the socket did not end")
	}
}

// TestWSPageRefusedUpgrade checks that a server that refuses the upgrade
// stops the page with a clear error carrying its status and reply.
func TestWSPageRefusedUpgrade(t *testing.T) {
	t.Parallel()
	s := newWSServer(t, nil)
	s.refuse = `{"error":{"code":"not_found","message":"no such path"}}`
	jar, _ := cookiejar.New(nil)
	p, err := newWSPage(s.url, &http.Client{Jar: jar}, tickerPage, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = p.run(ctx, nil)
	if !errors.Is(err, errUpgradeRefused) || !strings.Contains(err.Error(), "HTTP 404") || !strings.Contains(err.Error(), "no such path") {
		t.Fatalf("run returned %v, want the refused upgrade with its status and reply", err)
	}
}
