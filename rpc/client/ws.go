package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/parley-go/parley/rpc"
)

// The WebSocket transport's rules (PROTOCOL.md, "WebSocket"): the server's
// open frame must come within wsOpenTimeout of the upgrade, and the page
// acknowledges by the rule of SSE (see ackDelay) with an ack frame,
// counting the bytes of the delivery frames that carried the messages.
const (
	wsOpenTimeout = 5 * time.Second
	// wsWriteTimeout bounds one frame's write to the socket.
	wsWriteTimeout = 10 * time.Second
	// wsDialTimeout bounds the connection and the upgrade when the HTTP
	// client sets no Timeout.
	wsDialTimeout = 30 * time.Second
)

// socket is one WebSocket connection of the client. Frames are written
// whole, one write each, under mu, so that pongs, acks and the close frame
// never interleave.
type socket struct {
	mu     sync.Mutex
	conn   net.Conn
	closed bool

	timer *time.Timer // the pending ack frame; guarded by the Client's mu
}

// Write writes b, one whole frame, to the socket.
func (s *socket) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, net.ErrClosed
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	return s.conn.Write(b)
}

// send writes one masked frame with payload p.
func (s *socket) send(op ws.OpCode, p []byte) error {
	var buf bytes.Buffer
	if err := wsutil.WriteClientMessage(&buf, op, p); err != nil {
		return err
	}
	_, err := s.Write(buf.Bytes())
	return err
}

// isClosed reports whether close was called.
func (s *socket) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// close closes the connection; later writes fail.
func (s *socket) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		_ = s.conn.Close()
	}
}

// socketFrame is any frame the server sends on the WebSocket transport.
type socketFrame struct {
	Open bool `json:"open"`
	delivery
	Shutdown *struct {
		Reconnect int64 `json:"reconnect"`
	} `json:"shutdown"`
	Error *rpc.Error `json:"error"`
}

// socket receives reverse calls over one WebSocket until it ends. It
// returns how long to wait before the next step when the server asked
// for a wait (its shutdown notice).
func (c *Client) socket(ctx context.Context, from string, ack uint64) (time.Duration, error) {
	conn, br, err := c.dialSocket(ctx, from, ack)
	if err != nil {
		return 0, err
	}
	s := &socket{conn: conn}
	c.mu.Lock()
	if c.session == from && ack > c.acked {
		c.acked, c.unackedBytes = ack, 0
	}
	c.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { c.leave(s, from) })
	defer func() {
		stop()
		c.mu.Lock()
		if s.timer != nil {
			s.timer.Stop()
			s.timer = nil
		}
		c.mu.Unlock()
		s.close()
		if br != nil {
			ws.PutReader(br)
		}
	}()
	var rd io.Reader = conn
	if br != nil {
		rd = io.MultiReader(br, conn)
	}
	rw := struct {
		io.Reader
		io.Writer
	}{rd, s}

	_ = conn.SetReadDeadline(time.Now().Add(wsOpenTimeout))
	opened := false
	for {
		data, op, err := wsutil.ReadServerData(rw)
		if ctx.Err() != nil {
			return 0, nil
		}
		if err != nil {
			var closed wsutil.ClosedError
			if opened && errors.As(err, &closed) && (closed.Code == ws.StatusNormalClosure || closed.Code == ws.StatusGoingAway) {
				return 0, nil // released by the server; the next step reconnects
			}
			return 0, rpc.Errorf(rpc.CodeUnavailable, "websocket: %v", err)
		}
		c.countBytes(len(data))
		if op != ws.OpText {
			return 0, rpc.Errorf(rpc.CodeUnavailable, "websocket: a %v frame from the server", op)
		}
		var f socketFrame
		if err := json.Unmarshal(data, &f); err != nil {
			return 0, rpc.Errorf(rpc.CodeUnavailable, "websocket: a frame that is not Parley JSON: %v", err)
		}
		if f.Error != nil {
			return 0, f.Error
		}
		if f.Open && !opened {
			opened = true
			_ = conn.SetReadDeadline(time.Time{})
		}
		c.deliver(from, f.delivery)
		switch {
		case f.Reset != nil:
			return 0, nil // the session is gone; the next step opens a new one
		case f.Shutdown != nil:
			d := time.Duration(max(f.Shutdown.Reconnect, 0)) * time.Millisecond
			return d/2 + rand.N(d/2+1), nil
		case len(f.Messages) > 0:
			c.scheduleSocketAck(s, from, len(data))
		}
	}
}

