package e2e

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/examples/ticker/ticker"
	"github.com/parley-go/parley/reverse"
)

// shownQuote is a row of the ticker page.
type shownQuote struct {
	Symbol string `json:"symbol"`
	Price  string `json:"price"`
	Age    string `json:"age"`
	At     string `json:"at"`
	Via    string `json:"via"`
}

const readQuotes = `[...document.querySelectorAll("#quotes tbody tr")].map(tr => ({
	symbol: tr.cells[0].textContent, price: tr.querySelector(".price").textContent,
	age: tr.querySelector(".age").textContent, at: tr.dataset.at, via: tr.dataset.via,
}))`

// tickAndSee publishes a round of quotes and waits until the page shows
// all of them; it returns what the page shows.
func tickAndSee(t *testing.T, ctx context.Context, m *ticker.Market) []shownQuote {
	t.Helper()
	quotes, err := m.Tick()
	require.NoError(t, err)
	at := quotes[0].At.Format(time.RFC3339Nano)
	waitFor(t, ctx, fmt.Sprintf(`[...document.querySelectorAll("#quotes tbody tr")].filter(tr => tr.dataset.at === %s).length === %d`,
		jsString(at), len(quotes)))
	shown := eval[[]shownQuote](t, ctx, readQuotes)
	require.Len(t, shown, len(quotes))
	for i, q := range quotes { // both in symbol order
		assert.Equal(t, q.Symbol, shown[i].Symbol)
		assert.Equal(t, fmt.Sprintf("%.2f", q.Price), shown[i].Price)
		assert.Equal(t, at, shown[i].At, "the publish time travels in the quote")
	}
	return shown
}

var ageText = regexp.MustCompile(`^\d+\.\d s$`)

func TestTickerPushThenPull(t *testing.T) {
	// Short poll intervals, the page's and the server's, keep the test short.
	app := ticker.NewApp(reverse.WithTransports(reverse.Transports{PollInterval: 200 * time.Millisecond}))
	t.Cleanup(app.Hub.Close)
	url := serve(t, app.Handler)
	page := newUser(t)
	openPage(t, page, url+"/?pull=200")

	// Push: quotes arrive over the held connection.
	waitFor(t, page, `document.getElementById("mode").textContent.startsWith("push")`)
	for _, q := range tickAndSee(t, page, app.Market) {
		assert.Contains(t, []string{"websocket", "sse", "longpoll"}, q.Via)
		assert.Regexp(t, ageText, q.Age, "each price shows its age")
	}

	// Pull: the page polls at its interval, and quotes still arrive.
	require.NoError(t, chromedp.Do(page, chromedp.Click(chromedp.ID("pull"))))
	waitFor(t, page, `document.getElementById("mode").textContent === "pull (polling)"`)
	for range 2 {
		for _, q := range tickAndSee(t, page, app.Market) {
			assert.Equal(t, "poll", q.Via)
			assert.Regexp(t, ageText, q.Age)
		}
	}

	// And back to push.
	require.NoError(t, chromedp.Do(page, chromedp.Click(chromedp.ID("push"))))
	waitFor(t, page, `document.getElementById("mode").textContent.startsWith("push")`)
	for _, q := range tickAndSee(t, page, app.Market) {
		assert.Contains(t, []string{"websocket", "sse", "longpoll"}, q.Via)
	}
	assert.Equal(t, 1, app.Hub.Len(), "switching transports keeps the one session and its subscription")
}
