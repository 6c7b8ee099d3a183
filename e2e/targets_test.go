package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// targetsServer serves the test page at /targets/ under a strict CSP,
// with a Targets service through which pages join groups, log in and
// set attributes.
func targetsServer(t *testing.T) (*reverse.Hub, string) {
	t.Helper()
	hub := reverse.NewHub()
	t.Cleanup(hub.Close)
	srv := rpc.NewServer(rpc.WithHub(hub))
	script := func(ctx context.Context) *reverse.Session { return rpc.CallFrom(ctx).ScriptSession }
	str := func(args rpc.Args, i int) (string, error) {
		var s string
		return s, args.Decode(i, &s)
	}
	method := func(name string, params []string, fn func(ctx context.Context, args rpc.Args) (any, error)) rpc.MethodDesc {
		return rpc.MethodDesc{Name: name, Params: params, Handler: fn}
	}
	srv.Register(rpc.ServiceDesc{Name: "Targets", Methods: []rpc.MethodDesc{
		method("join", []string{"group"}, func(ctx context.Context, args rpc.Args) (any, error) {
			g, err := str(args, 0)
			script(ctx).Join(g)
			return nil, err
		}),
		method("leave", []string{"group"}, func(ctx context.Context, args rpc.Args) (any, error) {
			g, err := str(args, 0)
			script(ctx).Leave(g)
			return nil, err
		}),
		method("login", []string{"user"}, func(ctx context.Context, args rpc.Args) (any, error) {
			u, err := str(args, 0)
			if err != nil {
				return nil, err
			}
			return nil, hub.SetUser(rpc.CallFrom(ctx).HTTPSessionID, u)
		}),
		method("set", []string{"key", "value"}, func(ctx context.Context, args rpc.Args) (any, error) {
			k, err := str(args, 0)
			if err != nil {
				return nil, err
			}
			v, err := str(args, 1)
			script(ctx).Set(k, v)
			return nil, err
		}),
		method("browser", nil, func(ctx context.Context, args rpc.Args) (any, error) {
			return rpc.CallFrom(ctx).HTTPSessionID, nil
		}),
	}})
	mux := http.NewServeMux()
	mux.Handle("/parley/", srv)
	files := http.StripPrefix("/targets/", http.FileServer(http.Dir("testdata/targets")))
	mux.Handle("/targets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; object-src 'none'")
		files.ServeHTTP(w, r)
	}))
	return hub, serve(t, mux)
}

// tab is one open test page and its script session.
type tab struct {
	ctx     context.Context
	session string
}

func openTargets(t *testing.T, ctx context.Context, url, name string) tab {
	t.Helper()
	openPage(t, ctx, url+"/targets/")
	eval[any](t, ctx, `sessionStorage.setItem("tab", `+jsString(name)+`)`)
	return tab{ctx: ctx, session: eval[string](t, ctx, `parley.session`)}
}

// settle sends a marker to every page and waits for it: the calls sent
// before it have been run, since each page runs calls in order.
func settle(t *testing.T, hub *reverse.Hub, tabs ...tab) {
	t.Helper()
	marker := "marker " + time.Now().Format(time.RFC3339Nano)
	require.NoError(t, hub.All().Call("note", marker))
	for _, tb := range tabs {
		waitFor(t, tb.ctx, `window.received.includes(`+jsString(marker)+`)`)
		eval[any](t, tb.ctx, `window.received = window.received.filter(x => !x.startsWith("marker "))`)
	}
}

func received(t *testing.T, tb tab) []string {
	t.Helper()
	out := eval[[]string](t, tb.ctx, `window.received.splice(0)`)
	if out == nil {
		out = []string{}
	}
	return out
}

