package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse"
)

// openTabs opens n tabs of the browser of user on url and waits until each
// is ready. It returns each tab with the function that closes it.
func openTabs(t *testing.T, user context.Context, url string, n int) ([]context.Context, []context.CancelFunc) {
	t.Helper()
	require.NoError(t, chromedp.Do(user), "the first tab must exist before its browser context can be inherited")
	var tabs []context.Context
	var closers []context.CancelFunc
	for range n {
		tab, cancel := chromedp.NewContext(user)
		t.Cleanup(cancel)
		openPage(t, tab, url)
		tabs = append(tabs, tab)
		closers = append(closers, cancel)
	}
	return tabs, closers
}

// eventuallyIn reports whether expr became true in tab within d, polling
// by Evaluate (which a hidden or frozen page still answers).
func eventuallyIn(tab context.Context, expr string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](expr)); err == nil && ok {
			return true
		}
	}
	return false
}

// heldConnections is how many connections the hub holds open now.
func heldConnections(hub *reverse.Hub) int {
	n := 0
	for _, c := range hub.Stats().Held {
		n += c
	}
	return n
}

// roles returns how many of tabs lead and how many follow.
func roles(t *testing.T, tabs []context.Context) (leaders, followers int) {
	for _, tab := range tabs {
		switch eval[string](t, tab, `parley.role`) {
		case "leader":
			leaders++
		case "follower":
			followers++
		}
	}
	return leaders, followers
}

// TestTabsShareOneConnection opens 12 tabs of one browser over plain
// HTTP/1.1, where a browser opens at most 6 connections to a host: they
// elect one leader, which holds the one connection the server sees for
// them, and every tab gets its own reverse calls through it and makes its
// own calls. A second browser's tabs share a connection of their own.
// Then 1,000 calls stream to every page while the leader's tab closes,
// and then the next leader's: every tab left gets each call exactly
// once, in order.
func TestTabsShareOneConnection(t *testing.T) {
	for _, transport := range []string{"websocket", "sse", "longpoll"} {
		t.Run(transport, func(t *testing.T) { tabsShareOneConnection(t, transport) })
	}
}

