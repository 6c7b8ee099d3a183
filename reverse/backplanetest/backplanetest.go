// Package backplanetest is a conformance suite for implementations of
// reverse.Backplane: Run checks, against a real bus, the behaviour the hubs
// of a cluster rely on.
//
// The suite shares one bus among its subtests, so a backplane under test
// must not be reset between them; it uses fresh hub ids and record keys in
// each. Deadlines in it only detect hangs.
package backplanetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-go/parley/reverse"
)

// hang is how long the suite waits for something that must happen before
// it declares the backplane hung.
const hang = 30 * time.Second

// settle is how long the suite keeps watching for something that must not
// happen, after a barrier showed that it would have happened by then.
const settle = 200 * time.Millisecond

// Run runs the conformance subtests against the bus that connect reaches.
// Each call to connect must return a new, independent connection to the
// same bus, as another process would have, and arrange its closing with
// t.Cleanup.
//
// Replay's ErrHistoryGone for entries the log dropped is checked by
// publishing up to 10,000 entries until the first is gone; a backplane
// that keeps more is skipped in that subtest, so configure a short
// history for the suite.
func Run(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	t.Run("Positions", func(t *testing.T) { testPositions(t, connect) })
	t.Run("TotalOrder", func(t *testing.T) { testTotalOrder(t, connect) })
	t.Run("Leave", func(t *testing.T) { testLeave(t, connect) })
	t.Run("Send", func(t *testing.T) { testSend(t, connect) })
	t.Run("SendUnknownHub", func(t *testing.T) { testSendUnknown(t, connect) })
	t.Run("Replay", func(t *testing.T) { testReplay(t, connect) })
	t.Run("ReplayCancel", func(t *testing.T) { testReplayCancel(t, connect) })
	t.Run("ReplayHistoryGone", func(t *testing.T) { testHistoryGone(t, connect) })
	t.Run("Members", func(t *testing.T) { testMembers(t, connect) })
	t.Run("Records", func(t *testing.T) { testRecords(t, connect) })
	t.Run("EnvelopeFields", func(t *testing.T) { testEnvelopeFields(t, connect) })
	t.Run("Err", func(t *testing.T) {
		if err := connect(t).Err(); err != nil {
			t.Fatalf("Err on a healthy bus: %v", err)
		}
	})
}

// entry is one delivery a hub saw.
type entry struct {
	pos uint64
	env reverse.Envelope
}

// hub records what a subscribed hub receives.
type hub struct {
	id       string
	mu       sync.Mutex
	entries  []entry
	direct   []reverse.Envelope
	inflight atomic.Int32
	overlap  atomic.Bool // deliver, or direct, ran concurrently for this hub
	left     atomic.Bool
	late     atomic.Int32 // calls after leave returned
	leave    func()
	once     sync.Once
}

// newID returns a fresh id in the form of a hub or session id.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// subscribe subscribes a new hub on bp and leaves at the end of the test.
func subscribe(t *testing.T, bp reverse.Backplane) *hub {
	t.Helper()
	h := &hub{id: newID()}
	enter := func() {
		if h.inflight.Add(1) > 1 {
			h.overlap.Store(true)
		}
		if h.left.Load() {
			h.late.Add(1)
		}
	}
	leave, err := bp.Subscribe(h.id, func(pos uint64, env reverse.Envelope) {
		enter()
		defer h.inflight.Add(-1)
		h.mu.Lock()
		h.entries = append(h.entries, entry{pos, env})
		h.mu.Unlock()
	}, func(env reverse.Envelope) {
		h.mu.Lock()
		h.direct = append(h.direct, env)
		h.mu.Unlock()
		if h.left.Load() {
			h.late.Add(1)
		}
	})
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", h.id, err)
	}
	h.leave = leave
	t.Cleanup(h.stop)
	return h
}

// stop leaves, once.
func (h *hub) stop() {
	h.once.Do(func() {
		h.leave()
		h.left.Store(true)
	})
}

// waitEntries waits until h has received n entries and returns them.
func (h *hub) waitEntries(t *testing.T, n int) []entry {
	t.Helper()
	return waitFor(t, fmt.Sprintf("hub %s to receive %d entries", h.id, n), func() ([]entry, bool) {
		h.mu.Lock()
		defer h.mu.Unlock()
		return slices.Clone(h.entries), len(h.entries) >= n
	})
}