func TestTargetsInTheBrowser(t *testing.T) {
	hub, url := targetsServer(t)
	aliceBrowser, bobBrowser := newUser(t), newUser(t)
	alice1 := openTargets(t, aliceBrowser, url, "alice1")
	alice2 := openTargets(t, newTab(t, aliceBrowser), url, "alice2")
	bob := openTargets(t, bobBrowser, url, "bob")
	all := []tab{alice1, alice2, bob}
	require.Equal(t, 3, hub.Len())

	t.Run("groups", func(t *testing.T) {
		eval[any](t, alice1.ctx, `service("join", "g")`)
		eval[any](t, bob.ctx, `service("join", "g")`)
		require.NoError(t, hub.Group("g").Call("note", "to g"))
		eval[any](t, bob.ctx, `service("leave", "g")`)
		require.NoError(t, hub.Group("g").Call("note", "to g after bob left"))
		settle(t, hub, all...)
		assert.Equal(t, []string{"to g", "to g after bob left"}, received(t, alice1))
		assert.Equal(t, []string{}, received(t, alice2))
		assert.Equal(t, []string{"to g"}, received(t, bob))
	})

	t.Run("user across two tabs of one browser", func(t *testing.T) {
		eval[any](t, alice2.ctx, `service("login", "alice")`)
		require.NoError(t, hub.User("alice").Call("note", "to alice"))
		settle(t, hub, all...)
		assert.Equal(t, []string{"to alice"}, received(t, alice1), "bound by a login in the other tab")
		assert.Equal(t, []string{"to alice"}, received(t, alice2))
		assert.Equal(t, []string{}, received(t, bob))
	})

	t.Run("HTTP session", func(t *testing.T) {
		browser := eval[string](t, bob.ctx, `service("browser")`)
		require.NoError(t, hub.HTTPSession(browser).Call("note", "to bob's browser"))
		settle(t, hub, all...)
		assert.Equal(t, []string{}, received(t, alice1))
		assert.Equal(t, []string{"to bob's browser"}, received(t, bob))
	})

	t.Run("where with attributes", func(t *testing.T) {
		eval[any](t, alice2.ctx, `service("set", "tier", "gold")`)
		eval[any](t, bob.ctx, `service("set", "tier", "gold")`)
		eval[any](t, alice1.ctx, `service("set", "tier", "silver")`)
		require.NoError(t, hub.Where(func(s *reverse.Session) bool { return s.Get("tier") == "gold" }).Call("note", "to gold"))
		settle(t, hub, all...)
		assert.Equal(t, []string{}, received(t, alice1))
		assert.Equal(t, []string{"to gold"}, received(t, alice2))
		assert.Equal(t, []string{"to gold"}, received(t, bob))
	})

	t.Run("pub/sub with wildcards", func(t *testing.T) {
		eval[any](t, alice1.ctx, `subscribe("/stocks/*")`)
		eval[any](t, alice2.ctx, `subscribe("/stocks/**")`)
		eval[any](t, bob.ctx, `subscribe("/stocks/GOOG")`)
		require.NoError(t, hub.Publish("/stocks/GOOG", map[string]float64{"price": 101.25}))
		require.NoError(t, hub.Publish("/stocks/GOOG/bid", 100))
		require.NoError(t, hub.Publish("/bonds/UST", 1))
		settle(t, hub, all...)
		published := func(tb tab) []string { return eval[[]string](t, tb.ctx, `window.published.splice(0)`) }
		assert.Equal(t, []string{`/stocks/*|/stocks/GOOG|{"price":101.25}`}, published(alice1))
		assert.Equal(t, []string{`/stocks/**|/stocks/GOOG|{"price":101.25}`, `/stocks/**|/stocks/GOOG/bid|100`}, published(alice2))
		assert.Equal(t, []string{`/stocks/GOOG|/stocks/GOOG|{"price":101.25}`}, published(bob))

		// Unsubscribing stops publications.
		eval[any](t, alice1.ctx, `parley.unsubscribe("/stocks/*")`)
		require.NoError(t, hub.Publish("/stocks/AAPL", 7))
		settle(t, hub, all...)
		assert.Empty(t, published(alice1))
		assert.Equal(t, []string{`/stocks/**|/stocks/AAPL|7`}, published(alice2))

		// After a gap, the page's new session is subscribed again.
		browser := eval[string](t, bob.ctx, `service("browser")`)
		old, err := hub.Lookup(bob.session, browser)
		require.NoError(t, err)
		old.Close()
		waitFor(t, bob.ctx, `parley.session !== "" && parley.session !== `+jsString(bob.session))
		bob.session = eval[string](t, bob.ctx, `parley.session`)
		fresh, err := hub.Lookup(bob.session, browser)
		require.NoError(t, err)
		for len(fresh.Subscriptions()) == 0 {
			require.NoError(t, bob.ctx.Err(), "the runtime did not subscribe its new session")
			time.Sleep(10 * time.Millisecond)
		}
		assert.Equal(t, []string{"/stocks/GOOG"}, fresh.Subscriptions())
		require.NoError(t, hub.Publish("/stocks/GOOG", 102))
		waitFor(t, bob.ctx, `window.published.length > 0`)
		assert.Equal(t, []string{`/stocks/GOOG|/stocks/GOOG|102`}, published(bob))
	})

	t.Run("invoke", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		replies, err := hub.HTTPSession(eval[string](t, alice1.ctx, `service("browser")`)).Invoke(ctx, "Probe.ask", "hi")
		require.NoError(t, err)
		require.Len(t, replies, 2, "one reply per page of alice's browser")
		tabs := map[string]string{}
		for _, r := range replies {
			var v struct{ Tab, X string }
			require.NoError(t, r.Decode(&v))
			assert.Equal(t, "hi", v.X)
			tabs[r.Session] = v.Tab
		}
		assert.Equal(t, map[string]string{alice1.session: "alice1", alice2.session: "alice2"}, tabs)

		replies, err = hub.Session(alice2.session).Invoke(ctx, "Probe.later", 21)
		require.NoError(t, err)
		require.Len(t, replies, 1)
		var n int
		require.NoError(t, replies[0].Decode(&n))
		assert.Equal(t, 42, n, "a Promise's value")

		replies, err = hub.Session(alice1.session).Invoke(ctx, "Probe.fails")
		require.NoError(t, err)
		require.Len(t, replies, 1)
		var perr *reverse.PageError
		require.ErrorAs(t, replies[0].Err, &perr)
		assert.Equal(t, reverse.PageError{Name: "RangeError", Message: "out of range here"}, *perr)

		short, cancelShort := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancelShort()
		replies, err = hub.Session(bob.session).Invoke(short, "Probe.never")
		require.NoError(t, err)
		require.Len(t, replies, 1)
		assert.True(t, errors.Is(replies[0].Err, reverse.ErrNoReply), "a page that never answers times out: %v", replies[0].Err)
	})

	t.Run("DOM helpers", func(t *testing.T) {
		dom := hub.Session(alice1.session).DOM()
		require.NoError(t, dom.SetText("#out", "<b>x</b>"))
		require.NoError(t, dom.SetHTML("#html", "<b>y</b>"))
		require.NoError(t, dom.SetValue("#field", "typed"))
		require.NoError(t, dom.AddClass("#marked", "hot", "new"))
		require.NoError(t, dom.RemoveClass("#marked", "keep"))
		require.NoError(t, dom.Remove("#doomed"))
		require.NoError(t, dom.AddRows("#rows",
			reverse.Row{ID: "r1", Cells: []string{"Ann", "<i>hi</i>"}},
			reverse.Row{ID: "r2", Cells: []string{"Bo", "ok"}}))
		settle(t, hub, alice1)
		assert.Equal(t, "<b>x</b>", eval[string](t, alice1.ctx, `document.getElementById("out").textContent`), "text appears literally")
		assert.Zero(t, eval[int](t, alice1.ctx, `document.querySelectorAll("#out b").length`), "not as bold")
		assert.Equal(t, "y", eval[string](t, alice1.ctx, `document.querySelector("#html b").textContent`), "SetHTML parses")
		assert.Equal(t, "typed", eval[string](t, alice1.ctx, `document.getElementById("field").value`))
		assert.Equal(t, "hot new", eval[string](t, alice1.ctx, `document.getElementById("marked").className`))
		assert.False(t, eval[bool](t, alice1.ctx, `document.getElementById("doomed") !== null`))
		assert.Equal(t, [][]string{{"Ann", "<i>hi</i>"}, {"Bo", "ok"}}, eval[[][]string](t, alice1.ctx,
			`[...document.querySelectorAll("#rows tbody tr")].map(tr => [...tr.cells].map(td => td.textContent))`))
		assert.Zero(t, eval[int](t, alice1.ctx, `document.querySelectorAll("#rows i").length`))
		assert.Equal(t, "r2", eval[string](t, alice1.ctx, `document.querySelectorAll("#rows tbody tr")[1].id`))

		require.NoError(t, dom.RemoveRows("#rows"))
		settle(t, hub, alice1)
		assert.Zero(t, eval[int](t, alice1.ctx, `document.querySelectorAll("#rows tbody tr").length`))
		assert.Equal(t, 1, eval[int](t, alice1.ctx, `document.querySelectorAll("#rows thead tr").length`), "the head stays")
		assert.Equal(t, "empty", eval[string](t, alice2.ctx, `document.getElementById("out").textContent`), "other pages untouched")
	})

	for _, tb := range all {
		assert.Empty(t, eval[[]string](t, tb.ctx, `window.errors`), "no runtime errors on %s", tb.session)
	}
}
