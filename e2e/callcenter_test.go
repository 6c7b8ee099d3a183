package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/examples/callcenter/callcenter"
)

// signIn signs a supervisor in through the page's form.
func signIn(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.Click(chromedp.CSS("#sign-in button")),
	))
	waitFor(t, ctx, `document.getElementById("me").textContent === `+jsString(name))
}

// queued is what a page shows of its queue: each caller's text.
const queued = `[...document.querySelectorAll("#queue li .caller")].map(e => e.textContent)`

func TestCallCenterTwoSupervisors(t *testing.T) {
	app := callcenter.NewApp()
	t.Cleanup(app.Hub.Close)
	url := serve(t, app.Handler)
	alice, bob := newUser(t), newUser(t)
	openPage(t, alice, url+"/")
	aliceTab2 := newTab(t, alice) // once alice's browser exists: a tab of it, sharing its cookies
	openPage(t, aliceTab2, url+"/")
	openPage(t, bob, url+"/")
	signIn(t, alice, "alice")
	signIn(t, bob, "bob")

	const caller = "Zoë <b>VIP</b>"
	first := app.Center.Incoming(caller)
	app.Center.Incoming("Ravi")
	for _, page := range []context.Context{alice, bob} {
		waitFor(t, page, `document.querySelectorAll("#queue li").length === 2`)
		assert.Equal(t, []string{caller, "Ravi"}, eval[[]string](t, page, queued), "updateCallers shows every incoming call")
		assert.Equal(t, "2", eval[string](t, page, `document.getElementById("waiting").textContent`), "SetText set the count")
		assert.True(t, eval[bool](t, page, `document.getElementById("queue-panel").classList.contains("has-callers")`), "AddClass marked the queue")
	}

	// Alice takes the first call: it leaves bob's queue.
	require.NoError(t, chromedp.Do(alice, chromedp.Click(chromedp.CSS(`#queue li[data-id="1"] button`))))
	waitFor(t, bob, `document.querySelectorAll("#queue li").length === 1`)
	assert.Equal(t, []string{"Ravi"}, eval[[]string](t, bob, queued))
	assert.Equal(t, "1", eval[string](t, bob, `document.getElementById("waiting").textContent`))
	waitFor(t, bob, `document.getElementById("activity").textContent !== ""`)
	assert.Equal(t, "alice took the call from "+caller, eval[string](t, bob, `document.getElementById("activity").textContent`))
	assert.Zero(t, eval[int](t, bob, `document.querySelectorAll("#activity b, #queue b").length`), "callers' names are text, never markup")

	// Every tab of alice's browser lists the call she took, as a row
	// added by AddRows; bob's does not.
	for _, tab := range []context.Context{alice, aliceTab2} {
		waitFor(t, tab, `document.getElementById("mine-1") !== null`)
		assert.Equal(t, caller, eval[string](t, tab, `document.querySelector("#mine-1 td").textContent`))
		assert.Equal(t, first.Arrived.Format("15:04:05"), eval[string](t, tab, `document.querySelectorAll("#mine-1 td")[1].textContent`))
	}
	assert.Zero(t, eval[int](t, bob, `document.querySelectorAll("#mine tbody tr").length`))

	// Bob is too late for it.
	code := eval[string](t, bob, `import("/parley/interface/Supervisor.js").then(m =>
		m.Supervisor.take(1).then(() => "taken", e => e.code))`)
	assert.Equal(t, "failed_precondition", code)

	// Bob takes the last call: the queue is empty and unmarked everywhere.
	require.NoError(t, chromedp.Do(bob, chromedp.Click(chromedp.CSS(`#queue li[data-id="2"] button`))))
	waitFor(t, alice, `document.querySelectorAll("#queue li").length === 0`)
	waitFor(t, alice, `!document.getElementById("queue-panel").classList.contains("has-callers")`)
	assert.Equal(t, "0", eval[string](t, alice, `document.getElementById("waiting").textContent`))

	// Alice finishes her call: Remove takes its row off both her tabs.
	require.NoError(t, chromedp.Do(alice, chromedp.Click(chromedp.CSS("#mine-1"))))
	waitFor(t, aliceTab2, `document.getElementById("mine-1") === null`)
	waitFor(t, alice, `document.getElementById("mine-1") === null`)
	assert.Equal(t, "", eval[string](t, alice, `document.getElementById("error").textContent`))
}

// TestCallCenterWaitingTicks checks that a waiting call's time counts up
// in the page by itself, between the server's pushes.
func TestCallCenterWaitingTicks(t *testing.T) {
	app := callcenter.NewApp()
	t.Cleanup(app.Hub.Close)
	url := serve(t, app.Handler)
	page := newUser(t)
	openPage(t, page, url+"/")

	app.Center.Incoming("Ravi")
	waitFor(t, page, `document.querySelectorAll("#queue li").length === 1`)
	// Mark the row the push drew: a later push would replace it.
	require.NoError(t, chromedp.Do(page, chromedp.Evaluate[chromedp.Void](`window.pushedRow = document.querySelector("#queue li")`)))
	waited := `Number(/^waiting (\d+)s$/.exec(document.querySelector("#queue li .waited").textContent)?.[1])`
	first := eval[int](t, page, waited)
	waitFor(t, page, fmt.Sprintf(`%s >= %d`, waited, first+2))
	assert.True(t, eval[bool](t, page, `document.querySelector("#queue li") === window.pushedRow`), "the time ticked with no push")
}

// TestCallCenterNotFound checks the call centre's answers at addresses it
// does not serve, such as /parley/ where the debug page is off: a browser
// gets an HTML page, the runtime and API clients Parley's JSON error.
func TestCallCenterNotFound(t *testing.T) {
	app := callcenter.NewApp()
	t.Cleanup(app.Hub.Close)
	url := serve(t, app.Handler)
	page := newUser(t)
	openPage(t, page, url+"/")

	for _, path := range []string{"/parley/", "/parley/interface/Nobody.js", "/nowhere.html"} {
		t.Run(path, func(t *testing.T) {
			tab := newTab(t, page)
			resp, err := chromedp.Run(tab, chromedp.NavigateResponse(url+path))
			require.NoError(t, err)
			assert.EqualValues(t, http.StatusNotFound, resp.Status)
			assert.Equal(t, "text/html; charset=utf-8", resp.Headers["Content-Type"])
			assert.Equal(t, "Not found", eval[string](t, tab, `document.querySelector("h1").textContent`))
			assert.Equal(t, path, eval[string](t, tab, `document.querySelector("main code").textContent`))
			assert.True(t, eval[bool](t, tab, `[...document.styleSheets].some(s => s.href?.endsWith("/site.css"))`), "styled like the examples")
		})
	}

	// fetch, as the runtime does, asks for anything: the JSON error.
	got := eval[map[string]any](t, page, `fetch("/parley/").then(async r => ({status: r.status, type: r.headers.get("Content-Type"), body: await r.json()}))`)
	assert.EqualValues(t, http.StatusNotFound, got["status"])
	assert.Contains(t, got["type"], "application/json")
	body, _ := got["body"].(map[string]any)
	e, _ := body["error"].(map[string]any)
	assert.Equal(t, "not_found", e["code"])
	assert.NotEmpty(t, e["message"])
}