// waitDirect waits until h has received n direct envelopes and returns them.
func (h *hub) waitDirect(t *testing.T, n int) []reverse.Envelope {
	t.Helper()
	return waitFor(t, fmt.Sprintf("hub %s to receive %d direct envelopes", h.id, n), func() ([]reverse.Envelope, bool) {
		h.mu.Lock()
		defer h.mu.Unlock()
		return slices.Clone(h.direct), len(h.direct) >= n
	})
}

// counts returns how many entries and direct envelopes h received.
func (h *hub) counts() (entries, direct int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.entries), len(h.direct)
}

// waitFor polls f until it reports done, failing the test after hang.
func waitFor[T any](t *testing.T, what string, f func() (T, bool)) T {
	t.Helper()
	deadline := time.Now().Add(hang)
	for {
		v, done := f()
		if done {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// publish publishes env and fails the test on an error.
func publish(t *testing.T, bp reverse.Backplane, env reverse.Envelope) uint64 {
	t.Helper()
	pos, err := bp.Publish(env)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return pos
}

// call is a small reverse call envelope marked by key.
func call(key string) reverse.Envelope {
	return reverse.Envelope{Kind: "page", Key: key, Body: json.RawMessage(`{"fn":"f","args":[1]}`)}
}

func testPositions(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	bp := connect(t)
	var before uint64
	for i := range 3 {
		before = publish(t, bp, call(fmt.Sprintf("before-%d", i)))
	}
	h := subscribe(t, bp)
	const n = 200
	want := make([]uint64, n)
	for i := range n {
		want[i] = publish(t, bp, call(fmt.Sprintf("after-%d", i)))
	}
	got := h.waitEntries(t, n)
	time.Sleep(settle)
	if e, _ := h.counts(); e != n {
		t.Fatalf("hub received %d entries, want %d", e, n)
	}
	for i, e := range got {
		if e.env.Key != fmt.Sprintf("after-%d", i) {
			t.Fatalf("entry %d is %q: an entry published before Subscribe, or out of order", i, e.env.Key)
		}
		if e.pos != want[i] {
			t.Fatalf("entry %d delivered at %d, Publish returned %d", i, e.pos, want[i])
		}
		if i == 0 && e.pos <= before {
			t.Fatalf("first position %d is not above %d, the last before Subscribe", e.pos, before)
		}
		if i > 0 && e.pos != got[i-1].pos+1 {
			t.Fatalf("position %d follows %d", e.pos, got[i-1].pos)
		}
	}
	if h.overlap.Load() {
		t.Fatal("deliver was called concurrently for one hub")
	}
}

func testTotalOrder(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	hubs := []*hub{subscribe(t, connect(t)), subscribe(t, connect(t)), subscribe(t, connect(t))}
	pubs := []reverse.Backplane{connect(t), connect(t)}
	const each = 500
	positions := make([]map[string]uint64, len(pubs))
	var wg sync.WaitGroup
	errs := make(chan error, len(pubs))
	for p, bp := range pubs {
		positions[p] = map[string]uint64{}
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("p%d-%d", p, i)
				pos, err := bp.Publish(call(key))
				if err != nil {
					errs <- err
					return
				}
				positions[p][key] = pos
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Publish: %v", err)
	}
	published := map[string]uint64{}
	for _, m := range positions {
		for k, v := range m {
			published[k] = v
		}
	}
	var first []entry
	for i, h := range hubs {
		got := h.waitEntries(t, len(pubs)*each)
		seen := map[string]bool{}
		next := [2]int{}
		for j, e := range got {
			if seen[e.env.Key] {
				t.Fatalf("hub %d saw %q twice", i, e.env.Key)
			}
			seen[e.env.Key] = true
			if pos, ok := published[e.env.Key]; !ok || pos != e.pos {
				t.Fatalf("hub %d saw %q at %d, Publish returned %d (%v)", i, e.env.Key, e.pos, pos, ok)
			}
			if j > 0 && e.pos != got[j-1].pos+1 {
				t.Fatalf("hub %d: position %d follows %d", i, e.pos, got[j-1].pos)
			}
			var p, k int
			if _, err := fmt.Sscanf(e.env.Key, "p%d-%d", &p, &k); err != nil {
				t.Fatalf("hub %d saw an entry it did not expect: %q", i, e.env.Key)
			}
			if k != next[p] {
				t.Fatalf("hub %d saw publisher %d's entry %d after its entry %d", i, p, k, next[p]-1)
			}
			next[p]++
		}
		if first == nil {
			first = got
		} else if !slices.Equal(keys(first), keys(got)) {
			t.Fatalf("hub %d saw another order than hub 0", i)
		}
		if h.overlap.Load() {
			t.Fatalf("deliver was called concurrently for hub %d", i)
		}
	}
	time.Sleep(settle)
	for i, h := range hubs {
		if e, _ := h.counts(); e != len(pubs)*each {
			t.Fatalf("hub %d received %d entries, want %d", i, e, len(pubs)*each)
		}
	}
}

// keys lists the keys of the envelopes in es.
func keys(es []entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.env.Key
	}
	return out
}

func testLeave(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	bp := connect(t)
	gone := subscribe(t, connect(t))
	stays := subscribe(t, connect(t))
	publish(t, bp, call("while-subscribed"))
	gone.waitEntries(t, 1)
	stays.waitEntries(t, 1)
	gone.stop()
	const n = 50
	for i := range n {
		publish(t, bp, call(fmt.Sprintf("after-leave-%d", i)))
		if err := bp.Send(gone.id, call("to-gone")); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if err := bp.Send(stays.id, call("to-stays")); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	// What reached the hub that stayed would have reached the one that left.
	stays.waitEntries(t, n+1)
	stays.waitDirect(t, n)
	time.Sleep(settle)
	if late := gone.late.Load(); late != 0 {
		t.Fatalf("%d deliveries or direct envelopes after leave returned", late)
	}
}

func testSend(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	target := subscribe(t, connect(t))
	others := []*hub{subscribe(t, connect(t)), subscribe(t, connect(t))}
	senders := []reverse.Backplane{connect(t), connect(t)}
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, len(senders))
	for s, bp := range senders {
		wg.Go(func() {
			for i := range n {
				env := call(fmt.Sprint(i))
				env.Origin = fmt.Sprintf("sender-%d", s)
				env.To = target.id
				if err := bp.Send(target.id, env); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Send: %v", err)
	}
	got := target.waitDirect(t, len(senders)*n)
	next := map[string]int{}
	for _, env := range got {
		if env.Key != fmt.Sprint(next[env.Origin]) {
			t.Fatalf("from %s: envelope %s arrived when %d was next", env.Origin, env.Key, next[env.Origin])
		}
		next[env.Origin]++
	}
	time.Sleep(settle)
	if _, d := target.counts(); d != len(senders)*n {
		t.Fatalf("target received %d direct envelopes, want %d", d, len(senders)*n)
	}
	for i, h := range others {
		if e, d := h.counts(); e != 0 || d != 0 {
			t.Fatalf("hub %d, not addressed, received %d entries and %d direct envelopes", i, e, d)
		}
	}
	if e, _ := target.counts(); e != 0 {
		t.Fatalf("Send reached the log: the target received %d entries", e)
	}
}

func testSendUnknown(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	if err := connect(t).Send(newID(), call("nobody")); err != nil {
		t.Fatalf("Send to a hub that is not subscribed: %v", err)
	}
}

// publishSeen publishes n entries and returns them as h received them.
func publishSeen(t *testing.T, bp reverse.Backplane, h *hub, n int) []entry {
	t.Helper()
	had, _ := h.counts()
	for i := range n {
		env := fullEnvelope(i)
		env.Key = fmt.Sprintf("replay-%d", i)
		publish(t, bp, env)
	}
	return h.waitEntries(t, had+n)[had:]
}

// cluster subscribes a second hub, on a connection of its own, so that
// the bus serves several hubs, as it does when hubs replay.
func cluster(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	t.Helper()
	subscribe(t, connect(t))
}

func testReplay(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	bp := connect(t)
	h := subscribe(t, bp)
	cluster(t, connect)
	seen := publishSeen(t, bp, h, 20)
	last := seen[len(seen)-1].pos
	replayer := connect(t)
	for _, tc := range []struct {
		name     string
		from, to uint64
		want     []entry
	}{
		{"middle", seen[3].pos, seen[12].pos, seen[3:13]},
		{"one", seen[5].pos, seen[5].pos, seen[5:6]},
		{"past the end", seen[15].pos, last + 1000, seen[15:]},
		{"empty", seen[10].pos, seen[9].pos, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []entry
			err := replayer.Replay(context.Background(), tc.from, tc.to, func(pos uint64, env reverse.Envelope) error {
				got = append(got, entry{pos, env})
				return nil
			})
			if err != nil {
				t.Fatalf("Replay(%d, %d): %v", tc.from, tc.to, err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Replay(%d, %d) returned %d entries, want %d", tc.from, tc.to, len(got), len(tc.want))
			}
			for i := range got {
				if got[i].pos != tc.want[i].pos || !reflect.DeepEqual(got[i].env, tc.want[i].env) {
					t.Fatalf("entry %d: replayed %d %+v, delivered %d %+v", i, got[i].pos, got[i].env, tc.want[i].pos, tc.want[i].env)
				}
			}
		})
	}
	t.Run("zero", func(t *testing.T) {
		err := replayer.Replay(context.Background(), 0, last, func(uint64, reverse.Envelope) error { return nil })
		if !errors.Is(err, reverse.ErrHistoryGone) {
			t.Fatalf("Replay from 0: %v, want ErrHistoryGone", err)
		}
	})
	t.Run("fn error", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := replayer.Replay(context.Background(), seen[0].pos, last, func(uint64, reverse.Envelope) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("Replay returned %v after %d calls, want fn's error after 1", err, calls)
		}
	})
}

func testReplayCancel(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	bp := connect(t)
	h := subscribe(t, bp)
	cluster(t, connect)
	seen := publishSeen(t, bp, h, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	err := bp.Replay(ctx, seen[0].pos, seen[9].pos, func(uint64, reverse.Envelope) error {
		calls++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("Replay returned %v after %d calls, want context.Canceled after 1", err, calls)
	}
}

func testHistoryGone(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	bp := connect(t)
	subscribe(t, bp)
	cluster(t, connect)
	first := publish(t, bp, call("oldest"))
	gone := func() bool {
		err := bp.Replay(context.Background(), first, first, func(uint64, reverse.Envelope) error { return nil })
		if err != nil && !errors.Is(err, reverse.ErrHistoryGone) {
			t.Fatalf("Replay: %v", err)
		}
		return err != nil
	}
	for published := 0; !gone(); published += 500 {
		if published >= 10_000 {
			t.Skip("the backplane keeps more than 10,000 entries; configure a shorter history to check ErrHistoryGone")
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 125 {
					if _, err := bp.Publish(call("filler")); err != nil {
						t.Errorf("Publish: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	// The range straddles the start of the kept history.
	calls := 0
	err := connect(t).Replay(context.Background(), first, first+20_000, func(uint64, reverse.Envelope) error {
		calls++
		return nil
	})
	if !errors.Is(err, reverse.ErrHistoryGone) || calls != 0 {
		t.Fatalf("Replay before the kept history returned %v after %d calls, want ErrHistoryGone after none", err, calls)
	}
}

func testMembers(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	a := subscribe(t, connect(t))
	b := subscribe(t, connect(t))
	observer := connect(t)
	members := func(t *testing.T, what string, ok func([]string) bool) {
		t.Helper()
		waitFor(t, what, func() (struct{}, bool) {
			ids, err := observer.Members()
			if err != nil {
				t.Fatalf("Members: %v", err)
			}
			return struct{}{}, ok(ids)
		})
	}
	members(t, "Members to list both hubs", func(ids []string) bool {
		return slices.Contains(ids, a.id) && slices.Contains(ids, b.id)
	})
	a.stop()
	members(t, "Members to drop the hub that left", func(ids []string) bool {
		return !slices.Contains(ids, a.id) && slices.Contains(ids, b.id)
	})
}

func testRecords(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	bp := connect(t)
	other := connect(t)
	big := make([]byte, 256<<10)
	_, _ = rand.Read(big)
	for _, tc := range []struct {
		name   string
		values [][]byte // saved in turn; the last must be loaded
	}{
		{"small", [][]byte{[]byte(`{"page":"/chat","seq":7}`)}},
		{"replaced", [][]byte{[]byte("first"), []byte("second, longer than the first")}},
		{"shorter replacement", [][]byte{[]byte("a long first value"), []byte("x")}},
		{"256 KiB", [][]byte{big}},
		{"binary", [][]byte{{0, 1, 2, 255, '\n', 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "s." + newID()
			for _, v := range tc.values {
				if err := bp.Save(key, v); err != nil {
					t.Fatalf("Save(%q, %d bytes): %v", key, len(v), err)
				}
			}
			want := tc.values[len(tc.values)-1]
			for i, c := range []reverse.Backplane{bp, other} {
				got, err := c.Load(key)
				if err != nil {
					t.Fatalf("Load on connection %d: %v", i, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("Load on connection %d returned %d bytes, want the %d saved", i, len(got), len(want))
				}
			}
			if err := other.Delete(key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := bp.Load(key); !errors.Is(err, reverse.ErrNoRecord) {
				t.Fatalf("Load after Delete: %v, want ErrNoRecord", err)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		key := "s." + newID()
		if v, err := bp.Load(key); !errors.Is(err, reverse.ErrNoRecord) {
			t.Fatalf("Load of a missing key returned %q, %v; want ErrNoRecord", v, err)
		}
		if err := bp.Delete(key); err != nil {
			t.Fatalf("Delete of a missing key: %v", err)
		}
	})
	t.Run("copied", func(t *testing.T) {
		key := "s." + newID()
		v := []byte("value")
		if err := bp.Save(key, v); err != nil {
			t.Fatalf("Save: %v", err)
		}
		v[0] = 'X'
		got, err := bp.Load(key)
		if err != nil || string(got) != "value" {
			t.Fatalf("Load after the caller changed the saved slice: %q, %v", got, err)
		}
		got[0] = 'Y'
		again, err := bp.Load(key)
		if err != nil || string(again) != "value" {
			t.Fatalf("Load after the caller changed a loaded slice: %q, %v", again, err)
		}
	})
}

func testEnvelopeFields(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	bp := connect(t)
	h := subscribe(t, connect(t))
	cluster(t, connect)
	want := fullEnvelope(1)
	pos := publish(t, bp, want)
	got := h.waitEntries(t, 1)[0]
	if got.pos != pos || !reflect.DeepEqual(got.env, want) {
		t.Fatalf("published %+v, delivered %+v", want, got.env)
	}
	if err := bp.Send(h.id, want); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if d := h.waitDirect(t, 1)[0]; !reflect.DeepEqual(d, want) {
		t.Fatalf("sent %+v, received %+v", want, d)
	}
	var replayed []reverse.Envelope
	err := bp.Replay(context.Background(), pos, pos, func(_ uint64, env reverse.Envelope) error {
		replayed = append(replayed, env)
		return nil
	})
	if err != nil || len(replayed) != 1 || !reflect.DeepEqual(replayed[0], want) {
		t.Fatalf("replayed %+v, %v; want %+v", replayed, err, want)
	}
}

// fullEnvelope returns an envelope with every field set to a value that
// depends on seed, including fields added to reverse.Envelope later.
func fullEnvelope(seed int) reverse.Envelope {
	var env reverse.Envelope
	fill(reflect.ValueOf(&env).Elem(), seed)
	return env
}

// rawMessage is the type of Envelope.Body.
var rawMessage = reflect.TypeFor[json.RawMessage]()

// fill sets v, and every field or element in it, to a value other than
// the zero value. It panics on a kind it cannot fill, so that a field added
// to Envelope with a new kind is not left out silently.
func fill(v reflect.Value, seed int) {
	switch {
	case v.Type() == rawMessage:
		v.SetBytes(fmt.Appendf(nil, `{"fn":"f","args":[%d,"x\u00e9",{"k":[true,null]}]}`, seed))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d-é", v.Type().Name(), seed))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(seed) + 1_700_000_000_000_000_000)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(seed) + 40)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(seed) + 0.5)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), seed+i)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, seed)
		fill(e, seed)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), seed)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), seed+i)
			}
		}
	default:
		panic(fmt.Sprintf("backplanetest: cannot fill a field of kind %s", v.Kind()))
	}
}
