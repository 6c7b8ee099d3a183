package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// The raw floor is what this machine does without Parley: plain TCP
// connections on loopback, each sent every quote as the bytes of the
// server-sent event a Parley SSE page receives for it, in one write per
// quote per connection, from one goroutine per CPU, with no HTTP, no session, no outbox and no ack.
// Fan-out measures it in the same run as the transports, and reports
// their figures as ratios of it.

// modeRaw is the loader mode, and the fanout row, of the raw floor.
const modeRaw = "raw"

// rawOpen is the first event the floor server writes to a connection once
// it holds it, as a Parley SSE stream begins with an open event. A raw
// page is ready when it has read it.
const rawOpen = "retry: 1000\nevent: open\ndata: {}\n\n"

// rawFloor holds the raw connections of a bench server in floor mode.
type rawFloor struct {
	ln net.Listener

	mu    sync.Mutex
	conns []net.Conn
	seq   uint64 // quotes sent so far: the id of the last event
}

// listenRaw listens for raw connections on a free port of host.
func listenRaw(host string) (*rawFloor, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	return &rawFloor{ln: ln}, nil
}

// serve accepts connections until the listener is closed, writing each
// the open event and keeping it. Nothing reads the connections.
func (f *rawFloor) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		f.mu.Lock()
		if _, err := c.Write([]byte(rawOpen)); err != nil {
			_ = c.Close()
		} else {
			f.conns = append(f.conns, c)
		}
		f.mu.Unlock()
	}
}

// send writes q, as a server-sent event, to every connection, one write
// each: one goroutine per CPU writes to its share of the connections. A
// connection whose write fails is closed and dropped.
func (f *rawFloor) send(q *quote) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	payload, err := appendRawEvent(nil, f.seq, q)
	if err != nil {
		return err
	}
	failed := make([]bool, len(f.conns))
	workers := min(runtime.GOMAXPROCS(0), len(f.conns))
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(f.conns)/workers, (w+1)*len(f.conns)/workers
		wg.Go(func() {
			for i, c := range f.conns[lo:hi] {
				if _, err := c.Write(payload); err != nil {
					_ = c.Close()
					failed[lo+i] = true
				}
			}
		})
	}
	wg.Wait()
	live := f.conns[:0]
	for i, c := range f.conns {
		if !failed[i] {
			live = append(live, c)
		}
	}
	clear(f.conns[len(live):])
	f.conns = live
	return nil
}

// len returns the number of connections held.
func (f *rawFloor) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// close stops accepting and closes every connection.
func (f *rawFloor) close() {
	_ = f.ln.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		_ = c.Close()
	}
	f.conns = nil
}

// rawMessage is the data of a raw event: a reverse message as Parley
// encodes it, {"seq":N,"fn":"quote","args":[quote]}.
type rawMessage struct {
	Seq  uint64   `json:"seq"`
	Fn   string   `json:"fn"`
	Args []*quote `json:"args"`
}

// appendRawEvent appends q as the event a Parley SSE page receives for it
// as its seq-th message.
func appendRawEvent(buf []byte, seq uint64, q *quote) ([]byte, error) {
	data, err := json.Marshal(rawMessage{Seq: seq, Fn: "quote", Args: []*quote{q}})
	if err != nil {
		return nil, err
	}
	buf = append(buf, "id: "...)
	buf = strconv.AppendUint(buf, seq, 10)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, data...)
	return append(buf, "\n\n"...), nil
}

// runRawPage connects page i to the floor server at cfg.Raw, calls ready
// once the open event has arrived, and then accounts for every quote it
// reads until ctx ends or the connection does.
func (l *loader) runRawPage(ctx context.Context, i int, ready func()) {
	c, err := l.dial(ctx, "tcp", l.cfg.Raw)
	if err != nil {
		return
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		now := time.Now()
		if bytes.Equal(line, []byte("event: open\n")) {
			ready()
			continue
		}
		data, ok := bytes.CutPrefix(line, []byte("data: "))
		if !ok {
			continue
		}
		var m rawMessage
		if json.Unmarshal(data, &m) != nil || m.Fn != "quote" || len(m.Args) != 1 || m.Args[0] == nil {
			continue
		}
		l.observe(i, *m.Args[0], now)
	}
}