func tabsShareOneConnection(t *testing.T, transport string) {
	// Outboxes hold every call of the test: a tab frozen, or slow on a
	// loaded machine, may acknowledge none for a while, and this test is
	// about handoffs, not the outbox bound.
	hub, url := transportServerWith(t, serve, reverse.WithLimits(reverse.Limits{OutboxMessages: 4000}))
	pageURL := url + "/transports/?transport=" + transport
	first := newUserFor(t, 4*time.Minute) // stays on about:blank: closing it would close the browser context
	tabs, closeTab := openTabs(t, first, pageURL, 12)
	require.Eventually(t, func() bool { return hub.Len() == 12 && heldConnections(hub) == 1 }, 20*time.Second, 10*time.Millisecond,
		"12 sessions, 1 held connection: %d sessions, held %v", hub.Len(), hub.Stats().Held)
	leaders, followers := roles(t, tabs)
	assert.Equal(t, 1, leaders)
	assert.Equal(t, 11, followers)
	require.Equal(t, "leader", eval[string](t, tabs[0], `parley.role`), "the first tab took the lock")
	for _, tab := range tabs {
		assert.Equal(t, transport, eval[string](t, tab, `parley.transport`))
	}

	require.NoError(t, hub.Page("/transports/").Call("f", 0))
	for _, tab := range tabs {
		waitFor(t, tab, `window.received.length >= 1`)
		assert.Equal(t, []int{0}, eval[[]int](t, tab, `window.received`), "each tab once")
	}
	for _, tab := range tabs {
		assert.Equal(t, "x", eval[string](t, tab, `parley.call("Echo", "echo", ["x"], {timeout: 5000})`), "a call from every tab completes")
	}

	other := newUserFor(t, 4*time.Minute)
	others, _ := openTabs(t, other, pageURL, 3)
	require.Eventually(t, func() bool { return hub.Len() == 15 && heldConnections(hub) == 2 }, 20*time.Second, 10*time.Millisecond,
		"another browser shares a connection of its own: %d sessions, held %v, shared %d", hub.Len(), hub.Stats().Held, hub.Stats().SharedSessions)
	assert.Equal(t, "leader", eval[string](t, others[0], `parley.role`))

	// Stream 1,000 calls. On the way, the leader's tab closes, then the
	// next leader's; the third's is frozen by the browser, and later
	// resumed. (A crash cannot be tested here: the tabs of one site share
	// a renderer process, which a crash takes down with all of them.)
	const n = 1000
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; i <= n; i++ {
			assert.NoError(t, hub.Page("/transports/").Call("f", i))
			time.Sleep(3 * time.Millisecond)
		}
	})
	waitFor(t, tabs[5], `window.received.length >= 200`)
	closeTab[0]()
	waitFor(t, tabs[1], `parley.role === "leader"`)
	waitFor(t, tabs[5], `window.received.length >= 450`)
	closeTab[1]()
	waitFor(t, tabs[2], `parley.role === "leader"`)
	waitFor(t, tabs[5], `window.received.length >= 700`)
	freeze := func(state page.SetWebLifecycleStateState) {
		_, err := chromedp.Call(tabs[2], page.SetWebLifecycleState, page.SetWebLifecycleStateParams{State: state})
		require.NoError(t, err)
	}
	freeze(page.SetWebLifecycleStateStateFrozen)
	waitFor(t, tabs[3], `parley.role === "leader"`)
	wg.Wait()
	if !eventuallyIn(tabs[5], `window.received.length >= 1001`, time.Minute) {
		for i, tab := range tabs[2:] {
			t.Logf("tab %d: role %q, state %q, transport %q, %d received, gaps %v, states %v", i+2,
				eval[string](t, tab, `parley.role`), eval[string](t, tab, `parley.state`), eval[string](t, tab, `parley.transport`),
				eval[int](t, tab, `window.received.length`), eval[[]string](t, tab, `window.gaps`), eval[[]string](t, tab, `window.states.slice(-10)`))
		}
		t.Fatalf("tab 5 did not get every call; the hub: %+v", hub.Stats())
	}
	freeze(page.SetWebLifecycleStateStateActive)
	waitFor(t, tabs[2], `parley.role === "follower"`)

	check := func(name string, tab context.Context, from int) {
		waitWithin(t, tab, fmt.Sprintf(`window.received.length >= %d`, n+1-from), time.Minute)
		time.Sleep(50 * time.Millisecond) // room for a late duplicate to show
		want := make([]int, 0, n+1)
		for v := from; v <= n; v++ {
			want = append(want, v)
		}
		require.Equal(t, want, eval[[]int](t, tab, `window.received`), "%s: exactly once, in order", name)
		assert.Empty(t, eval[[]string](t, tab, `window.gaps`), "%s: nothing lost", name)
	}
	for i, tab := range tabs[2:] {
		check(fmt.Sprintf("tab %d", i+2), tab, 0) // the frozen tab too, once resumed
	}
	for i, tab := range others { // opened after the first call
		check(fmt.Sprintf("other browser's tab %d", i), tab, 1)
	}
	leaders, _ = roles(t, tabs[2:])
	assert.Equal(t, 1, leaders, "one leader left among the first browser's tabs")
}

// TestChatTwelveTabs opens the chat in 12 tabs of one browser over plain
// HTTP/1.1: every tab loads and connects, the server holds one connection
// for them, every tab sends a message, and each shows in every tab once,
// in the same order.
// Besides the default, it runs with SSE and long-poll remembered as the
// transport that works, since those (unlike WebSockets) count against a
// browser's 6 connections per host.
func TestChatTwelveTabs(t *testing.T) {
	for _, transport := range []string{"", "sse", "longpoll"} {
		t.Run("remembered="+transport, func(t *testing.T) {
			app, url := chatServer(t)
			user := newUser(t)
			// A page of the origin that runs no Parley, to set what is remembered.
			require.NoError(t, chromedp.Do(user, chromedp.Navigate(url+"/parley/engine.js")))
			if transport != "" {
				eval[chromedp.Void](t, user, fmt.Sprintf(`localStorage.setItem("parley:transport:" + new URL("/parley/", location.href).href, JSON.stringify({t: %q, at: Date.now()}))`, transport))
			}
			tabs, _ := openTabs(t, user, url+"/", 12)
			require.Eventually(t, func() bool { return app.Hub.Len() == 12 && heldConnections(app.Hub) == 1 }, 20*time.Second, 10*time.Millisecond,
				"12 chat tabs, 1 held connection: %d sessions, held %v", app.Hub.Len(), app.Hub.Stats().Held)
			if transport != "" {
				assert.Equal(t, 1, app.Hub.Stats().Held[transport], "held by %s: %v", transport, app.Hub.Stats().Held)
			}
			// A call from every tab completes, and every message reaches
			// every tab once, in the same order.
			for i, tab := range tabs {
				send(t, tab, fmt.Sprintf("hello from tab %d", i))
			}
			var first []shown
			for i, tab := range tabs {
				waitFor(t, tab, `document.querySelectorAll("#messages li").length >= 12`)
				time.Sleep(20 * time.Millisecond)
				got := eval[[]shown](t, tab, readMessages)
				require.Len(t, got, 12, "tab %d: exactly once", i)
				for j, m := range got {
					assert.Equal(t, int64(j+1), m.ID, "tab %d: in order", i)
				}
				if first == nil {
					first = got
				}
				assert.Equal(t, first, got, "tab %d shows what tab 0 shows", i)
			}
			texts := map[string]bool{}
			for _, m := range first {
				texts[m.Text] = true
			}
			assert.Len(t, texts, 12, "one message from each tab")
		})
	}
}

