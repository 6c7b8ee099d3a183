package backplanetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-go/parley/reverse"
)

// RunCluster runs hubs on the bus that connect reaches, one connection
// each as separate processes would have, and checks what a cluster
// promises its pages: any hub serves any page's request, a page's session
// moves to whichever hub holds its connection, and a page whose hub died
// runs every call once, in order, after another hub took it over.
func RunCluster(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	t.Run("FarSessions", func(t *testing.T) { testFarSessions(t, connect) })
	t.Run("Moves", func(t *testing.T) { testMoves(t, connect) })
	t.Run("Takeover", func(t *testing.T) { testTakeover(t, connect) })
	t.Run("Fetch", func(t *testing.T) { testFetch(t, connect) })
	t.Run("Invoke", func(t *testing.T) { testInvoke(t, connect) })
	t.Run("OneOrder", func(t *testing.T) { testOneOrder(t, connect) })
	t.Run("LateHub", func(t *testing.T) { testLateHub(t, connect) })
}

// testLateHub starts a hub after a page opened, moved and joined a group:
// the new hub serves the page as well as the others, then a second one
// after the page's hub died.
func testLateHub(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	hs, ms := hubs(t, connect, 2)
	a, b := hs[0], hs[1]
	s, err := a.Open("/p", "browser")
	if err != nil {
		t.Fatal(err)
	}
	p := &Page{ID: s.ID(), Browser: "browser"}
	var want []string
	call := func(h *reverse.Hub, arg string) {
		t.Helper()
		if err := h.Group("g").Call("f", arg); err != nil {
			t.Fatal(err)
		}
		want = append(want, arg)
	}
	s.Join("g")
	call(a, "1")
	p.WaitRan(t, b, 1) // moved to b
	call(a, "2")
	late, lm := hubs(t, connect, 1)
	c := late[0]
	view, err := c.Lookup(p.ID, p.Browser)
	if err != nil {
		t.Fatalf("a hub that joined later looks the page up: %v", err)
	}
	equal(t, "its groups, as the late hub sees them", []string{"g"}, view.Groups())
	call(c, "3")
	p.WaitRan(t, c, 3)
	equal(t, "what the page ran", want, p.Ran)
	call(a, "4")
	lm[0].Kill()
	ms[0].Kill()
	call(b, "5")
	later, _ := hubs(t, connect, 1)
	p.WaitRan(t, later[0], 5)
	equal(t, "what the page ran after its hub, which joined late, died", want, p.Ran)
}

