package reverse

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Transport names, as pages and replies use them.
const (
	// LongPoll holds a request until there is something to send (Comet).
	LongPoll = "longpoll"
	// SSE streams messages as server-sent events on one held response.
	SSE = "sse"
	// WebSocket carries messages, acks and calls both ways over one socket.
	WebSocket = "websocket"
	// Polling asks at an interval the server advises, and is answered at once.
	Polling = "poll"
	// Passive never asks: messages ride on the replies to calls (piggyback).
	Passive = "passive"
	// Comet, in advice, sends a page back to the held transport it prefers.
	Comet = "comet"
)

// Transports configures how pages are held and advised. The zero value of
// each field means its default.
type Transports struct {
	// Hold is how long a long-poll is held with nothing to send, at most:
	// each hold lasts between 80% and 100% of it, so that pages that
	// started together do not all come back together. Default 25s.
	Hold time.Duration
	// MaxWaitAfterWrite is how long a long-poll waits, after a first
	// message, to gather more into the same reply. Default 10ms; negative
	// means reply at once.
	MaxWaitAfterWrite time.Duration
	// Heartbeat is the interval of SSE heartbeats and WebSocket pings,
	// which keep proxies from closing an idle stream and find pages that
	// are gone. Default 15s.
	Heartbeat time.Duration
	// StreamMaxAge is how long one SSE stream lasts before the server ends
	// it and the page reconnects, resuming by Last-Event-ID. Default 10m.
	StreamMaxAge time.Duration
	// PollInterval is the interval advised to polling pages. Default 5s.
	PollInterval time.Duration
	// NoParking keeps every held page on a waiting handler goroutine, even
	// where its connection could be parked. Parking is the default.
	NoParking bool
	// Load sets when pages are advised to poll instead of being held.
	Load LoadLimits
}

// LoadLimits are the thresholds of the load monitor, which advises held
// pages to switch to polling while the server is loaded and to come back
// when the load has dropped below 80% of every threshold. Zero disables a
// threshold; by default both are disabled.
type LoadLimits struct {
	// MaxHeld is the number of held connections (long-poll and SSE) past
	// which pages are advised to poll.
	MaxHeld int
	// MaxRate is the number of reverse requests per second past which pages
	// are advised to poll.
	MaxRate float64
}

func (t Transports) withDefaults() Transports {
	if t.Hold <= 0 {
		t.Hold = 25 * time.Second
	}
	if t.MaxWaitAfterWrite == 0 {
		t.MaxWaitAfterWrite = 10 * time.Millisecond
	}
	if t.Heartbeat <= 0 {
		t.Heartbeat = 15 * time.Second
	}
	if t.StreamMaxAge <= 0 {
		t.StreamMaxAge = 10 * time.Minute
	}
	if t.PollInterval <= 0 {
		t.PollInterval = 5 * time.Second
	}
	return t
}

// holdFor returns how long to hold one long-poll: Hold less up to a fifth
// of it, at random.
func (t Transports) holdFor() time.Duration {
	return t.Hold - rand.N(t.Hold/5+1)
}

// WithTransports configures the transports; zero fields keep their defaults.
func WithTransports(t Transports) Option { return func(h *Hub) { h.tc = t.withDefaults() } }

// Advice tells a page how to receive reverse calls from now on, in the
// manner of Bayeux advice.
type Advice struct {
	// Transport is Polling to switch to polling, or Comet to go back to the
	// held transport the page prefers. Empty: keep the transport.
	Transport string `json:"transport,omitempty"`
	// Interval is how many milliseconds a polling page waits between polls.
	Interval int64 `json:"interval,omitempty"`
}

// loadMonitor tracks held connections and the rate of reverse requests,
// with hysteresis so pages are not sent back and forth.
type loadMonitor struct {
	limits LoadLimits
	held   atomic.Int64

	mu         sync.Mutex
	second     int64 // the unix second being counted
	count      int   // requests in that second
	lastRate   int   // requests in the second before
	overloaded bool
}

// request counts one reverse request and reports whether the server is
// overloaded now.
func (m *loadMonitor) request(now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	sec := now.Unix()
	switch {
	case sec == m.second:
	case sec == m.second+1:
		m.lastRate, m.count, m.second = m.count, 0, sec
	default:
		m.lastRate, m.count, m.second = 0, 0, sec
	}
	m.count++
	held := float64(m.held.Load())
	rate := float64(max(m.lastRate, m.count))
	over := func(v, limit float64, f float64) bool { return limit > 0 && v > limit*f }
	if m.overloaded {
		m.overloaded = over(held, float64(m.limits.MaxHeld), 0.8) || over(rate, m.limits.MaxRate, 0.8)
	} else {
		m.overloaded = over(held, float64(m.limits.MaxHeld), 1) || over(rate, m.limits.MaxRate, 1)
	}
	return m.overloaded
}

// advise counts a request of s over transport and returns the advice its
// reply should carry, if any. Called with s.mu held.
func (h *Hub) adviseLocked(s *Session, transport string) *Advice {
	overloaded := h.load.request(h.now())
	interval := h.tc.PollInterval.Milliseconds()
	switch {
	case overloaded && (transport == LongPoll || transport == SSE || transport == WebSocket):
		s.advised = true
		return &Advice{Transport: Polling, Interval: interval}
	case transport == Polling && s.advised && !overloaded:
		s.advised = false
		return &Advice{Transport: Comet}
	case transport == Polling:
		return &Advice{Interval: interval}
	}
	return nil
}
