package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser is one headless Chromium shared by the package's tests; each
// test gets isolated browser contexts (separate cookies) in it.
var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	os.Exit(code)
}

// chromiumPath finds the browser, or explains how to get one.
func chromiumPath() (string, error) {
	if p := os.Getenv("PARLEY_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium found: run `make test`, which installs it (as root: apt-get install -y chromium), or set PARLEY_CHROMIUM")
}

func startBrowser(t testing.TB) context.Context {
	t.Helper()
	browser.once.Do(func() {
		path, err := chromiumPath()
		if err != nil {
			browser.err = err
			return
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.NoSandbox,
			chromedp.Flag("disable-gpu", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-quic", true),
			// Trust the test servers' certificates (serveTLS).
			chromedp.Flag("ignore-certificate-errors", true),
		)...)
		ctx, cancelCtx := chromedp.NewContext(alloc)
		browser.ctx = ctx
		browser.cancel = func() { cancelCtx(); cancelAlloc() }
		browser.err = chromedp.Do(ctx, chromedp.Navigate("about:blank"))
	})
	if browser.err != nil {
		t.Fatalf("starting Chromium: %v", browser.err)
	}
	return browser.ctx
}

// newUser returns a tab in a fresh browser context: a separate user with
// cookies of its own. The test fails if it runs past a minute.
func newUser(t *testing.T) context.Context {
	t.Helper()
	return newUserFor(t, time.Minute)
}

// newUserFor is newUser for a test that may run for up to d.
func newUserFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(startBrowser(t), chromedp.WithNewBrowserContext())
	ctx, cancelTimeout := context.WithTimeout(ctx, d)
	t.Cleanup(func() { cancelTimeout(); cancel() })
	return ctx
}

// newTab returns another tab of the same user as ctx.
func newTab(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	// ctx's tab must exist before its browser context can be inherited.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting the first tab: %v", err)
	}
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	return tab
}

// serve runs h on a loopback test server for the test's duration.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

// serveTLS runs h on a loopback test server over TLS, with HTTP/2 offered
// by ALPN, for the test's duration. Chromium accepts its certificate.
func serveTLS(t testing.TB, h http.Handler) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts.URL
}

// openPage navigates to url and waits until the page marks itself ready.
func openPage(t testing.TB, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigating to %s: %v", url, err)
	}
	waitFor(t, ctx, `document.body.dataset.ready === "true"`)
}

// waitFor polls a JS expression in the page until it is truthy, for up
// to 20 seconds.
func waitFor(t testing.TB, ctx context.Context, expr string) {
	t.Helper()
	waitWithin(t, ctx, expr, 20*time.Second)
}

// waitWithin is waitFor for up to d: for what a loaded machine may take
// long to finish, such as a thousand calls to a dozen tabs.
func waitWithin(t testing.TB, ctx context.Context, expr string, d time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(d))); err != nil {
		t.Fatalf("waiting for %s: %v", expr, err)
	}
}

// eval evaluates a JS expression, awaiting it if it is a Promise.
func eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}
