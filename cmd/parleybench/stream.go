package main

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/parley-go/parley/rpc/client"
)

// The page's acknowledgement rule on the streaming transports (SSE,
// WebSocket), as PROTOCOL.md gives it: an ack at most once per
// streamAckDelay after the first message run since the last ack, and at
// once when streamAckCount messages or streamAckBytes of their data ran
// unacknowledged.
const (
	streamAckDelay = 5 * time.Second
	streamAckCount = 100
	streamAckBytes = 64 << 10
)

// streamPage is a simulated page on a streaming transport: what pageBase
// keeps, and the state of its acknowledgement rule.
type streamPage struct {
	pageBase
	// ackDelay is the longest an ack waits after the first message it
	// covers; streamAckDelay unless a test sets it.
	ackDelay time.Duration
	// send tells the server that the page of session has run every
	// message up to seq, as its transport does.
	send func(session string, seq uint64) error

	// Guarded by mu:
	acked        uint64 // the highest seq acknowledged
	unacked      int    // messages run since the last ack
	unackedBytes int    // bytes of the events or frames that carried them
	timer        *time.Timer
}

// initStream sets the page's rule to the protocol's, acknowledging with
// send.
func (p *streamPage) initStream(send func(session string, seq uint64) error) {
	p.ackDelay, p.send = streamAckDelay, send
}

// ensureSession opens a fresh script session of transport for the page
// unless it has one, and returns the session and the highest sequence
// number the page has run in it. A page has no session at first and
// after a reset, which left nothing to acknowledge.
func (p *pageBase) ensureSession(ctx context.Context, transport string) (string, uint64, error) {
	p.mu.Lock()
	session, last := p.session, p.lastSeq
	p.mu.Unlock()
	if session != "" {
		return session, last, nil
	}
	session, err := openSession(ctx, p.http, p.base, p.page, transport)
	if err != nil {
		return "", 0, err
	}
	p.mu.Lock()
	p.session, p.lastSeq = session, 0
	p.mu.Unlock()
	return session, 0, nil
}

// reset forgets the page's session, which the server ended: it missed
// what the session had, and the next step opens a new one.
func (p *streamPage) reset() {
	p.mu.Lock()
	p.session, p.lastSeq, p.acked, p.unacked, p.unackedBytes = "", 0, 0, 0, 0
	p.stats.Gaps++
	p.mu.Unlock()
}

// deliver runs the messages not run before, in order, then acknowledges
// them by the page's rule. size is the bytes of the event or frame that
// held them.
func (p *streamPage) deliver(msgs []client.Message, size int) {
	p.mu.Lock()
	ran := 0
	for _, m := range msgs {
		if m.Seq <= p.lastSeq {
			p.stats.Duplicates++
			continue
		}
		p.lastSeq = m.Seq
		p.stats.Messages++
		ran++
		if p.handle != nil {
			p.handle(m)
		}
	}
	if ran == 0 {
		p.mu.Unlock()
		return
	}
	p.unacked += ran
	p.unackedBytes += size
	now := p.unacked >= streamAckCount || p.unackedBytes >= streamAckBytes
	if !now && p.timer == nil {
		p.timer = time.AfterFunc(p.ackDelay, func() { _ = p.sendAck() })
	}
	p.mu.Unlock()
	if now {
		_ = p.sendAck()
	}
}

// sendAck acknowledges every message run, unless none is waiting for it.
func (p *streamPage) sendAck() error {
	p.mu.Lock()
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	session, seq := p.session, p.lastSeq
	if seq <= p.acked || session == "" {
		p.mu.Unlock()
		return nil
	}
	p.acked, p.unacked, p.unackedBytes = seq, 0, 0
	p.mu.Unlock()
	return p.send(session, seq)
}

// connectUntil dials the page's own connection, which is closed when ctx
// ends or when done is called.
func (p *pageBase) connectUntil(ctx context.Context) (conn net.Conn, done func(), err error) {
	conn, err = p.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	return conn, func() {
		stop()
		conn.Close()
	}, nil
}

// connect dials the page's own connection, over TLS for an https base.
func (p *pageBase) connect(ctx context.Context) (net.Conn, error) {
	conn, err := p.dial(ctx, "tcp", p.base.Host)
	if err != nil || p.base.Scheme != "https" {
		return conn, err
	}
	conf := p.tls.Clone()
	if conf == nil {
		conf = &tls.Config{}
	}
	conf.ServerName = p.base.Hostname()
	tc := tls.Client(conn, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}