// testOneOrder has two hubs call pages on three at the same time: every
// page runs the calls of both in one and the same order.
func testOneOrder(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	hs, _ := hubs(t, connect, 3)
	var pages []*Page
	for i := range 6 {
		s, err := hs[i%3].Open("/p", fmt.Sprint("browser", i))
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, &Page{ID: s.ID(), Browser: s.HTTPSession()})
	}
	const each = 200
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		h := hs[0]
		if name == "b" {
			h = hs[1]
		}
		wg.Go(func() {
			for i := range each {
				if err := h.Page("/p").Call("f", fmt.Sprint(name, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i, p := range pages {
		p.WaitRan(t, hs[i%3], 2*each)
		equal(t, "the order of the calls on two pages", pages[0].Ran, p.Ran)
	}
}

// Mortal is one process's connection to a bus, which a test can cut as a
// process that dies would (Kill): from then on its hub neither hears nor
// says anything. Wrap a Backplane in it with &Mortal{Backplane: bp}.
type Mortal struct {
	reverse.Backplane
	dead atomic.Bool
	mu   sync.Mutex
	out  func()
}

var errDead = errors.New("the process died")

// Subscribe implements reverse.Backplane.
func (m *Mortal) Subscribe(id string, deliver func(uint64, reverse.Envelope), direct func(reverse.Envelope)) (func(), error) {
	leave, err := m.Backplane.Subscribe(id,
		func(pos uint64, env reverse.Envelope) {
			if !m.dead.Load() {
				deliver(pos, env)
			}
		},
		func(env reverse.Envelope) {
			if !m.dead.Load() {
				direct(env)
			}
		})
	m.mu.Lock()
	m.out = leave
	m.mu.Unlock()
	return leave, err
}

// Publish implements reverse.Backplane.
func (m *Mortal) Publish(env reverse.Envelope) (uint64, error) {
	if m.dead.Load() {
		return 0, errDead
	}
	return m.Backplane.Publish(env)
}

// Send implements reverse.Backplane.
func (m *Mortal) Send(id string, env reverse.Envelope) error {
	if m.dead.Load() {
		return errDead
	}
	return m.Backplane.Send(id, env)
}

// Save implements reverse.Backplane.
func (m *Mortal) Save(key string, value []byte) error {
	if m.dead.Load() {
		return errDead
	}
	return m.Backplane.Save(key, value)
}

// Delete implements reverse.Backplane.
func (m *Mortal) Delete(key string) error {
	if m.dead.Load() {
		return errDead
	}
	return m.Backplane.Delete(key)
}

// Err implements reverse.Backplane: a dead process reaches no bus.
func (m *Mortal) Err() error {
	if m.dead.Load() {
		return errDead
	}
	return m.Backplane.Err()
}

// Kill cuts the hub off as SIGKILL would, and takes it off the members as
// the bus would once it noticed.
func (m *Mortal) Kill() {
	m.dead.Store(true)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.out()
}

// hubs starts n hubs, each on its own connection.
func hubs(t *testing.T, connect func(t *testing.T) reverse.Backplane, n int) ([]*reverse.Hub, []*Mortal) {
	t.Helper()
	var hs []*reverse.Hub
	var ms []*Mortal
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for range n {
		m := &Mortal{Backplane: connect(t)}
		h := reverse.NewHub(reverse.WithBackplane(m), reverse.WithLogger(quiet))
		t.Cleanup(h.Close)
		hs = append(hs, h)
		ms = append(ms, m)
	}
	return hs, ms
}

// Page is a page as the runtime is: it runs each message once, in order,
// and acknowledges what it ran. Ran holds the first argument of each
// message it ran, a string.
type Page struct {
	ID, Browser string
	Ran         []string
	ack         uint64
}

// message is a reverse call as a page decodes it.
type message struct {
	Seq    uint64            `json:"seq"`
	Fn     string            `json:"fn"`
	Args   []json.RawMessage `json:"args"`
	Invoke string            `json:"invoke"`
}

// poll takes what hub h has for the page, as a held request there does.
func (p *Page) poll(t *testing.T, h *reverse.Hub) []message {
	t.Helper()
	view, err := h.Lookup(p.ID, p.Browser)
	if err != nil {
		t.Fatalf("looking the page up: %v", err)
	}
	s, err := h.Hold(view)
	if err != nil {
		t.Fatalf("holding the page's session: %v", err)
	}
	return p.run(t, s.Pending(p.ack))
}

// pull takes what hub h answers a passive page's call with, wherever the
// page's session is held.
func (p *Page) pull(t *testing.T, h *reverse.Hub) []message {
	t.Helper()
	view, err := h.Lookup(p.ID, p.Browser)
	if err != nil {
		t.Fatalf("looking the page up: %v", err)
	}
	return p.run(t, view.Pull(p.ack))
}

// run runs the messages of d the page had not run, as the runtime does.
func (p *Page) run(t *testing.T, d reverse.Delivery) []message {
	t.Helper()
	if d.Reset != nil {
		t.Fatalf("the page's session was reset: %s", d.Reset.Reason)
	}
	raw, err := json.Marshal(d.Messages)
	if err != nil {
		t.Fatal(err)
	}
	var ms []message
	if err := json.Unmarshal(raw, &ms); err != nil {
		t.Fatal(err)
	}
	var fresh []message
	for _, m := range ms {
		if m.Seq <= p.ack {
			continue // sent again: the page skips it
		}
		if m.Seq != p.ack+1 {
			t.Fatalf("gap: message %d after %d", m.Seq, p.ack)
		}
		p.ack = m.Seq
		var arg string
		if len(m.Args) > 0 && json.Unmarshal(m.Args[0], &arg) == nil {
			p.Ran = append(p.Ran, arg)
		}
		fresh = append(fresh, m)
	}
	return fresh
}

// Poll takes what hub h has for the page, as a held request there does,
// and runs it.
func (p *Page) Poll(t *testing.T, h *reverse.Hub) { p.poll(t, h) }

// WaitRan polls hub h until the page ran n calls.
func (p *Page) WaitRan(t *testing.T, h *reverse.Hub, n int) {
	t.Helper()
	deadline := time.Now().Add(hang)
	for len(p.Ran) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the page ran %d calls, not %d: %q", len(p.Ran), n, p.Ran)
		}
		p.poll(t, h)
		time.Sleep(time.Millisecond)
	}
}

func equal(t *testing.T, what string, want, got []string) {
	t.Helper()
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Fatalf("%s: want %q, got %q", what, want, got)
	}
}

func testFarSessions(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	hs, _ := hubs(t, connect, 2)
	a, b := hs[0], hs[1]
	s, err := a.Open("/room", "browser")
	if err != nil {
		t.Fatal(err)
	}
	s.Join("g")
	if err := a.SetUser("browser", "ann"); err != nil {
		t.Fatal(err)
	}
	view := waitFor(t, "the session known to the other hub", func() (*reverse.Session, bool) {
		v, err := b.Lookup(s.ID(), "browser")
		return v, err == nil && v.User() == "ann" && len(v.Groups()) == 1
	})
	if _, err := b.Lookup(s.ID(), "someone else"); !errors.Is(err, reverse.ErrForeignSession) {
		t.Fatalf("another browser's lookup: %v, want ErrForeignSession", err)
	}
	view.Join("h")
	waitFor(t, "the holder learning of a join made elsewhere", func() (bool, bool) { return true, len(s.Groups()) == 2 })
	if err := b.Group("h").Call("f", "to h"); err != nil {
		t.Fatal(err)
	}
	if err := b.User("ann").Call("f", "to ann"); err != nil {
		t.Fatal(err)
	}
	if err := view.SetShared("seat", "12B"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the holder reading a shared attribute set elsewhere", func() (bool, bool) {
		var seat string
		ok, err := s.GetShared("seat", &seat)
		return true, ok && err == nil && seat == "12B"
	})
	err = b.Where(func(x *reverse.Session) bool {
		var seat string
		ok, err := x.GetShared("seat", &seat)
		return ok && err == nil && seat == "12B"
	}).Call("f", "to 12B")
	if err != nil {
		t.Fatal(err)
	}
	p := &Page{ID: s.ID(), Browser: "browser"}
	p.WaitRan(t, a, 3)
	equal(t, "calls from the other hub", []string{"to h", "to ann", "to 12B"}, p.Ran)

	ended := make(chan string, 2)
	a.OnSessionEnd(func(_ *reverse.Session, reason string) { ended <- reason })
	b.OnSessionEnd(func(_ *reverse.Session, reason string) { ended <- reason })
	view.Close()
	select {
	case reason := <-ended:
		if reason != reverse.ReasonClosed {
			t.Fatalf("ended with %q", reason)
		}
	case <-time.After(hang):
		t.Fatal("closing on another hub did not end the session")
	}
	waitFor(t, "every hub forgetting the session", func() (bool, bool) {
		_, err := b.Lookup(s.ID(), "browser")
		return true, errors.Is(err, reverse.ErrNotFound)
	})
	select {
	case reason := <-ended:
		t.Fatalf("OnSessionEnd ran twice (%s)", reason)
	case <-time.After(settle):
	}
}

