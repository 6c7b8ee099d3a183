// Package client is a Go client of Parley servers: it calls services as a
// page's runtime does, and opens a script session to receive reverse calls
// over any transport, with the same exactly-once, in-order guarantee.
//
// It serves tests, load generators and Go programs that stand in for pages.
//
// Concurrency: Call may be used from any number of goroutines; Run is
// called once per Client and runs the handler on its own goroutine, one
// message at a time.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-go/parley/rpc"
)

// Message is one reverse call the server sent to the page.
type Message struct {
	// Seq is the message's sequence number in the session.
	Seq uint64 `json:"seq"`
	// Fn names the browser function called.
	Fn string `json:"fn"`
	// Args are the call's JSON-encoded arguments.
	Args []json.RawMessage `json:"args"`
}

// Stats counts what a client has received.
type Stats struct {
	// Messages is the number of messages handled (each once).
	Messages uint64
	// Duplicates is the number of messages received again and dropped.
	Duplicates uint64
	// Bytes is the number of reply body bytes received.
	Bytes uint64
	// Gaps is the number of resets: sessions lost and replaced.
	Gaps uint64
	// Reconnects is the number of failed requests retried.
	Reconnects uint64
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client. It must keep cookies (a Jar) for
// script sessions to work. Default: a client of its own with a cookie jar.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithPage sets the path of the page the session is opened for. Default "/".
func WithPage(path string) Option { return func(c *Client) { c.page = path } }

// WithTransport sets how reverse calls are received: "longpoll" (default),
// "sse", "websocket", "poll" or "passive". Calls go by POST call on every
// transport.
func WithTransport(name string) Option { return func(c *Client) { c.transport = name } }

// WithPollInterval sets the interval of the "poll" transport: the page
// polls at it, or at the server's advised interval if that is longer.
// Default: the server's advice, 5s until it gives one.
func WithPollInterval(d time.Duration) Option {
	return func(c *Client) { c.interval, c.ownInterval = d, d }
}

// WithRetry sets the backoff after a failed request: the first wait and the
// longest, each with random jitter. Default 250ms doubling up to 10s.
func WithRetry(first, longest time.Duration) Option {
	return func(c *Client) { c.retryFirst, c.retryMax = first, longest }
}

// Client speaks the Parley protocol to one server, as one page.
type Client struct {
	base        *url.URL
	http        *http.Client
	page        string
	transport   string // the transport asked for
	retryFirst  time.Duration
	retryMax    time.Duration
	ownInterval time.Duration // asked with WithPollInterval

	nextID atomic.Int64

	mu       sync.Mutex
	current  string        // the transport in use: transport, or "poll" when advised
	interval time.Duration // between polls
	session  string
	lastSeq  uint64 // the highest sequence number handled
	acked    uint64 // the highest sequence number acknowledged over SSE or WebSocket
	acking   bool   // an acknowledgement is scheduled
	// unackedBytes counts the event data (SSE), or the delivery frames
	// (WebSocket), of the messages run since the last acknowledgement.
	unackedBytes int
	handle       func(Message)
	onGap        func(reason string)
	stats        Stats
}

// New returns a client of the server whose prefix URL is base, such as
// "http://127.0.0.1:8080/parley/".
func New(base string, opts ...Option) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if u.Path == "" || u.Path[len(u.Path)-1] != '/' {
		u.Path += "/"
	}
	c := &Client{base: u, page: "/", transport: "longpoll", interval: 5 * time.Second,
		retryFirst: 250 * time.Millisecond, retryMax: 10 * time.Second}
	for _, o := range opts {
		o(c)
	}
	c.current = c.transport
	if c.http == nil {
		jar, _ := cookiejar.New(nil)
		c.http = &http.Client{Jar: jar}
	}
	switch c.transport {
	case "longpoll", "sse", "websocket", "poll", "passive":
	default:
		return nil, fmt.Errorf("client: unknown transport %q", c.transport)
	}
	return c, nil
}

