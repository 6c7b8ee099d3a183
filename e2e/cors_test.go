package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

// crossOriginPage is a page that imports the runtime from the Parley
// server at base, another origin, and through it remembers a value in
// its HTTP session, reads it back, and gets a reverse call on a call's
// reply. window.outcome holds what it saw, or the error that stopped it.
const crossOriginPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Another origin</title></head>
<body><script type="module">
window.outcome = (async () => {
  try {
    const { default: parley } = await import(%[1]q);
    const notes = [];
    parley.expose("note", (text) => notes.push(text));
    await parley.start({ transport: "passive" });
    await parley.call("Lab", "remember", ["kept across origins"]);
    const recalled = await parley.call("Lab", "recall", []);
    await parley.call("Lab", "push", []);
    return { recalled, notes };
  } catch (err) {
    return { error: String(err.code ?? err.name) };
  }
})();
window.fetched = fetch(%[2]q, {
  method: "POST", credentials: "include",
  headers: { "Content-Type": "application/json", "X-Parley": "1" },
  body: JSON.stringify({ calls: [{ id: 1, service: "Lab", method: "recall", args: [] }] }),
}).then((res) => "HTTP " + res.status, (err) => err.name);
document.body.dataset.ready = "true";
</script></body></html>`

// servePage serves a cross-origin page on a server of its own: another
// port, so another origin.
func servePage(t *testing.T, parleyURL string) string {
	t.Helper()
	html := fmt.Sprintf(crossOriginPage, parleyURL+"/parley/engine.js", parleyURL+"/parley/call")
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(html))
	}))
}

type crossOutcome struct {
	Recalled string   `json:"recalled"`
	Notes    []string `json:"notes"`
	Error    string   `json:"error"`
}

// TestCORS calls a Parley server from pages of two other origins in
// Chromium: the allowed one imports the runtime and calls with its
// cookies; the unlisted one can neither load the runtime nor call.
func TestCORS(t *testing.T) {
	var calls atomic.Int32
	hub := reverse.NewHub()
	t.Cleanup(hub.Close)
	// The Parley server's address is known once it listens; the pages'
	// servers are built after it, so its handler is set last.
	var handler atomic.Value
	parleyURL := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	allowedURL := servePage(t, parleyURL)
	unlistedURL := servePage(t, parleyURL)

	srv := rpc.NewServer(rpc.WithHub(hub), rpc.WithAllowedOrigins(allowedURL))
	srv.Register(rpc.ServiceDesc{Name: "Lab", Methods: []rpc.MethodDesc{
		{Name: "remember", Params: []string{"v"}, Handler: func(ctx context.Context, args rpc.Args) (any, error) {
			calls.Add(1)
			var v string
			if err := args.Decode(0, &v); err != nil {
				return nil, err
			}
			rpc.CallFrom(ctx).SetSessionValue("v", v)
			return nil, nil
		}},
		{Name: "recall", Handler: func(ctx context.Context, _ rpc.Args) (any, error) {
			calls.Add(1)
			return rpc.CallFrom(ctx).SessionValue("v"), nil
		}},
		{Name: "push", Handler: func(ctx context.Context, _ rpc.Args) (any, error) {
			calls.Add(1)
			return nil, rpc.CallFrom(ctx).ScriptSession.Call("note", "pushed to another origin")
		}},
	}})
	handler.Store(http.Handler(srv))

	t.Run("allowed origin", func(t *testing.T) {
		page := newUser(t)
		openPage(t, page, allowedURL+"/")
		got := eval[crossOutcome](t, page, `window.outcome`)
		assert.Equal(t, crossOutcome{Recalled: "kept across origins", Notes: []string{"pushed to another origin"}}, got,
			"the runtime loads from the server's origin and its calls carry the page's cookies")
		assert.Equal(t, "HTTP 200", eval[string](t, page, `window.fetched`))
	})

	t.Run("unlisted origin", func(t *testing.T) {
		before := calls.Load()
		page := newUser(t)
		openPage(t, page, unlistedURL+"/")
		assert.Equal(t, crossOutcome{Error: "TypeError"}, eval[crossOutcome](t, page, `window.outcome`), "the runtime cannot be imported")
		assert.Equal(t, "TypeError", eval[string](t, page, `window.fetched`), "the call's preflight is refused")
		require.Equal(t, before, calls.Load(), "no method ran for the unlisted origin")
	})
}
