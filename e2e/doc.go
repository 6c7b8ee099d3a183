// Package e2e holds Parley's end-to-end tests: the examples and test pages
// served in-process and driven in real headless Chromium with chromedp.
//
// The tests need Chromium. `make test` installs it when it is missing and
// it can; otherwise they fail, saying how to install it. PARLEY_CHROMIUM
// names another browser binary.
package e2e
