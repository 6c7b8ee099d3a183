package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parley-go/parley/rpc/client"
)

// errPollRefused is wrapped by the error of a long-poll page whose poll
// the server refused with a client error, which retrying would not mend.
var errPollRefused = errors.New("the server refused the long-poll")

// lpPage is one simulated page on the long-poll transport, as a browser
// tab runs it: it opens a script session with POST session, then polls
// on one kept-alive HTTP/1.1 connection of its own, each poll carrying
// the ack of every message run, and reconnects when the connection
// fails. It writes its requests and reads its replies on the connection
// itself rather than through http.Client, so that a loader spends on a
// delivery about what a browser does: one request written, one reply
// read and decoded.
type lpPage struct {
	pageBase
	// requests, if set, counts the polls sent.
	requests *atomic.Uint64
}

// newLPPage returns a page of the server at base (an http or https Parley
// prefix URL) that opens its sessions with hc.
func newLPPage(base string, hc *http.Client, page string, handle func(client.Message)) (*lpPage, error) {
	p := new(lpPage)
	return p, p.init(base, hc, page, handle)
}

// run polls until ctx ends, calling ready once the page's first poll is
// sent. It returns nil when ctx ends, and the error at once when the
// server refuses a poll.
func (p *lpPage) run(ctx context.Context, ready func()) error {
	return stepUntil(ctx, func() (time.Duration, error) { return p.step(ctx, ready) }, errPollRefused, p.reconnected)
}

// step makes sure the page has a session, then connects and polls on the
// connection until it ends. It returns how long to wait before the next
// step when the server asked for a wait.
func (p *lpPage) step(ctx context.Context, ready func()) (time.Duration, error) {
	if _, _, err := p.ensureSession(ctx, modeLongPoll); err != nil {
		return 0, err
	}
	conn, done, err := p.connectUntil(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	br := bufio.NewReader(conn)
	head := "POST " + p.base.JoinPath("poll").RequestURI() + " HTTP/1.1\r\nHost: " + p.base.Host +
		"\r\nContent-Type: application/json\r\nX-Parley: 1\r\n"
	if c := cookieHeader(p.http, p.base); c != "" {
		head += "Cookie: " + c + "\r\n"
	}
	for {
		p.mu.Lock()
		session, ack := p.session, p.lastSeq
		p.mu.Unlock()
		if session == "" {
			return 0, nil // reset: the next step opens a new session
		}
		body := `{"session":` + strconv.Quote(session) + `,"ack":` + strconv.FormatUint(ack, 10) + `}`
		if _, err := io.WriteString(conn, head+"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body); err != nil {
			return 0, err
		}
		if p.requests != nil {
			p.requests.Add(1)
		}
		if ready != nil {
			ready()
			ready = nil
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return 0, err
		}
		data, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return 0, err
		}
		if res.StatusCode >= 400 && res.StatusCode < 500 {
			return 0, fmt.Errorf("%w: HTTP %d: %s", errPollRefused, res.StatusCode, strings.TrimSpace(string(data)))
		}
		if res.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("long-poll: HTTP %d", res.StatusCode)
		}
		wait, done, err := p.reply(data)
		if done || err != nil || res.Close {
			return wait, err
		}
	}
}

// reply runs the messages of one poll's reply not run before, in order;
// done reports that the connection is to end.
func (p *lpPage) reply(data []byte) (wait time.Duration, done bool, err error) {
	var d wsFrame
	if err := json.Unmarshal(data, &d); err != nil {
		return 0, true, fmt.Errorf("long-poll: a reply that is not JSON: %w", err)
	}
	if d.Error != nil {
		return 0, true, fmt.Errorf("long-poll: the server sent %s: %s", d.Error.Code, d.Error.Message)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Bytes += uint64(len(data))
	for _, m := range d.Messages {
		if m.Seq <= p.lastSeq {
			p.stats.Duplicates++
			continue
		}
		p.lastSeq = m.Seq
		p.stats.Messages++
		if p.handle != nil {
			p.handle(m)
		}
	}
	if d.Reset != nil {
		p.session, p.lastSeq = "", 0
		p.stats.Gaps++
		return 0, true, nil
	}
	if d.Shutdown != nil {
		w := time.Duration(d.Shutdown.Reconnect) * time.Millisecond
		return w/2 + rand.N(w/2+1), true, nil
	}
	return 0, false, nil
}
