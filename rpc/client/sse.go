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

// The acknowledgement rule of PROTOCOL.md ("When a page acknowledges"): a
// streaming client acknowledges what it ran ackDelay after the first
// message it has not acknowledged, or at once when ackMessages of them, or
// ackBytes of their event data, are unacknowledged.
const (
	ackDelay    = 5 * time.Second
	ackMessages = 100
	ackBytes    = 64 << 10
)

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
			c.scheduleAck(ctx, from, len(data))
			event, data = "", ""
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

// scheduleAck acknowledges what the page has run by the rule above, after
// an event with n bytes of data.
func (c *Client) scheduleAck(ctx context.Context, from string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastSeq <= c.acked {
		return
	}
	c.unackedBytes += n
	if c.lastSeq-c.acked >= ackMessages || c.unackedBytes >= ackBytes {
		seq := c.ackedLocked()
		go c.sendAck(ctx, from, seq)
		return
	}
	if c.acking {
		return
	}
	c.acking = true
	time.AfterFunc(ackDelay, func() {
		c.mu.Lock()
		c.acking = false
		if c.lastSeq <= c.acked {
			c.mu.Unlock()
			return
		}
		seq := c.ackedLocked()
		c.mu.Unlock()
		if ctx.Err() == nil {
			c.sendAck(ctx, from, seq)
		}
	})
}

// ackedLocked records that everything run so far is being acknowledged
// and returns its highest sequence number. Called with c.mu held.
func (c *Client) ackedLocked() uint64 {
	c.acked, c.unackedBytes = c.lastSeq, 0
	return c.acked
}

// sendAck tells the server what the page has run. A lost ack is harmless:
// a later one, or the next connection's Last-Event-ID, covers it.
func (c *Client) sendAck(ctx context.Context, from string, seq uint64) {
	var out struct{}
	_ = c.post(ctx, "ack", map[string]any{"session": from, "ack": seq}, &out)
}
