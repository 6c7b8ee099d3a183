package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse"
)

// heldCount is the number of connections the hub holds for pages now,
// over every transport.
func heldCount(hub *reverse.Hub) int {
	n := 0
	for _, k := range hub.Stats().Held {
		n += k
	}
	return n
}

// h2Fixture is a Parley server over TLS with HTTP/2, and a client
// transport that sends every request on one HTTP/2 connection.
type h2Fixture struct {
	hub   *reverse.Hub
	ts    *httptest.Server
	tr    *http.Transport
	conns atomic.Int32 // connections the server accepted

	mu  sync.Mutex
	raw []net.Conn // the client's TCP connections
}

func newH2Fixture(t *testing.T) *h2Fixture {
	t.Helper()
	f := &h2Fixture{hub: reverse.NewHub()}
	srv := NewServer(WithHub(f.hub))
	srv.Register(testService())
	mux := http.NewServeMux()
	mux.Handle("/parley/", srv)
	f.ts = httptest.NewUnstartedServer(mux)
	f.ts.EnableHTTP2 = true
	f.ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			f.conns.Add(1)
		}
	}
	f.ts.StartTLS()
	trusted := f.ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	var d net.Dialer
	f.tr = &http.Transport{
		TLSClientConfig:   trusted,
		ForceAttemptHTTP2: true,
		// Wait for a free stream rather than open a second connection,
		// as browsers do.
		HTTP2: &http.HTTP2Config{StrictMaxConcurrentRequests: true},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				f.mu.Lock()
				f.raw = append(f.raw, c)
				f.mu.Unlock()
			}
			return c, err
		},
	}
	t.Cleanup(func() {
		f.cut()
		f.tr.CloseIdleConnections()
		f.ts.Close()
		f.hub.Close()
	})
	return f
}

// client returns a browser stand-in, with a cookie jar of its own, whose
// requests share the fixture's one connection.
func (f *h2Fixture) client(t *testing.T) *client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &client{t: t, url: f.ts.URL, http: &http.Client{Jar: jar, Transport: f.tr}}
}

// cut closes the client's connections under TLS, as a client that
// goes away does.
func (f *h2Fixture) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.raw {
		c.Close()
	}
}

// heldPage is one page's held request and what it received on it.
type heldPage struct {
	sid   string
	c     *client
	sse   bool
	seqs  chan uint64 // the sequence number of every message received
	proto int         // the HTTP major version of the held replies
	err   error       // why holding ended
}

// longPoll sends a long-poll acknowledging ack and returns the sequence
// numbers of the messages in its reply.
func (p *heldPage) longPoll(ctx context.Context, ack uint64) ([]uint64, error) {
	body := fmt.Sprintf(`{"session":%q,"ack":%d}`, p.sid, ack)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.c.url+"/parley/poll", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Parley", "1")
	res, err := p.c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	p.proto = res.ProtoMajor
	var d struct {
		Messages []struct {
			Seq uint64 `json:"seq"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(res.Body).Decode(&d); err != nil {
		return nil, err
	}
	seqs := make([]uint64, len(d.Messages))
	for i, m := range d.Messages {
		seqs[i] = m.Seq
	}
	return seqs, nil
}

// hold holds the page's connection, SSE or long-poll, until ctx ends or
// the connection fails, sending the sequence number of every message it
// receives to p.seqs. A long-poll polls again, acknowledging what it got.
func (p *heldPage) hold(ctx context.Context) {
	defer close(p.seqs)
	if !p.sse {
		var ack uint64
		for {
			seqs, err := p.longPoll(ctx, ack)
			if err != nil {
				p.err = err
				return
			}
			for _, seq := range seqs {
				p.seqs <- seq
				ack = seq
			}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.c.url+"/parley/sse?session="+p.sid, nil)
	if err != nil {
		p.err = err
		return
	}
	res, err := p.c.http.Do(req)
	if err != nil {
		p.err = err
		return
	}
	defer res.Body.Close()
	p.proto = res.ProtoMajor
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: "))
		if !ok {
			continue
		}
		var m struct {
			Seq uint64 `json:"seq"`
		}
		if json.Unmarshal(data, &m) == nil && m.Seq > 0 {
			p.seqs <- m.Seq
		}
	}
	p.err = sc.Err()
}

// TestHeldStreamsShareOneHTTP2Connection holds 200 pages, half on SSE and
// half on long-poll, as streams of one HTTP/2 connection over TLS: each
// page gets its message exactly once, and when the client's connection
// goes, every held stream is released.
func TestHeldStreamsShareOneHTTP2Connection(t *testing.T) {
	const pages = 200
	f := newH2Fixture(t)

	list := make([]*heldPage, pages)
	for i := range list {
		c := f.client(t)
		list[i] = &heldPage{sid: c.openSession(fmt.Sprintf("/page/%d", i)), c: c, sse: i%2 == 0, seqs: make(chan uint64, 16)}
	}
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var wg sync.WaitGroup
	for _, p := range list {
		wg.Go(func() { p.hold(ctx) })
	}
	require.Eventually(t, func() bool { return heldCount(f.hub) == pages }, 20*time.Second, 10*time.Millisecond,
		"held: %v", f.hub.Stats().Held)
	t.Logf("%d held HTTP/2 streams: %d goroutines more than before (client and server in one process)",
		pages, runtime.NumGoroutine()-before)

	for i, p := range list {
		require.NoError(t, f.hub.Session(p.sid).Call("f", i))
	}
	for i, p := range list {
		select {
		case seq := <-p.seqs:
			assert.EqualValues(t, 1, seq, "page %d", i)
		case <-time.After(20 * time.Second):
			t.Fatalf("page %d (sse %v) got nothing", i, p.sse)
		}
	}
	// The long-polls are held again, having acknowledged their message.
	require.Eventually(t, func() bool { return heldCount(f.hub) == pages }, 20*time.Second, 10*time.Millisecond,
		"held: %v", f.hub.Stats().Held)

	f.cut()
	require.Eventually(t, func() bool { return heldCount(f.hub) == 0 }, 20*time.Second, 10*time.Millisecond,
		"still held after the connection closed: %v", f.hub.Stats().Held)
	wg.Wait()
	for i, p := range list {
		var more []uint64
		for seq := range p.seqs {
			more = append(more, seq)
		}
		assert.Empty(t, more, "page %d (sse %v) got its message again", i, p.sse)
		assert.Equal(t, 2, p.proto, "page %d was held over HTTP/%d", i, p.proto)
		assert.Error(t, p.err, "page %d: holding ends with the connection", i)
	}
	assert.EqualValues(t, 1, f.conns.Load(), "every page shares one connection")
}
