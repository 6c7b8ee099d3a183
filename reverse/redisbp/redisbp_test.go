package redisbp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/reverse/backplanetest"
	"github.com/parley-go/parley/reverse/redisbp"
	"github.com/parley-go/parley/reverse/redisbp/redistest"
	"github.com/redis/go-redis/v9"
)

// hang bounds the waits that detect a hang; no test depends on it.
const hang = 30 * time.Second

// newBackplane returns a backplane on s through a new client, closed at
// the end of the test.
func newBackplane(t testing.TB, s *redistest.Server, opts ...redisbp.Option) *redisbp.Backplane {
	t.Helper()
	opts = append([]redisbp.Option{redisbp.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	bp, err := redisbp.New(s.Client(t), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { bp.Close() })
	return bp
}

func TestConformance(t *testing.T) {
	s := redistest.Start(t)
	backplanetest.Run(t, func(t *testing.T) reverse.Backplane {
		return newBackplane(t, s, redisbp.WithHistory(1000))
	})
}

func TestCluster(t *testing.T) {
	s := redistest.Start(t)
	backplanetest.RunCluster(t, func(t *testing.T) reverse.Backplane { return newBackplane(t, s) })
}

func TestNewOptions(t *testing.T) {
	s := redistest.Start(t)
	for _, tc := range []struct {
		name   string
		client redis.UniversalClient
		opts   []redisbp.Option
		ok     bool
	}{
		{"defaults", s.Client(t), nil, true},
		{"prefix and history", s.Client(t), []redisbp.Option{redisbp.WithPrefix("{app}"), redisbp.WithHistory(10)}, true},
		{"nil client", nil, nil, false},
		{"empty prefix", s.Client(t), []redisbp.Option{redisbp.WithPrefix("")}, false},
		{"no history", s.Client(t), []redisbp.Option{redisbp.WithHistory(0)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bp, err := redisbp.New(tc.client, tc.opts...)
			if (err == nil) != tc.ok {
				t.Fatalf("New: %v, want success %v", err, tc.ok)
			}
			if bp != nil {
				bp.Close()
			}
		})
	}
}

// recorder is a hub that records what it receives.
type recorder struct {
	mu      sync.Mutex
	entries []delivered
	direct  int // envelopes received by Send
}

// delivered is one delivery.
type delivered struct {
	pos uint64
	key string
}

// subscribe subscribes a recorder as hub id on bp.
func subscribe(t *testing.T, bp reverse.Backplane, id string) *recorder {
	t.Helper()
	r := &recorder{}
	leave, err := bp.Subscribe(id, func(pos uint64, env reverse.Envelope) {
		r.mu.Lock()
		r.entries = append(r.entries, delivered{pos, env.Key})
		r.mu.Unlock()
	}, func(reverse.Envelope) {
		r.mu.Lock()
		r.direct++
		r.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(leave)
	return r
}

// hasDirect reports whether r received an envelope by Send.
func (r *recorder) hasDirect() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.direct > 0
}

// waitUntil polls ok until it holds, failing the test after hang.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(hang)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// has reports whether r received an entry with key.
func (r *recorder) has(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.entries, func(d delivered) bool { return d.key == key })
}

// list returns what r received.
func (r *recorder) list() []delivered {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.entries)
}

// publishRetry publishes an envelope with key, retrying while Redis comes
// back from a restart.
func publishRetry(t *testing.T, bp reverse.Backplane, key string) uint64 {
	t.Helper()
	var (
		pos uint64
		err error
	)
	waitUntil(t, "Publish to succeed", func() bool {
		pos, err = bp.Publish(reverse.Envelope{Kind: "page", Key: key, Body: json.RawMessage(`{"fn":"f"}`)})
		return err == nil
	})
	return pos
}

// publishN publishes n envelopes with keys prefix-0 and on.
func publishN(t *testing.T, bp reverse.Backplane, prefix string, n int) {
	t.Helper()
	for i := range n {
		publishRetry(t, bp, fmt.Sprintf("%s-%d", prefix, i))
	}
}

// TestRestartPersistent restarts Redis, killed, with an fsync of the
// append-only file on every write: the subscriber resumes where it was and
// receives every entry once, at consecutive positions.
func TestRestartPersistent(t *testing.T) {
	s := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	pub := newBackplane(t, s)
	r := subscribe(t, newBackplane(t, s), "hub")
	publishN(t, pub, "before", 50)
	waitUntil(t, "the entries before the restart", func() bool { return r.has("before-49") })
	s.Restart()
	publishN(t, pub, "after", 50)
	waitUntil(t, "the entries after the restart", func() bool { return r.has("after-49") })
	// Send is at most once: while the subscription comes back, envelopes
	// may be lost, so it sends until one arrives.
	waitUntil(t, "an envelope sent after the restart", func() bool {
		if err := pub.Send("hub", reverse.Envelope{Kind: "result", Key: "direct"}); err != nil {
			t.Logf("Send: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
		return r.hasDirect()
	})
	got := r.list()
	if len(got) != 100 {
		t.Fatalf("received %d entries, want 100", len(got))
	}
	for i, d := range got {
		want := fmt.Sprintf("before-%d", i)
		if i >= 50 {
			want = fmt.Sprintf("after-%d", i-50)
		}
		if d.key != want || d.pos != uint64(i+1) {
			t.Fatalf("entry %d is %q at %d, want %q at %d", i, d.key, d.pos, want, i+1)
		}
	}
}

// TestRestartVolatile restarts Redis without persistence: the log starts
// again at 1, and the subscriber passes the positions through, so the hub
// sees a position that does not follow the last.
func TestRestartVolatile(t *testing.T) {
	s := redistest.Start(t, "--appendonly", "no")
	pub := newBackplane(t, s)
	r := subscribe(t, newBackplane(t, s), "hub")
	publishN(t, pub, "before", 20)
	waitUntil(t, "the entries before the restart", func() bool { return r.has("before-19") })
	s.Restart()
	publishN(t, pub, "after", 5)
	waitUntil(t, "the entries after the restart", func() bool { return r.has("after-4") })
	got := r.list()
	want := make([]delivered, 0, 25)
	for i := range 20 {
		want = append(want, delivered{uint64(i + 1), fmt.Sprintf("before-%d", i)})
	}
	for i := range 5 {
		want = append(want, delivered{uint64(i + 1), fmt.Sprintf("after-%d", i)})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("received %v,\nwant %v", got, want)
	}
}

// TestLostTail rewinds the log as Redis does when it restarts without the
// last writes of its append-only file: the counter goes back and new
// entries take the positions of the lost ones. The subscriber must not
// take the new entries after its position for a continuation.
func TestLostTail(t *testing.T) {
	s := redistest.Start(t)
	pub := newBackplane(t, s)
	r := subscribe(t, newBackplane(t, s), "hub")
	publishN(t, pub, "old", 20)
	waitUntil(t, "the first entries", func() bool { return r.has("old-19") })

	// Lose entries 16 to 20, as a restart would.
	ctx := context.Background()
	c := s.Client(t)
	msgs, err := c.XRange(ctx, "parley:log", "0-15", "0-15").Result()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("XRANGE: %v, %v", msgs, err)
	}
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XDel(ctx, "parley:log", "0-16", "0-17", "0-18", "0-19", "0-20")
		p.Do(ctx, "XSETID", "parley:log", "0-15")
		p.Set(ctx, "parley:seq", 15, 0)
		p.Set(ctx, "parley:tail", msgs[0].Values["t"], 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	publishN(t, pub, "new", 10)
	waitUntil(t, "the last new entry", func() bool { return r.has("new-9") })
	got := r.list()
	i := slices.IndexFunc(got, func(d delivered) bool { return d.key != fmt.Sprintf("old-%d", d.pos-1) })
	if i != 20 {
		t.Fatalf("received %v: want the 20 old entries, then new ones", got)
	}
	if got[i].pos == 21 {
		t.Fatalf("the first new entry was delivered at 21, after 20, as if nothing was lost: %v", got)
	}
	for j := i; j < len(got); j++ {
		if want := fmt.Sprintf("new-%d", got[j].pos-16); got[j].key != want {
			t.Fatalf("entry at %d is %q, want %q: %v", got[j].pos, got[j].key, want, got)
		}
		if j > i && got[j].pos != got[j-1].pos+1 {
			t.Fatalf("new entries skip: %v", got)
		}
	}
}

// TestErr stops Redis: Err fails while it is down and is nil again once
// it is back.
func TestErr(t *testing.T) {
	s := redistest.Start(t)
	bp := newBackplane(t, s)
	subscribe(t, bp, "hub")
	if err := bp.Err(); err != nil {
		t.Fatalf("Err with Redis up: %v", err)
	}
	s.Kill()
	waitUntil(t, "Err to fail", func() bool { return bp.Err() != nil })
	s.Run()
	waitUntil(t, "Err to clear", func() bool { return bp.Err() == nil })
}

// TestMemberExpires checks that a hub whose backplane cannot reach Redis
// any more, as when its process died, leaves the list of members.
func TestMemberExpires(t *testing.T) {
	s := redistest.Start(t)
	observer := newBackplane(t, s)
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	dead, err := redisbp.New(c, redisbp.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dead.Close() })
	subscribe(t, dead, "dead")
	subscribe(t, observer, "alive")
	members := func() []string {
		ids, err := observer.Members()
		if err != nil {
			t.Fatalf("Members: %v", err)
		}
		slices.Sort(ids)
		return ids
	}
	if got := members(); !slices.Equal(got, []string{"alive", "dead"}) {
		t.Fatalf("Members = %v", got)
	}
	if _, err := observer.Subscribe("dead", func(uint64, reverse.Envelope) {}, func(reverse.Envelope) {}); !errors.Is(err, reverse.ErrDuplicateHub) {
		t.Fatalf("Subscribe of a member's id: %v, want ErrDuplicateHub", err)
	}
	c.Close()
	waitUntil(t, "the dead hub to expire", func() bool { return slices.Equal(members(), []string{"alive"}) })
}

// TestPublishRepeatedOnce loses the reply to a publish on its way back:
// the client sends the append again on a new connection, and the log
// holds the entry once, at the position the first append gave it.
func TestPublishRepeatedOnce(t *testing.T) {
	s := redistest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	const marker = "lose-my-reply"
	var armed, lost atomic.Bool
	armed.Store(true)
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", s.Addr())
			if err != nil {
				down.Close()
				continue
			}
			var cut atomic.Bool // set once the reply on this connection is to be lost
			go func() {
				defer up.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := down.Read(buf)
					if n > 0 {
						if strings.Contains(string(buf[:n]), marker) && armed.CompareAndSwap(true, false) {
							cut.Store(true)
							lost.Store(true)
						}
						if _, werr := up.Write(buf[:n]); werr != nil {
							return
						}
						if cut.Load() {
							time.Sleep(200 * time.Millisecond) // Redis runs the append
							down.Close()
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				defer down.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := up.Read(buf)
					if n > 0 && !cut.Load() {
						if _, werr := down.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil || cut.Load() {
						return
					}
				}
			}()
		}
	}()
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String()}) // retries a command whose connection broke
	t.Cleanup(func() { client.Close() })
	bp, err := redisbp.New(client, redisbp.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bp.Close() })

	before := publishRetry(t, bp, "before")
	pos, err := bp.Publish(reverse.Envelope{Kind: "page", Key: marker, Body: json.RawMessage(`{"fn":"f"}`)})
	if err != nil {
		t.Fatalf("the repeated publish failed: %v", err)
	}
	if !lost.Load() {
		t.Fatal("the proxy did not lose the reply")
	}
	after := publishRetry(t, bp, "after")
	var keys []string
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if err := bp.Replay(ctx, before, after, func(_ uint64, env reverse.Envelope) error {
		keys = append(keys, env.Key)
		return nil
	}); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if want := []string{"before", marker, "after"}; !slices.Equal(keys, want) {
		t.Errorf("the log holds %v, want %v", keys, want)
	}
	if pos != before+1 {
		t.Errorf("the publish was given position %d, want %d", pos, before+1)
	}
}
