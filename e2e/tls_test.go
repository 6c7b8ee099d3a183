package e2e

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scheme is a way for a test to reach its server.
type scheme struct {
	name  string                                // the URL scheme
	serve func(testing.TB, http.Handler) string // starts the server
	// proto is the protocol every Parley request must use, as Chromium
	// names it.
	proto string
}

// schemes are the two ways the transport tests reach their server: plain
// HTTP/1.1, and TLS, where Chromium speaks HTTP/2.
var schemes = []scheme{
	{"http", serve, "http/1.1"},
	{"https", serveTLS, "h2"},
}

// protocols records the protocol of every Parley response a tab receives,
// held streams included, as Chromium reports it.
type protocols struct {
	mu  sync.Mutex
	got map[string][]string // by request path
}

// watchProtocols starts recording the protocols of ctx's responses. Call
// it before the page opens.
func watchProtocols(t *testing.T, ctx context.Context) *protocols {
	t.Helper()
	p := &protocols{got: map[string][]string{}}
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		e, ok := ev.(*network.EventResponseReceived)
		if !ok {
			return
		}
		_, rest, ok := strings.Cut(e.Response.URL, "/parley/")
		if !ok {
			return
		}
		path, _, _ := strings.Cut(rest, "?")
		p.mu.Lock()
		defer p.mu.Unlock()
		p.got[path] = append(p.got[path], e.Response.Protocol)
	}))
	return p
}

// heldPath is the Parley endpoint each transport receives on, as an HTTP
// response. A WebSocket has none: Chromium reports its handshake apart,
// and over TLS opens an HTTP/1.1 connection of its own for it, since
// net/http does not offer WebSockets over HTTP/2 (RFC 8441).
var heldPath = map[string]string{"sse": "sse", "longpoll": "poll", "poll": "poll", "passive": "call"}

// check asserts that every Parley response ctx received, the page itself
// and the transport's own requests among them, came over proto: as
// Chromium's network events report it, and as the page's resource timing
// reports the responses that have ended.
func (p *protocols) check(t *testing.T, ctx context.Context, transport, proto string) {
	t.Helper()
	p.mu.Lock()
	got := maps.Clone(p.got)
	p.mu.Unlock()
	if path, ok := heldPath[transport]; ok {
		assert.NotEmpty(t, got[path], "no response on /parley/%s: %v", path, got)
	}
	for path, list := range got {
		for _, v := range list {
			assert.Equal(t, proto, v, "/parley/%s %q", path, list)
		}
	}

	assert.Equal(t, proto, eval[string](t, ctx, `performance.getEntriesByType("navigation")[0].nextHopProtocol`), "the page")
	// A request that failed, as the held ones do when the network is
	// cut, has no protocol in resource timing: its entry is left out.
	timed := eval[[]string](t, ctx, `performance.getEntriesByType("resource")
		.filter((e) => e.name.includes("/parley/") && e.nextHopProtocol !== "")
		.map((e) => new URL(e.name).pathname + " " + e.nextHopProtocol)`)
	assert.Contains(t, timed, "/parley/engine.js "+proto)
	for _, v := range timed {
		assert.True(t, strings.HasSuffix(v, " "+proto), v)
	}
}
