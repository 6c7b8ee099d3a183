package e2e

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/examples/todo/todo"
)

// shownItem is an item as a to-do page displays it.
type shownItem struct {
	ID   int64  `json:"id"`
	Text string `json:"text"`
	Done bool   `json:"done"`
}

const readItems = `[...document.querySelectorAll("#items li")].map(li => ({
	id: Number(li.dataset.id),
	text: li.querySelector("span").textContent,
	done: li.querySelector("input").checked && li.classList.contains("done"),
}))`

// addItem types text into the page's form and submits it, as a person
// would.
func addItem(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("text"), text),
		chromedp.Click(chromedp.CSS("#add-form button")),
	))
	waitFor(t, ctx, `document.getElementById("text").value === ""`)
}

func TestTodoTwoUsers(t *testing.T) {
	app := todo.NewApp()
	t.Cleanup(app.Hub.Close)
	url := serve(t, app.Handler)
	alice, bob := newUser(t), newUser(t)
	openPage(t, alice, url+"/")
	openPage(t, bob, url+"/")

	// Added on one page, shown on both.
	addItem(t, alice, "buy milk")
	addItem(t, bob, "write tests")
	addItem(t, alice, "ship it")
	waitFor(t, bob, `document.querySelectorAll("#items li").length === 3`)
	waitFor(t, alice, `document.querySelectorAll("#items li").length === 3`)
	want := []shownItem{{1, "buy milk", false}, {2, "write tests", false}, {3, "ship it", false}}
	assert.Equal(t, want, eval[[]shownItem](t, alice, readItems))
	assert.Equal(t, want, eval[[]shownItem](t, bob, readItems))

	// Checked off on one page, crossed out on the other.
	require.NoError(t, chromedp.Do(bob, chromedp.Click(chromedp.CSS(`#items li[data-id="1"] input`))))
	waitFor(t, alice, `document.querySelector('#items li[data-id="1"]').classList.contains("done")`)
	assert.True(t, eval[bool](t, alice, `document.querySelector('#items li[data-id="1"] input').checked`))
	assert.Equal(t, "2 of 3 left", eval[string](t, alice, `document.getElementById("left").textContent`))

	// Removed on one page, gone from the other.
	require.NoError(t, chromedp.Do(alice, chromedp.Click(chromedp.CSS(`#items li[data-id="2"] .remove`))))
	for _, page := range []context.Context{bob, alice} { // each page by its own push
		waitFor(t, page, `document.querySelector('#items li[data-id="2"]') === null`)
	}
	want = []shownItem{{1, "buy milk", true}, {3, "ship it", false}}
	assert.Equal(t, want, eval[[]shownItem](t, bob, readItems))
	assert.Equal(t, want, eval[[]shownItem](t, alice, readItems))
	items, err := app.List.List(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []todo.Item{{ID: 1, Text: "buy milk", Done: true}, {ID: 3, Text: "ship it"}}, items)

	// A blank item is refused, with the error shown.
	require.NoError(t, chromedp.Do(bob,
		chromedp.SendKeys(chromedp.ID("text"), "   "),
		chromedp.Click(chromedp.CSS("#add-form button")),
	))
	waitFor(t, bob, `document.getElementById("error").textContent.startsWith("invalid_argument:")`)

	// A page opened later shows the list as it is.
	carol := newUser(t)
	openPage(t, carol, url+"/")
	assert.Equal(t, want, eval[[]shownItem](t, carol, readItems))
}