// testMoves moves one page's session between three hubs at random, as a
// balancer without sticky sessions sends its polls, while all three call
// it and change its groups: the page runs every call once, in one order.
func testMoves(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	hs, _ := hubs(t, connect, 3)
	s, err := hs[0].Open("/p", "browser")
	if err != nil {
		t.Fatal(err)
	}
	p := &Page{ID: s.ID(), Browser: "browser"}
	rng := rand.New(rand.NewPCG(1, 2))
	var want []string
	in := false
	for i := range 300 {
		h := hs[rng.IntN(3)]
		arg := fmt.Sprint(i)
		switch rng.IntN(5) {
		case 0:
			p.poll(t, h)
		case 1:
			view, err := h.Lookup(p.ID, p.Browser)
			if err != nil {
				t.Fatal(err)
			}
			if in {
				view.Leave("g")
			} else {
				view.Join("g")
			}
			in = !in
		case 2:
			if err := h.Group("g").Call("f", arg); err != nil {
				t.Fatal(err)
			}
			if in {
				want = append(want, arg)
			}
		default:
			if err := h.Page("/p").Call("f", arg); err != nil {
				t.Fatal(err)
			}
			want = append(want, arg)
		}
	}
	p.WaitRan(t, hs[0], len(want))
	equal(t, "what the page ran", want, p.Ran)
}

