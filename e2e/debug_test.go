package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDebugPage drives the chat example's debug page at /parley/: it lists
// the Chat service and the live sessions, and its forms call methods.
// With PARLEY_SCREENSHOTS=1 the screenshot is saved as
// e2e/screenshots/debug-page.png.
func TestDebugPage(t *testing.T) {
	app, url := chatServer(t)
	chatter := newUser(t)
	openPage(t, chatter, url+"/")
	dev := newUser(t)
	require.NoError(t, chromedp.Do(dev, chromedp.EmulateViewport(1100, 900)))
	openPage(t, dev, url+"/parley/")

	methods := eval[[]string](t, dev, `[...document.querySelectorAll("form.method")].map(f => f.dataset.service + "." + f.dataset.method)`)
	assert.Equal(t, []string{"Chat.history", "Chat.send", "Chat.setName"}, methods, "the application's services only, not the runtime's own")
	args := eval[map[string]string](t, dev, `Object.fromEntries([...document.querySelectorAll("form.method")].map(f => [f.dataset.method, f.elements.args.value]))`)
	assert.Equal(t, map[string]string{"history": "[]", "send": `[""]`, "setName": `[""]`}, args, "arguments pre-filled by type")
	sessions := eval[[]string](t, dev, `[...document.querySelectorAll("#sessions tbody tr td:first-child")].map(td => td.textContent)`)
	assert.Equal(t, []string{"/"}, sessions, "the open chat page's session, by page")

	// Call Chat.send from its form and see the new message's id.
	form := `form[data-method="send"]`
	require.NoError(t, chromedp.Do(dev,
		chromedp.SetValue(chromedp.CSS(form+` textarea`), `["hello from the debug page"]`),
		chromedp.Click(chromedp.CSS(form+` button`)),
	))
	waitFor(t, dev, fmt.Sprintf(`document.querySelector(%q).className === "output ok"`, form+` .output`))
	assert.Equal(t, "1", eval[string](t, dev, fmt.Sprintf(`document.querySelector(%q).textContent`, form+` .output`)))
	waitFor(t, chatter, `document.querySelectorAll("#messages li").length === 1`)
	history, err := app.Room.History(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "hello from the debug page", history[0].Text)

	// A refused call shows its error; bad JSON is caught on the page.
	require.NoError(t, chromedp.Do(dev,
		chromedp.SetValue(chromedp.CSS(form+` textarea`), `["   "]`),
		chromedp.Click(chromedp.CSS(form+` button`)),
	))
	waitFor(t, dev, fmt.Sprintf(`document.querySelector(%q).className === "output error"`, form+` .output`))
	assert.True(t, strings.HasPrefix(eval[string](t, dev, fmt.Sprintf(`document.querySelector(%q).textContent`, form+` .output`)), "invalid_argument: "))
	hist := `form[data-method="history"]`
	require.NoError(t, chromedp.Do(dev,
		chromedp.SetValue(chromedp.CSS(hist+` textarea`), `[oops`),
		chromedp.Click(chromedp.CSS(hist+` button`)),
	))
	waitFor(t, dev, fmt.Sprintf(`document.querySelector(%q).className === "output error"`, hist+` .output`))
	assert.Contains(t, eval[string](t, dev, fmt.Sprintf(`document.querySelector(%q).textContent`, hist+` .output`)), "bad arguments")
	require.NoError(t, chromedp.Do(dev,
		chromedp.SetValue(chromedp.CSS(hist+` textarea`), `[]`),
		chromedp.Click(chromedp.CSS(hist+` button`)),
	))
	waitFor(t, dev, fmt.Sprintf(`document.querySelector(%q).className === "output ok"`, hist+` .output`))
	assert.Contains(t, eval[string](t, dev, fmt.Sprintf(`document.querySelector(%q).textContent`, hist+` .output`)), `"text": "hello from the debug page"`)

	png, err := chromedp.Run(dev, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(png, []byte("\x89PNG")), "a PNG screenshot")
	dir := t.TempDir()
	if os.Getenv("PARLEY_SCREENSHOTS") == "1" {
		dir = "screenshots"
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "debug-page.png"), png, 0o644))
}