// OnGap sets a function called when the session is lost and replaced:
// reverse calls may have been missed, so the page's state should be reloaded.
func (c *Client) OnGap(f func(reason string)) {
	c.mu.Lock()
	c.onGap = f
	c.mu.Unlock()
}

// Session returns the current script session id, "" before Run opens one.
func (c *Client) Session() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// Stats returns what the client has received so far.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// delivery is the reverse part of any reply.
type delivery struct {
	Messages []Message `json:"messages"`
	Reset    *struct {
		Reason string `json:"reason"`
	} `json:"reset"`
	Advice *struct {
		Transport string `json:"transport"`
		Interval  int64  `json:"interval"`
	} `json:"advice"`
	More bool `json:"more"` // messages were left for the next request
}

// Call calls service.method with args and decodes its result into result,
// which may be nil. A Parley error is returned as *rpc.Error. The reply's
// reverse calls are handled, as a page handles piggybacked ones, once Run
// has started.
func (c *Client) Call(ctx context.Context, service, method string, result any, args ...any) error {
	if args == nil {
		args = []any{}
	}
	id := c.nextID.Add(1)
	c.mu.Lock()
	from, ack := c.session, c.lastSeq
	c.mu.Unlock()
	var reply struct {
		Results []struct {
			ID     int64           `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *rpc.Error      `json:"error"`
		} `json:"results"`
		delivery
	}
	body := map[string]any{"session": from, "ack": ack, "calls": []any{
		map[string]any{"id": id, "service": service, "method": method, "args": args},
	}}
	if c.transport == "passive" {
		body["pull"] = true // it receives on these replies alone
	}
	if err := c.post(ctx, "call", body, &reply); err != nil {
		return err
	}
	c.deliver(from, reply.delivery)
	for _, r := range reply.Results {
		if r.ID != id {
			continue
		}
		if r.Error != nil {
			return r.Error
		}
		if result == nil {
			return nil
		}
		return json.Unmarshal(r.Result, result)
	}
	return rpc.NewError(rpc.CodeInternal, "the reply has no result for the call")
}

// Run opens a script session and receives reverse calls until ctx ends,
// calling handle once per message, in order. Failed requests are retried
// with backoff; a lost session is replaced and reported to OnGap. It
// returns ctx's error.
func (c *Client) Run(ctx context.Context, handle func(Message)) error {
	c.mu.Lock()
	c.handle = handle
	c.mu.Unlock()
	failures := 0
	for ctx.Err() == nil {
		err := c.step(ctx)
		if err == nil {
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			break
		}
		failures++
		c.mu.Lock()
		c.stats.Reconnects++
		c.mu.Unlock()
		backoff := min(c.retryFirst<<min(failures-1, 16), c.retryMax)
		sleep(ctx, backoff/2+rand.N(backoff/2+1))
	}
	return ctx.Err()
}

// step makes sure there is a session and receives once over the transport.
func (c *Client) step(ctx context.Context) error {
	if c.Session() == "" {
		if err := c.open(ctx); err != nil {
			return err
		}
	}
	c.mu.Lock()
	from, ack, transport, interval := c.session, c.lastSeq, c.current, c.interval
	c.mu.Unlock()
	switch transport {
	case "passive":
		<-ctx.Done()
		return nil
	case "poll":
		var d delivery
		if err := c.post(ctx, "poll", map[string]any{"session": from, "ack": ack, "wait": false}, &d); err != nil {
			return err
		}
		c.deliver(from, d)
		if !d.More {
			sleep(ctx, interval)
		}
		return nil
	case "sse":
		return c.stream(ctx, from, ack)
	case "websocket":
		wait, err := c.socket(ctx, from, ack)
		if wait > 0 {
			sleep(ctx, wait)
		}
		return err
	default:
		var d delivery
		if err := c.post(ctx, "poll", map[string]any{"session": from, "ack": ack}, &d); err != nil {
			return err
		}
		c.deliver(from, d)
		return nil
	}
}

// open opens a fresh script session for the page.
func (c *Client) open(ctx context.Context) error {
	var reply struct {
		Session string `json:"session"`
	}
	if err := c.post(ctx, "session", map[string]any{"page": c.page, "transport": c.transport}, &reply); err != nil {
		return err
	}
	c.mu.Lock()
	c.session, c.lastSeq, c.acked = reply.Session, 0, 0
	c.mu.Unlock()
	return nil
}

// deliver handles the messages of a reply to a request made for session
// from, skipping those already handled. A reset drops the session; the
// next step opens a new one.
func (c *Client) deliver(from string, d delivery) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if from == "" || from != c.session {
		return
	}
	if a := d.Advice; a != nil {
		c.follow(a.Transport, a.Interval)
	}
	if d.Reset != nil {
		c.session, c.lastSeq = "", 0
		c.stats.Gaps++
		if c.onGap != nil {
			c.onGap(d.Reset.Reason)
		}
		return
	}
	for _, m := range d.Messages {
		if m.Seq <= c.lastSeq {
			c.stats.Duplicates++
			continue
		}
		if m.Seq != c.lastSeq+1 && c.onGap != nil {
			c.onGap(fmt.Sprintf("sequence: expected %d, got %d", c.lastSeq+1, m.Seq))
		}
		c.lastSeq = m.Seq
		c.stats.Messages++
		if c.handle != nil {
			c.handle(m)
		}
	}
}

// follow takes the server's advice: poll while loaded, at the interval
// given unless the page's own is longer; "comet" returns to the transport
// asked for. Called with c.mu held.
func (c *Client) follow(transport string, interval int64) {
	if interval > 0 {
		c.interval = max(time.Duration(interval)*time.Millisecond, c.ownInterval)
	}
	switch {
	case transport == "poll" && c.transport != "passive":
		c.current = "poll"
	case transport == "comet":
		c.current = c.transport
	}
}

// post sends a Parley request and decodes its JSON reply into out. A
// whole-request failure is returned as *rpc.Error.
func (c *Client) post(ctx context.Context, path string, body, out any) error {
	res, err := c.do(ctx, http.MethodPost, path, body, nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	c.countBytes(len(data))
	if err != nil {
		return rpc.Errorf(rpc.CodeUnavailable, "reading the reply: %v", err)
	}
	return decodeReply(res, data, out)
}

// do sends one request with Parley's headers.
func (c *Client) do(ctx context.Context, method, path string, body any, header http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	ref, err := url.Parse(path)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.ResolveReference(ref).String(), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Parley", "1")
	res, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, rpc.NewError(rpc.CodeCanceled, "request canceled")
		}
		return nil, rpc.Errorf(rpc.CodeUnavailable, "network error: %v", err)
	}
	return res, nil
}

func (c *Client) countBytes(n int) {
	c.mu.Lock()
	c.stats.Bytes += uint64(n)
	c.mu.Unlock()
}

// decodeReply decodes a Parley reply, turning error replies and replies
// that are not Parley JSON into *rpc.Error.
func decodeReply(res *http.Response, data []byte, out any) error {
	var e struct {
		Error *rpc.Error `json:"error"`
	}
	if json.Unmarshal(data, &e) != nil {
		return rpc.Errorf(rpc.CodeUnavailable, "not a Parley reply (HTTP %d)", res.StatusCode)
	}
	if e.Error != nil {
		return e.Error
	}
	if res.StatusCode != http.StatusOK {
		return rpc.Errorf(rpc.CodeUnavailable, "HTTP %d", res.StatusCode)
	}
	return json.Unmarshal(data, out)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// errNoStream is returned when an SSE reply is not an event stream.
var errNoStream = errors.New("client: the server did not open an event stream")
