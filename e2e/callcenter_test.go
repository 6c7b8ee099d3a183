package e2e

import (
	"context"
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
