package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-go/parley/rpc/client"
)

// errStreamRefused is wrapped by the error of an SSE page whose stream the
// server refused with a client error, which retrying would not mend.
var errStreamRefused = errors.New("the server refused the event stream")

// ssePage is one simulated page on the SSE transport over HTTP/1.1, as a
// browser tab runs it: it opens a script session with POST session, then
// reads the event stream on a connection of its own, resuming after the
// last event it ran (Last-Event-ID); it acknowledges by the page's rule
// with POST ack, which goes on the connections it shares with the
// loader's other pages, and opens the stream again when it ends or fails.
// It reads the stream on the connection itself rather than through
// http.Client, so that a loader spends on a delivery about what a browser
// does: one event read and decoded, with no goroutine of its own per
// connection.
type ssePage struct {
	streamPage
}

// newSSEPage returns a page of the server at base (an http or https
// Parley prefix URL) that opens its sessions, and acknowledges, with hc.
func newSSEPage(base string, hc *http.Client, page string, handle func(client.Message)) (*ssePage, error) {
	p := new(ssePage)
	p.initStream(p.postAck)
	return p, p.init(base, hc, page, handle)
}

// run reads the stream until ctx ends, calling ready once the server
// has opened it the first time. It returns nil when ctx ends, and the
// error at once when the server refuses the stream.
func (p *ssePage) run(ctx context.Context, ready func()) error {
	var once sync.Once
	opened := func() {
		if ready != nil {
			once.Do(ready)
		}
	}
	return stepUntil(ctx, func() (time.Duration, error) { return p.step(ctx, opened) }, errStreamRefused, p.reconnected)
}

// step makes sure the page has a session, then connects and reads one
// stream until it ends. It returns how long to wait before the next step
// when the server asked for a wait.
func (p *ssePage) step(ctx context.Context, ready func()) (time.Duration, error) {
	session, last, err := p.ensureSession(ctx, modeSSE)
	if err != nil {
		return 0, err
	}
	conn, done, err := p.connectUntil(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	req := "GET " + p.base.JoinPath("sse").RequestURI() + "?session=" + url.QueryEscape(session) + " HTTP/1.1\r\nHost: " + p.base.Host +
		"\r\nAccept: text/event-stream\r\nLast-Event-ID: " + strconv.FormatUint(last, 10) + "\r\n"
	if c := cookieHeader(p.http, p.base); c != "" {
		req += "Cookie: " + c + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		return 0, err
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		data, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
		if res.StatusCode >= 400 && res.StatusCode < 500 {
			return 0, fmt.Errorf("%w: HTTP %d: %s", errStreamRefused, res.StatusCode, bytes.TrimSpace(data))
		}
		return 0, fmt.Errorf("sse: HTTP %d, not an event stream", res.StatusCode)
	}
	br := bufio.NewReader(res.Body)
	var event string
	var data []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, nil // the server ended the stream: open it again
			}
			return 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if len(data) > 0 {
				if wait, done, err := p.event(event, data, ready); done || err != nil {
					return wait, err
				}
			}
			event, data = "", data[:0]
		case bytes.HasPrefix(line, []byte("event:")):
			event = string(bytes.TrimSpace(line[len("event:"):]))
		case bytes.HasPrefix(line, []byte("data:")):
			data = append(data, bytes.TrimPrefix(line[len("data:"):], []byte(" "))...)
		}
	}
}

// event handles one event of the stream; done reports that the stream is
// over.
func (p *ssePage) event(event string, data []byte, ready func()) (wait time.Duration, done bool, err error) {
	p.mu.Lock()
	p.stats.Bytes += uint64(len(data))
	p.mu.Unlock()
	switch event {
	case "", "message":
		var m client.Message
		if err := json.Unmarshal(data, &m); err != nil {
			return 0, true, fmt.Errorf("sse: a message that is not JSON: %w", err)
		}
		p.deliver([]client.Message{m}, len(data))
	case "open":
		ready()
	case "reset":
		p.reset()
		return 0, true, nil
	case "shutdown":
		var s struct {
			Reconnect int64 `json:"reconnect"`
		}
		_ = json.Unmarshal(data, &s)
		d := time.Duration(s.Reconnect) * time.Millisecond
		return d/2 + rand.N(d/2+1), true, nil
	case "error":
		return 0, true, fmt.Errorf("sse: the server sent %s", data)
	}
	return 0, false, nil
}

// postAck tells the server, with POST ack, that the page of session has
// run every message up to seq. A lost ack is harmless: a later one, or
// the next stream's Last-Event-ID, covers it.
func (p *ssePage) postAck(session string, seq uint64) error {
	body := `{"session":` + strconv.Quote(session) + `,"ack":` + strconv.FormatUint(seq, 10) + `}`
	req, err := http.NewRequest(http.MethodPost, p.base.JoinPath("ack").String(), strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Parley", "1")
	res, err := p.http.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return res.Body.Close()
}
