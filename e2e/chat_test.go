package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/examples/chat/chat"
)

// chatServer serves the chat example, plus a test page at /elsewhere/ that
// shares its Parley server but shows another URL.
func chatServer(t *testing.T) (*chat.App, string) {
	t.Helper()
	app := chat.NewApp()
	t.Cleanup(app.Hub.Close)
	mux := http.NewServeMux()
	mux.Handle("/elsewhere/", http.StripPrefix("/elsewhere/", http.FileServer(http.Dir("testdata/elsewhere"))))
	mux.Handle("/", app.Handler)
	return app, serve(t, mux)
}

// shown is a message as a chat page displays it.
type shown struct {
	ID     int64  `json:"id"`
	Author string `json:"author"`
	Text   string `json:"text"`
}

const readMessages = `[...document.querySelectorAll("#messages li")].map(li => ({
	id: Number(li.dataset.id),
	author: li.querySelector("strong").textContent,
	text: li.querySelector("span").textContent,
}))`

// send types text into the page's form and submits it, as a person would.
func send(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("text"), text),
		chromedp.Click(chromedp.CSS("#send-form button")),
	))
	waitFor(t, ctx, `document.getElementById("text").value === ""`)
}

func TestChatTwoUsers(t *testing.T) {
	app, url := chatServer(t)
	alice, bob := newUser(t), newUser(t)
	elsewhere := newTab(t, alice) // alice's browser, another URL

	openPage(t, alice, url+"/")
	openPage(t, bob, url+"/index.html?from=bob") // the same page, by another path
	openPage(t, elsewhere, url+"/elsewhere/")
	require.Equal(t, 3, app.Hub.Len(), "one script session per open page")

	require.NoError(t, chromedp.Do(alice,
		chromedp.SendKeys(chromedp.ID("name"), "alice"),
		chromedp.Click(chromedp.CSS("#name-form button")),
	))
	eval[chromedp.Void](t, bob, `import("/parley/interface/Chat.js").then(m => m.Chat.setName("bob"))`)
	waitFor(t, alice, `document.getElementById("error").textContent === ""`)

	// Interleaved sends through the form, then bursts through the stub from
	// both pages at once; the stub's Promise resolves with each new id.
	send(t, alice, "hello from alice")
	send(t, bob, "hi alice")
	burst := func(ctx context.Context, who string) string {
		return fmt.Sprintf(`import("/parley/interface/Chat.js").then(m =>
			Promise.all([1, 2, 3, 4, 5].map(i => m.Chat.send(%q + " burst " + i))))`, who)
	}
	type ids = []int64
	idsA := make(chan ids, 1)
	go func() {
		v, err := chromedp.Run(alice, chromedp.Evaluate[ids](burst(alice, "alice"), chromedp.EvalAwaitPromise))
		assert.NoError(t, err)
		idsA <- v
	}()
	idsB := eval[ids](t, bob, burst(bob, "bob"))
	gotA := <-idsA
	require.Len(t, gotA, 5)
	require.Len(t, idsB, 5)
	send(t, alice, "bye")
	const total = 13

	waitFor(t, alice, fmt.Sprintf(`document.querySelectorAll("#messages li").length >= %d`, total))
	waitFor(t, bob, fmt.Sprintf(`document.querySelectorAll("#messages li").length >= %d`, total))
	onAlice := eval[[]shown](t, alice, readMessages)
	onBob := eval[[]shown](t, bob, readMessages)

	assert.Equal(t, onAlice, onBob, "both pages show the same messages in the same order")
	require.Len(t, onAlice, total, "every message exactly once")
	authors := map[string]string{}
	for i, m := range onAlice {
		assert.Equal(t, int64(i+1), m.ID, "in send order, with no gap or duplicate")
		authors[m.Text] = m.Author
	}
	assert.Equal(t, "alice", authors["hello from alice"])
	assert.Equal(t, "bob", authors["hi alice"])
	assert.Equal(t, "bob", authors["bob burst 3"])
	assert.Equal(t, "alice", authors["bye"])
	// Each resolved id is the message its own call sent. (The calls of one
	// batch run concurrently, so their ids need not follow call order.)
	for who, list := range map[string]ids{"alice": gotA, "bob": idsB} {
		var texts []string
		for _, id := range list {
			require.True(t, id >= 1 && id <= total, "id %d", id)
			texts = append(texts, onAlice[id-1].Text)
		}
		assert.ElementsMatch(t, []string{who + " burst 1", who + " burst 2", who + " burst 3", who + " burst 4", who + " burst 5"}, texts)
	}

	// An invalid send is refused with invalid_argument, through the stub
	// and on screen.
	code := eval[string](t, bob, `import("/parley/interface/Chat.js").then(m =>
		m.Chat.send("   ").then(() => "resolved", e => e.name + ":" + e.code))`)
	assert.Equal(t, "ParleyError:invalid_argument", code)
	require.NoError(t, chromedp.Do(alice, chromedp.Click(chromedp.CSS("#send-form button"))))
	waitFor(t, alice, `document.getElementById("error").textContent.startsWith("invalid_argument:")`)

	// The page elsewhere got none of the chat's calls: a call addressed to
	// it after them arrives, alone.
	require.NoError(t, app.Hub.Page("/elsewhere/").Call("ping", "after chat"))
	waitFor(t, elsewhere, `window.received.length > 0`)
	assert.Equal(t, []string{"ping:after chat"}, eval[[]string](t, elsewhere, `window.received`))
	assert.Len(t, eval[[]shown](t, alice, readMessages), total, "no late duplicates")
}