// threeHubsAndAPage starts three hubs and opens a page's session, of the
// page /p in the browser "browser", on the first.
func threeHubsAndAPage(t *testing.T, connect func(t *testing.T) reverse.Backplane) ([]*reverse.Hub, []*Mortal, *reverse.Session, *Page) {
	t.Helper()
	hs, ms := hubs(t, connect, 3)
	s, err := hs[0].Open("/p", "browser")
	if err != nil {
		t.Fatal(err)
	}
	return hs, ms, s, &Page{ID: s.ID(), Browser: "browser"}
}

// testTakeover kills the hub holding a page; another takes the page over,
// rebuilding its session from the log, twice over.
func testTakeover(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	hs, ms, s, p := threeHubsAndAPage(t, connect)
	a, b, c := hs[0], hs[1], hs[2]
	var want []string
	call := func(target reverse.Target, arg string, reaches bool) {
		t.Helper()
		if err := target.Call("f", arg); err != nil {
			t.Fatal(err)
		}
		if reaches {
			want = append(want, arg)
		}
	}
	call(b.Page("/p"), "1", true)
	p.WaitRan(t, a, 1)
	if err := s.SetShared("seat", 9); err != nil {
		t.Fatal(err)
	}
	call(c.Group("g"), "2", false)
	s.Join("g")
	call(c.Group("g"), "3", true)
	call(b.Session(p.ID), "4", true)
	// Wait until every hub read the calls, as a page's next poll would.
	waitFor(t, "the calls in the holder's outbox", func() (bool, bool) { return true, len(s.Pending(p.ack).Messages) == 2 })
	ms[0].Kill()
	call(c.Page("/p"), "5", true)
	p.WaitRan(t, b, len(want))
	equal(t, "rebuilt from the open entry", want, p.Ran)

	view, err := c.Lookup(p.ID, "browser")
	if err != nil {
		t.Fatal(err)
	}
	view.Leave("g")
	call(c.Group("g"), "6", false)
	call(c.All(), "7", true)
	held, err := b.Hold(view)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the calls in the holder's outbox", func() (bool, bool) { return true, len(held.Pending(p.ack).Messages) == 1 })
	ms[1].Kill()
	p.WaitRan(t, c, len(want))
	equal(t, "rebuilt from the checkpoint", want, p.Ran)
	rebuilt, err := c.Lookup(p.ID, "browser")
	if err != nil {
		t.Fatal(err)
	}
	var seat int
	if ok, err := rebuilt.GetShared("seat", &seat); !ok || err != nil || seat != 9 {
		t.Fatalf("the shared attribute after two rebuilds: %v %v %d", ok, err, seat)
	}
}

