package natsbp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/reverse/backplanetest"
	"github.com/parley-go/parley/reverse/natsbp"
	"github.com/parley-go/parley/reverse/natsbp/embedded"
)

// hang bounds waits that only detect a hang.
const hang = 30 * time.Second

// startServer runs an embedded NATS with its store in a temporary folder.
func startServer(t testing.TB) *embedded.Server {
	t.Helper()
	srv, err := embedded.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// connect returns a Backplane on a connection of its own to srv, closed at
// the end of the test.
func connect(t testing.TB, srv *embedded.Server, opts ...natsbp.Option) *natsbp.Backplane {
	t.Helper()
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	bp, err := natsbp.New(nc, opts...)
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		bp.Close()
		nc.Close()
	})
	return bp
}

func TestConformance(t *testing.T) {
	srv := startServer(t)
	backplanetest.Run(t, func(t *testing.T) reverse.Backplane {
		// A short history, so that the suite sees entries leave it.
		return connect(t, srv, natsbp.WithHistory(time.Hour, 256<<10))
	})
}

func TestCluster(t *testing.T) {
	srv := startServer(t)
	backplanetest.RunCluster(t, func(t *testing.T) reverse.Backplane { return connect(t, srv) })
}

func TestConformanceMemoryStorage(t *testing.T) {
	srv := startServer(t)
	backplanetest.Run(t, func(t *testing.T) reverse.Backplane {
		return connect(t, srv, natsbp.WithName("mem"), natsbp.WithStorage(jetstream.MemoryStorage), natsbp.WithHistory(0, 256<<10))
	})
}

// entry is one delivery.
type entry struct {
	pos uint64
	key string
}

// recorder subscribes a hub and records its deliveries.
type recorder struct {
	mu      sync.Mutex
	entries []entry
}