// scheduleSocketAck acknowledges what the page has run by the WebSocket
// rule, after a delivery frame of n bytes.
func (c *Client) scheduleSocketAck(s *socket, from string, n int) {
	c.mu.Lock()
	if c.session != from || c.lastSeq <= c.acked {
		c.mu.Unlock()
		return
	}
	c.unackedBytes += n
	now := c.lastSeq-c.acked >= ackMessages || c.unackedBytes >= ackBytes
	if !now && s.timer == nil {
		s.timer = time.AfterFunc(ackDelay, func() { c.sendSocketAck(s, from) })
	}
	c.mu.Unlock()
	if now {
		c.sendSocketAck(s, from)
	}
}

// sendSocketAck sends an ack frame for every message run, unless none is
// waiting for one or the socket is closed. A lost ack frame is harmless:
// the next socket's ack covers it.
func (c *Client) sendSocketAck(s *socket, from string) {
	c.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if c.session != from || c.lastSeq <= c.acked || s.isClosed() {
		c.mu.Unlock()
		return
	}
	seq := c.ackedLocked()
	c.mu.Unlock()
	_ = s.send(ws.OpText, []byte(`{"ack":`+strconv.FormatUint(seq, 10)+`}`))
}

// leave ends the socket when the client stops: its pending ack, then a
// close frame with code 1000.
func (c *Client) leave(s *socket, from string) {
	c.sendSocketAck(s, from)
	_ = s.send(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	s.close()
}

// dialSocket opens the WebSocket of session from, for a page that has run
// every message up to ack, with the client's cookies and the server's
// origin, as a browser sends them. It returns the reader of whatever the
// server sent along with its handshake reply, if anything.
func (c *Client) dialSocket(ctx context.Context, from string, ack uint64) (net.Conn, *bufio.Reader, error) {
	u := c.base.JoinPath("ws")
	u.RawQuery = url.Values{"session": {from}, "ack": {strconv.FormatUint(ack, 10)}}.Encode()
	h := http.Header{"Origin": {c.base.Scheme + "://" + c.base.Host}}
	if jar := c.http.Jar; jar != nil {
		var cs []string
		for _, ck := range jar.Cookies(u) {
			cs = append(cs, ck.String())
		}
		if len(cs) > 0 {
			h.Set("Cookie", strings.Join(cs, "; "))
		}
	}
	var set []*http.Cookie
	var refusal error
	d := ws.Dialer{
		Timeout: wsDialTimeout,
		Header:  ws.HandshakeHeaderHTTP(h),
		OnHeader: func(key, value []byte) error {
			if strings.EqualFold(string(key), "Set-Cookie") {
				if ck, err := http.ParseSetCookie(string(value)); err == nil {
					set = append(set, ck)
				}
			}
			return nil
		},
		OnStatusError: func(status int, _ []byte, resp io.Reader) {
			res, err := http.ReadResponse(bufio.NewReader(resp), nil)
			if err != nil {
				return
			}
			defer res.Body.Close()
			data, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
			if err == nil {
				refusal = decodeReply(res, data, &struct{}{})
			}
		},
	}
	if c.http.Timeout > 0 {
		d.Timeout = c.http.Timeout
	}
	if tr, ok := c.http.Transport.(*http.Transport); ok {
		d.NetDial = tr.DialContext
		if tr.TLSClientConfig != nil {
			d.TLSConfig = tr.TLSClientConfig.Clone()
		}
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	conn, br, _, err := d.Dial(ctx, u.String())
	if err != nil {
		var status ws.StatusError
		switch {
		case ctx.Err() != nil:
			return nil, nil, rpc.NewError(rpc.CodeCanceled, "request canceled")
		case refusal != nil:
			return nil, nil, refusal
		case errors.As(err, &status):
			return nil, nil, rpc.Errorf(rpc.CodeUnavailable, "websocket upgrade refused: HTTP %d", int(status))
		}
		return nil, nil, rpc.Errorf(rpc.CodeUnavailable, "network error: %v", err)
	}
	if jar := c.http.Jar; jar != nil && len(set) > 0 {
		jar.SetCookies(c.base, set)
	}
	return conn, br, nil
}