// testFetch serves a page that holds no connection, a passive page's
// calls and a polling page's polls, on hubs that do not hold its session:
// each gets what the holder has, acknowledges through it, and the session
// stays where it is; once its holder died, the next request takes it over.
func testFetch(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	hs, ms, s, p := threeHubsAndAPage(t, connect)
	a, b, c := hs[0], hs[1], hs[2]
	var want []string
	call := func(arg string) {
		t.Helper()
		if err := c.Page("/p").Call("f", arg); err != nil {
			t.Fatal(err)
		}
		want = append(want, arg)
	}
	pullUntil := func(h *reverse.Hub, n int) {
		t.Helper()
		waitFor(t, "the page to pull its calls", func() (bool, bool) { p.pull(t, h); return true, len(p.Ran) >= n })
	}
	call("1")
	call("2")
	pullUntil(b, 2)
	if a.Len() != 1 || b.Len() != 0 {
		t.Fatalf("the session moved: held by %d and %d sessions", a.Len(), b.Len())
	}
	p.pull(t, b) // acknowledges 2 through b
	waitFor(t, "the ack to reach the holder", func() (bool, bool) { return true, len(s.Pending(0).Messages) == 0 })

	call("3")
	view, err := c.Lookup(p.ID, p.Browser)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a poll on another hub", func() (bool, bool) {
		rec := httptest.NewRecorder()
		c.ServePoll(rec, view, p.ack)
		var d struct {
			reverse.Delivery
			Messages []message `json:"messages"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
			t.Fatalf("the poll's reply %q: %v", rec.Body, err)
		}
		if d.Advice == nil || d.Advice.Interval <= 0 {
			t.Fatalf("the poll's reply has no interval: %s", rec.Body)
		}
		for _, m := range d.Messages {
			if m.Seq == p.ack+1 {
				p.ack = m.Seq
				var arg string
				_ = json.Unmarshal(m.Args[0], &arg)
				p.Ran = append(p.Ran, arg)
			}
		}
		return true, len(p.Ran) == 3
	})
	if a.Len() != 1 || c.Len() != 0 {
		t.Fatalf("the session moved: held by %d and %d sessions", a.Len(), c.Len())
	}

	ms[0].Kill()
	call("4")
	pullUntil(b, 4)
	equal(t, "what the page ran", want, p.Ran)
	if b.Len() != 1 {
		t.Fatal("the page's hub died, and the hub that served it next did not take its session over")
	}
}

// testInvoke invokes pages held by two hubs and gathers both answers, one
// given on a hub that does not hold its page.
func testInvoke(t *testing.T, connect func(t *testing.T) reverse.Backplane) {
	hs, _ := hubs(t, connect, 2)
	a := hs[0]
	var pages []*Page
	for i, h := range hs {
		s, err := h.Open("/room", fmt.Sprint("browser", i))
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, &Page{ID: s.ID(), Browser: s.HTTPSession()})
	}
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	done := make(chan []reverse.Reply, 1)
	go func() {
		r, err := a.Page("/room").Invoke(ctx, "ask")
		if err != nil {
			r = []reverse.Reply{{Err: err}}
		}
		done <- r
	}()
	for i, p := range pages {
		holder := hs[i]
		var m message
		waitFor(t, "the invocation", func() (bool, bool) {
			for _, x := range p.poll(t, holder) {
				if x.Invoke != "" {
					m = x
					return true, true
				}
			}
			return false, false
		})
		// The page answers through the other hub.
		view, err := hs[1-i].Lookup(p.ID, p.Browser)
		if err != nil {
			t.Fatal(err)
		}
		if err := view.Answer(m.Invoke, json.RawMessage(fmt.Sprint(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	replies := <-done
	if len(replies) != 2 {
		t.Fatalf("replies: %+v", replies)
	}
	for _, r := range replies {
		if r.Err != nil {
			t.Fatalf("reply of %s: %v", r.Session, r.Err)
		}
	}
}
