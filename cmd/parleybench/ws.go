package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
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

	"github.com/parley-go/parley/rpc/client"
)

// modeWebSocket is the loader mode of pages on the WebSocket transport.
const modeWebSocket = "websocket"

// errUpgradeRefused is wrapped by the error of a page whose WebSocket
// upgrade the server refused with an HTTP status.
var errUpgradeRefused = errors.New("the server refused the WebSocket upgrade")

// wsFrame is any frame the server sends a page on the WebSocket transport,
// and any reply to a long-poll, which has the same members but "open".
type wsFrame struct {
	Open     bool             `json:"open"`
	Messages []client.Message `json:"messages"`
	Reset    *struct {
		Reason string `json:"reason"`
	} `json:"reset"`
	Shutdown *struct {
		Reconnect int64 `json:"reconnect"`
	} `json:"shutdown"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// wsPage is one simulated page on the WebSocket transport: it opens a
// script session with POST session, then receives delivery frames over
// one socket, acknowledging by the page's rule, and reconnects with its
// ack when the socket fails.
type wsPage struct {
	streamPage
	// abrupt makes the page, when its context ends, close the socket's TCP
	// connection without a close frame or a last ack.
	abrupt bool

	wmu  sync.Mutex // serialises writes to conn
	conn net.Conn
}

// pageBase is what a simulated page that speaks its transport itself
// (WebSocket, long-poll) keeps of its server and of what it received.
type pageBase struct {
	// base is the server's Parley prefix URL (http or https).
	base *url.URL
	// http opens sessions; its Jar keeps the page's cookies.
	http *http.Client
	// page is the page's path.
	page string
	// dial connects the page's own connection.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// tls, if set, is the configuration of its TLS connections.
	tls *tls.Config
	// handle is called for every new message, in order.
	handle func(client.Message)

	mu      sync.Mutex
	session string
	lastSeq uint64 // the highest seq run
	stats   client.Stats
}

// init makes p a page of the server at base (an http or https Parley
// prefix URL) that opens its sessions with hc.
func (p *pageBase) init(base string, hc *http.Client, page string, handle func(client.Message)) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	p.base, p.http, p.page, p.handle = u, hc, page, handle
	p.dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	return nil
}

// newWSPage returns a page of the server at base (an http or https Parley
// prefix URL) that opens its sessions with hc.
func newWSPage(base string, hc *http.Client, page string, handle func(client.Message)) (*wsPage, error) {
	p := new(wsPage)
	p.initStream(func(_ string, seq uint64) error {
		return p.write(ws.OpText, []byte(`{"ack":`+strconv.FormatUint(seq, 10)+`}`))
	})
	return p, p.init(base, hc, page, handle)
}

// Session returns the page's script session id, "" before one is open.
func (p *pageBase) Session() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.session
}

// Stats returns what the page has received.
func (p *pageBase) Stats() client.Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// reconnected counts a connection of the page that failed.
func (p *pageBase) reconnected() {
	p.mu.Lock()
	p.stats.Reconnects++
	p.mu.Unlock()
}

// run receives until ctx ends, calling ready once the first socket is
// open. It returns nil when ctx ends, and the error at once when the
// server refuses the upgrade, which retrying would not mend.
func (p *wsPage) run(ctx context.Context, ready func()) error {
	return stepUntil(ctx, func() (time.Duration, error) { return p.step(ctx, ready) }, errUpgradeRefused, p.reconnected)
}

// stepUntil runs step until ctx ends, waiting as long as a step asks
// before the next, or after a failed one a growing, jittered backoff,
// and calling failed for each failure. It returns nil when ctx ends, and
// at once an error that wraps refused, which retrying would not mend.
func stepUntil(ctx context.Context, step func() (time.Duration, error), refused error, failed func()) error {
	failures := 0
	for ctx.Err() == nil {
		wait, err := step()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, refused) {
			return err
		}
		if err != nil {
			failures++
			failed()
			backoff := min(250*time.Millisecond<<min(failures-1, 16), 10*time.Second)
			wait = backoff/2 + rand.N(backoff/2+1)
		} else {
			failures = 0
		}
		sleepCtx(ctx, wait)
	}
	return nil
}

// step makes sure the page has a session, then connects one socket and
// reads it until it ends. It returns how long to wait before the next
// step when the server asked for a wait.
func (p *wsPage) step(ctx context.Context, ready func()) (time.Duration, error) {
	session, ack, err := p.ensureSession(ctx, modeWebSocket)
	if err != nil {
		return 0, err
	}
	conn, br, err := p.connectSocket(ctx, session, ack)
	if err != nil {
		return 0, err
	}
	stop := context.AfterFunc(ctx, func() { p.leave(conn) })
	defer stop()
	defer conn.Close()
	var rd io.Reader = conn
	if br != nil {
		rd = io.MultiReader(br, conn)
		defer ws.PutReader(br)
	}
	rw := struct {
		io.Reader
		io.Writer
	}{rd, lockedWriter{p}}
	for {
		data, op, err := wsutil.ReadServerData(rw)
		if err != nil {
			var closed wsutil.ClosedError
			if errors.As(err, &closed) && (closed.Code == ws.StatusNormalClosure || closed.Code == ws.StatusGoingAway) {
				return 0, nil
			}
			return 0, err
		}
		if op != ws.OpText {
			return 0, fmt.Errorf("websocket: a %v frame from the server", op)
		}
		wait, done, err := p.frame(data, ready)
		if done || err != nil {
			return wait, err
		}
	}
}

// frame handles one frame; done reports that the socket is over.
func (p *wsPage) frame(data []byte, ready func()) (wait time.Duration, done bool, err error) {
	var f wsFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return 0, true, fmt.Errorf("websocket: a frame that is not JSON: %w", err)
	}
	p.mu.Lock()
	p.stats.Bytes += uint64(len(data))
	p.mu.Unlock()
	switch {
	case f.Open:
		if ready != nil {
			ready()
		}
	case f.Error != nil:
		return 0, true, fmt.Errorf("websocket: the server sent %s: %s", f.Error.Code, f.Error.Message)
	}
	if len(f.Messages) > 0 {
		p.deliver(f.Messages, len(data))
	}
	if f.Reset != nil {
		p.reset()
		return 0, true, nil
	}
	if f.Shutdown != nil {
		d := time.Duration(f.Shutdown.Reconnect) * time.Millisecond
		return d/2 + rand.N(d/2+1), true, nil
	}
	return 0, false, nil
}

// write sends one masked frame as one write on the current socket.
func (p *wsPage) write(op ws.OpCode, payload []byte) error {
	var buf bytes.Buffer
	if err := wsutil.WriteClientMessage(&buf, op, payload); err != nil {
		return err
	}
	_, err := lockedWriter{p}.Write(buf.Bytes())
	return err
}

// lockedWriter writes to the page's current socket under its write lock,
// so that pongs and ack frames do not interleave.
type lockedWriter struct{ p *wsPage }

// Write writes b to the socket in one call.
func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.wmu.Lock()
	defer w.p.wmu.Unlock()
	if w.p.conn == nil {
		return 0, net.ErrClosed
	}
	return w.p.conn.Write(b)
}

// leave ends the socket when the page stops: abruptly, or with its
// pending ack and a close frame with code 1000.
func (p *wsPage) leave(conn net.Conn) {
	if !p.abrupt {
		_ = p.sendAck()
		_ = p.write(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	}
	p.wmu.Lock()
	p.conn = nil
	p.wmu.Unlock()
	_ = conn.Close()
}

// openSession opens a script session of page for transport with POST
// session under base, with hc, and returns its id.
func openSession(ctx context.Context, hc *http.Client, base *url.URL, page, transport string) (string, error) {
	body, _ := json.Marshal(map[string]string{"page": page, "transport": transport})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.JoinPath("session").String(), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Parley", "1")
	res, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var reply struct {
		Session string `json:"session"`
	}
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
		return "", fmt.Errorf("opening a session: HTTP %d: %s", res.StatusCode, bytes.TrimSpace(msg))
	}
	if err := json.NewDecoder(res.Body).Decode(&reply); err != nil || reply.Session == "" {
		return "", fmt.Errorf("opening a session: no session in the reply (%v)", err)
	}
	return reply.Session, nil
}

// cookieHeader returns the Cookie header hc's jar sends to base, "" if
// none.
func cookieHeader(hc *http.Client, base *url.URL) string {
	if hc.Jar == nil {
		return ""
	}
	var cs []string
	for _, c := range hc.Jar.Cookies(base) {
		cs = append(cs, c.String())
	}
	return strings.Join(cs, "; ")
}

// connectSocket dials the socket of session with ack, sending the page's
// cookies and its origin as a browser would.
func (p *wsPage) connectSocket(ctx context.Context, session string, ack uint64) (net.Conn, *bufio.Reader, error) {
	u := p.base.JoinPath("ws")
	origin := p.base.Scheme + "://" + p.base.Host
	u.Scheme = "ws"
	if p.base.Scheme == "https" {
		u.Scheme = "wss"
	}
	u.RawQuery = url.Values{"session": {session}, "ack": {strconv.FormatUint(ack, 10)}}.Encode()
	h := http.Header{"Origin": {origin}}
	if c := cookieHeader(p.http, p.base); c != "" {
		h.Set("Cookie", c)
	}
	var refusal string
	d := ws.Dialer{
		Timeout:   10 * time.Second,
		Header:    ws.HandshakeHeaderHTTP(h),
		NetDial:   p.dial,
		TLSConfig: p.tls,
		OnStatusError: func(status int, reason []byte, resp io.Reader) {
			res, err := http.ReadResponse(bufio.NewReader(resp), nil)
			if err != nil {
				return
			}
			body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<10))
			_ = res.Body.Close()
			refusal = string(bytes.TrimSpace(body))
		},
	}
	conn, br, _, err := d.Dial(ctx, u.String())
	var status ws.StatusError
	if errors.As(err, &status) {
		return nil, nil, fmt.Errorf("%w: HTTP %d from %s: %s (does the server serve the WebSocket transport?)",
			errUpgradeRefused, int(status), u.Redacted(), refusal)
	}
	if err != nil {
		return nil, nil, err
	}
	p.wmu.Lock()
	p.conn = conn
	p.wmu.Unlock()
	return conn, br, nil
}