// TestTabsWithoutWebLocks opens 8 tabs of one browser whose pages have no
// Web Locks, so they cannot share: each holds a connection of its own
// while the browser holds fewer than 4, and the others poll instead of
// holding one more. Every tab loads, and every tab gets its calls.
func TestTabsWithoutWebLocks(t *testing.T) {
	hub, url := transportServer(t)
	user := newUser(t)
	require.NoError(t, chromedp.Do(user))
	var tabs []context.Context
	for range 8 {
		tab := newTab(t, user)
		require.NoError(t, chromedp.Do(tab))
		_, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `Object.defineProperty(Navigator.prototype, "locks", {get: () => undefined});`,
		})
		require.NoError(t, err)
		openPage(t, tab, url+"/transports/?transport=sse")
		tabs = append(tabs, tab)
	}
	assert.Equal(t, 8, hub.Len())
	// A page is ready once its session is open; its first poll follows.
	require.Eventually(t, func() bool { return hub.Stats().Sessions["poll"] >= 4 }, 20*time.Second, 10*time.Millisecond,
		"sessions: %v", hub.Stats().Sessions)
	st := hub.Stats()
	assert.LessOrEqual(t, st.Held["sse"], 4, "held: %v", st.Held)
	for _, tab := range tabs {
		assert.Empty(t, eval[string](t, tab, `parley.role`), "no tab shares")
	}
	require.NoError(t, hub.Page("/transports/").Call("f", 7))
	for i, tab := range tabs {
		waitFor(t, tab, `window.received.length >= 1`)
		assert.Equal(t, []int{7}, eval[[]int](t, tab, `window.received`), "tab %d", i)
	}
}

// TestHiddenTabsKeepReceiving opens 4 tabs of one browser in one window,
// where only the active tab is visible and the browser throttles the
// others: the hidden ones keep getting every call through the leader, in
// order, and report the shared connection's state.
func TestHiddenTabsKeepReceiving(t *testing.T) {
	hub, url := transportServer(t)
	user := newUser(t)
	require.NoError(t, chromedp.Do(user))
	// Hidden tabs get no animation frames, so waits here poll by Evaluate.
	until := func(tab context.Context, expr string) {
		t.Helper()
		require.Eventually(t, func() bool { return eval[bool](t, tab, expr) }, 20*time.Second, 20*time.Millisecond, expr)
	}
	var tabs []context.Context
	for range 4 {
		tab, cancel := chromedp.NewContext(user, chromedp.WithNewWindow(false))
		t.Cleanup(cancel)
		require.NoError(t, chromedp.Do(tab, chromedp.Navigate(url+"/transports/?transport=sse")))
		until(tab, `document.body.dataset.ready === "true"`)
		tabs = append(tabs, tab)
	}
	require.Eventually(t, func() bool { return heldConnections(hub) == 1 }, 20*time.Second, 10*time.Millisecond)
	hidden := 0
	for _, tab := range tabs {
		if eval[string](t, tab, `document.visibilityState`) == "hidden" {
			hidden++
		}
	}
	require.GreaterOrEqual(t, hidden, 2, "tabs in one window are hidden behind the active one")

	for i := range 50 {
		require.NoError(t, hub.Page("/transports/").Call("f", i))
	}
	want := make([]int, 50)
	for i := range want {
		want[i] = i
	}
	for i, tab := range tabs {
		until(tab, `window.received.length >= 50`)
		assert.Equal(t, want, eval[[]int](t, tab, `window.received`), "tab %d", i)
		assert.Equal(t, "connected", eval[string](t, tab, `parley.state`), "tab %d", i)
		assert.Equal(t, "sse", eval[string](t, tab, `parley.transport`), "tab %d", i)
	}
}
