package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/examples/callcenter/callcenter"
	"github.com/parley-go/parley/examples/ticker/ticker"
)

// problems collects what a tab reports as going wrong: responses with an
// error status, requests that failed, errors in the console and uncaught
// exceptions. Requests the page itself cancels, such as a held poll when
// the tab closes, are not problems.
type problems struct {
	mu   sync.Mutex
	seen []string
}

// watchProblems starts collecting the problems of ctx's tab; call it
// before navigating.
func watchProblems(t *testing.T, ctx context.Context) *problems {
	t.Helper()
	p := &problems{}
	require.NoError(t, chromedp.Do(ctx)) // opens the tab, to subscribe to it
	responses := chromedp.Events(ctx, network.ResponseReceived)
	failures := chromedp.Events(ctx, network.LoadingFailed)
	entries := chromedp.Events(ctx, log.EntryAdded)
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range responses {
			if err != nil {
				return
			}
			if ev.Response.Status >= 400 {
				p.add(fmt.Sprintf("%d %s", ev.Response.Status, ev.Response.URL))
			}
		}
	}()
	go func() {
		for ev, err := range failures {
			if err != nil {
				return
			}
			if !ev.Canceled {
				p.add(fmt.Sprintf("%s request failed: %s", ev.Type, ev.ErrorText))
			}
		}
	}()
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			if ev.Entry.Level == log.EntryLevelError {
				p.add(fmt.Sprintf("console: %s %s", ev.Entry.Text, ev.Entry.URL))
			}
		}
	}()
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			p.add("exception: " + ev.ExceptionDetails.Text)
		}
	}()
	return p
}

func (p *problems) add(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, s)
}

// list returns the problems seen so far.
func (p *problems) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seen)
}

// screenshot saves a PNG of the whole page of ctx as name in a temporary
// folder, or in e2e/screenshots with PARLEY_SCREENSHOTS=1.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(png, []byte("\x89PNG")), "a PNG screenshot")
	dir := t.TempDir()
	if os.Getenv("PARLEY_SCREENSHOTS") == "1" {
		dir = "screenshots"
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
}

// exampleServers starts each example and returns its URL by name.
func exampleServers(t *testing.T) map[string]string {
	t.Helper()
	_, chatURL := chatServer(t)
	cc := callcenter.NewApp()
	t.Cleanup(cc.Hub.Close)
	tk := ticker.NewApp()
	t.Cleanup(tk.Hub.Close)
	return map[string]string{"chat": chatURL, "callcenter": serve(t, cc.Handler), "ticker": serve(t, tk.Handler)}
}

// TestExamplesLook opens each example, on a desktop and on a phone, and
// checks that it loads without a failed request or a console error (its
// icon included), uses the shared stylesheet with the same header and
// footer, and fits the phone's width. With PARLEY_SCREENSHOTS=1 the
// screenshots are saved in e2e/screenshots.
func TestExamplesLook(t *testing.T) {
	urls := exampleServers(t)
	for _, tc := range []struct {
		example  string
		path     string
		debugURL bool // whether the footer links to the debug page
	}{
		{"chat", "/", true},
		{"callcenter", "/", false},
		{"ticker", "/", false},
		{"chat", "/parley/", false},
	} {
		for _, screen := range []struct {
			name          string
			width, height int64
			opts          []chromedp.EmulateViewportOption
		}{
			{"desktop", 1000, 640, nil},
			{"phone", 390, 760, []chromedp.EmulateViewportOption{chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2)}},
		} {
			name := tc.example
			if tc.path != "/" {
				name = "debug"
			}
			t.Run(name+"/"+screen.name, func(t *testing.T) {
				ctx := newUser(t)
				got := watchProblems(t, ctx)
				require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(screen.width, screen.height, screen.opts...)))
				openPage(t, ctx, urls[tc.example]+tc.path)

				// The icon the page names, or else /favicon.ico, loads.
				icon := eval[string](t, ctx, `document.querySelector('link[rel="icon"]')?.href ?? new URL("/favicon.ico", location).href`)
				assert.Equal(t, http.StatusOK, eval[int](t, ctx, fmt.Sprintf(`fetch(%q).then(r => r.status)`, icon)))
				waitFor(t, ctx, `document.readyState === "complete"`)
				assert.Empty(t, got.list(), "no failed request and no console error")

				assert.Equal(t, screen.width, eval[int64](t, ctx, `document.documentElement.clientWidth`), "the viewport meta makes the page as wide as the screen")
				assert.LessOrEqual(t, eval[int64](t, ctx, `document.documentElement.scrollWidth`), screen.width, "nothing sticks out sideways")
				if tc.path == "/" {
					assert.True(t, eval[bool](t, ctx, `[...document.styleSheets].some(s => s.href?.endsWith("/site.css"))`), "the shared stylesheet")
					assert.Equal(t, "Parley", eval[string](t, ctx, `document.querySelector("header.site-header .brand")?.textContent.trim()`))
					assert.True(t, eval[bool](t, ctx, `document.querySelector("footer.site-footer") !== null`))
					assert.Equal(t, tc.debugURL, eval[bool](t, ctx, `document.querySelector('footer a[href="/parley/"]') !== null`))
				}
				screenshot(t, ctx, name+"-"+screen.name+".png")
			})
		}
	}
}