func record(t *testing.T, bp *natsbp.Backplane, id string) *recorder {
	t.Helper()
	r := &recorder{}
	leave, err := bp.Subscribe(id, func(pos uint64, env reverse.Envelope) {
		r.mu.Lock()
		r.entries = append(r.entries, entry{pos, env.Key})
		r.mu.Unlock()
	}, func(reverse.Envelope) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(leave)
	return r
}

// wait waits until r has n entries and returns them.
func (r *recorder) wait(t *testing.T, n int) []entry {
	t.Helper()
	deadline := time.Now().Add(hang)
	for {
		r.mu.Lock()
		got := slices.Clone(r.entries)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d entries; have %v", n, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// until polls ok until it holds.
func until(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(hang)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// publishKeys publishes one entry per key and returns their positions.
func publishKeys(t *testing.T, bp *natsbp.Backplane, keys ...string) []uint64 {
	t.Helper()
	var out []uint64
	for _, k := range keys {
		pos, err := bp.Publish(reverse.Envelope{Kind: "page", Key: k, Body: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatalf("Publish(%s): %v", k, err)
		}
		out = append(out, pos)
	}
	return out
}

// restart stops srv, checks that both backplanes report the bus down,
// starts it again and waits until they report it up.
func restart(t *testing.T, srv *embedded.Server, bps ...*natsbp.Backplane) {
	t.Helper()
	srv.Shutdown()
	for i, bp := range bps {
		until(t, fmt.Sprintf("Err of backplane %d to fail while NATS is down", i), func() bool { return bp.Err() != nil })
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	for i, bp := range bps {
		until(t, fmt.Sprintf("Err of backplane %d to be nil after NATS restarted", i), func() bool { return bp.Err() == nil })
	}
}

func TestRestartFileStorage(t *testing.T) {
	srv := startServer(t)
	pub, hub := connect(t, srv), connect(t, srv)
	r := record(t, hub, "hub-a")
	before := publishKeys(t, pub, "b0", "b1", "b2", "b3", "b4")
	r.wait(t, 5)
	restart(t, srv, pub, hub)

	after := publishKeys(t, pub, "a0", "a1", "a2", "a3", "a4")
	if after[0] != before[4]+1 {
		t.Fatalf("the first position after the restart is %d, want %d", after[0], before[4]+1)
	}
	r.wait(t, 10)
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive by now
	got := r.wait(t, 10)
	want := []entry{{1, "b0"}, {2, "b1"}, {3, "b2"}, {4, "b3"}, {5, "b4"}, {6, "a0"}, {7, "a1"}, {8, "a2"}, {9, "a3"}, {10, "a4"}}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	var replayed []entry
	err := pub.Replay(context.Background(), 1, 10, func(pos uint64, env reverse.Envelope) error {
		replayed = append(replayed, entry{pos, env.Key})
		return nil
	})
	if err != nil || !slices.Equal(replayed, want) {
		t.Fatalf("replayed %v, %v; want %v", replayed, err, want)
	}
}

func TestRestartMemoryStorage(t *testing.T) {
	srv := startServer(t)
	opt := natsbp.WithStorage(jetstream.MemoryStorage)
	pub, hub := connect(t, srv, opt), connect(t, srv, opt)
	r := record(t, hub, "hub-a")
	before := publishKeys(t, pub, "b0", "b1", "b2", "b3", "b4")
	r.wait(t, 5)
	restart(t, srv, pub, hub)

	publishKeys(t, pub, "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7")
	got := r.wait(t, 5+8)
	after := got[5:]
	if after[0].pos == before[4]+1 {
		t.Fatalf("after the log was lost, positions continued: %v", got)
	}
	if !slices.Equal(keys(after), []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"}) {
		t.Fatalf("after the restart the hub received %v", after)
	}
}

// keys lists the keys of es.
func keys(es []entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.key
	}
	return out
}

func TestCloseStopsGoroutines(t *testing.T) {
	srv := startServer(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// The server's goroutines for the connection, the stream and the
	// buckets exist already.
	first, err := natsbp.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	base := runtime.NumGoroutine()

	bp, err := natsbp.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	r := record(t, bp, "hub-a")
	_, err = bp.Subscribe("hub-b", func(uint64, reverse.Envelope) {}, func(reverse.Envelope) {})
	if err != nil {
		t.Fatal(err)
	}
	pos := publishKeys(t, bp, "x", "y")
	r.wait(t, 2)
	if err := bp.Replay(context.Background(), pos[0], pos[1], func(uint64, reverse.Envelope) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := bp.Members(); err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine(); n <= base {
		t.Fatalf("%d goroutines with two hubs subscribed, %d before: the count cannot tell a leak", n, base)
	}
	bp.Close()
	until(t, "the goroutines to end after Close", func() bool { return runtime.NumGoroutine() <= base })
}

func TestInvalidIDs(t *testing.T) {
	srv := startServer(t)
	bp := connect(t, srv)
	for _, id := range []string{"", "a.b", "a*", "a>", "a b"} {
		if _, err := bp.Subscribe(id, func(uint64, reverse.Envelope) {}, func(reverse.Envelope) {}); err == nil {
			t.Errorf("Subscribe(%q) succeeded", id)
		}
		if err := bp.Send(id, reverse.Envelope{}); err == nil {
			t.Errorf("Send(%q) succeeded", id)
		}
	}
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, name := range []string{"", "a.b", "a b", "a>"} {
		if _, err := natsbp.New(nc, natsbp.WithName(name)); err == nil {
			t.Errorf("New with the name %q succeeded", name)
		}
	}
	if _, err := natsbp.New(nil); err == nil {
		t.Error("New without a connection succeeded")
	}
}

func TestDuplicateHub(t *testing.T) {
	srv := startServer(t)
	a, b := connect(t, srv), connect(t, srv)
	record(t, a, "hub-a")
	for name, bp := range map[string]*natsbp.Backplane{"same connection": a, "other connection": b} {
		if _, err := bp.Subscribe("hub-a", func(uint64, reverse.Envelope) {}, func(reverse.Envelope) {}); err != reverse.ErrDuplicateHub {
			t.Errorf("%s: Subscribe of a subscribed id: %v, want ErrDuplicateHub", name, err)
		}
	}
}
