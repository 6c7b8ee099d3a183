package client

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parley-go/parley/rpc"
)

// ackEvery is how often a streaming client acknowledges what it ran, so
// that the server can drop it from the outbox.
const ackEvery = 250 * time.Millisecond

// stream receives reverse calls over one SSE connection until it ends.
func (c *Client) stream(ctx context.Context, from string, ack uint64) error {
	h := http.Header{"Last-Event-Id": {strconv.FormatUint(ack, 10)}, "Accept": {"text/event-stream"}}
	res, err := c.do(ctx, http.MethodGet, "sse?session="+url.QueryEscape(from), nil, h)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		data, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		if err := decodeReply(res, data, &struct{}{}); err != nil {
			return err
		}
		return errNoStream
	}

	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var event, data string
	for sc.Scan() {
		line := sc.Text()
		c.countBytes(len(line) + 1)
		switch {
		case line == "":
			if data != "" {
				if done := c.event(from, event, data); done {
					return nil
				}
			}
			event, data = "", ""
			c.scheduleAck(ctx, from)
		case strings.HasPrefix(line, ":"): // a comment: heartbeat or padding
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimPrefix(line[len("data:"):], " ")
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return rpc.Errorf(rpc.CodeUnavailable, "event stream: %v", err)
	}
	return nil // the server closed the stream; the next step reconnects
}

// event handles one SSE event; it reports whether the stream is over.
func (c *Client) event(from, event, data string) bool {
	switch event {
	case "", "message":
		var m Message
		if json.Unmarshal([]byte(data), &m) == nil {
			c.deliver(from, delivery{Messages: []Message{m}})
		}
	case "open":
		var d delivery
		if json.Unmarshal([]byte(data), &d) == nil && d.Advice != nil {
			c.deliver(from, d)
			return d.Advice.Transport == "poll"
		}
	case "reset":
		var d delivery
		if json.Unmarshal([]byte(`{"reset":`+data+`}`), &d) == nil {
			c.deliver(from, d)
		}
		return true
	}
	return false
}

// scheduleAck acknowledges, within ackEvery, what the page has run, unless
// an acknowledgement is already on its way.
func (c *Client) scheduleAck(ctx context.Context, from string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.acking || c.lastSeq <= c.acked {
		return
	}
	c.acking = true
	time.AfterFunc(ackEvery, func() {
		c.mu.Lock()
		seq := c.lastSeq
		c.acking = false
		c.acked = seq
		c.mu.Unlock()
		if ctx.Err() == nil {
			c.sendAck(ctx, from, seq)
		}
	})
}

// sendAck tells the server what the page has run. A lost ack is harmless:
// a later one, or the next connection's Last-Event-ID, covers it.
func (c *Client) sendAck(ctx context.Context, from string, seq uint64) {
	var out struct{}
	_ = c.post(ctx, "ack", map[string]any{"session": from, "ack": seq}, &out)
}
