package ticker

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

//go:embed static
var static embed.FS

// App is the ticker application: the page at "/", Parley under "/parley/".
type App struct {
	// Handler serves the whole application.
	Handler http.Handler
	// Hub reaches the open pages.
	Hub *reverse.Hub
	// Market publishes the quotes: call Tick, or Run to tick at an interval.
	Market *Market
}

// NewApp builds the ticker. Close its Hub when done.
func NewApp(hubOpts ...reverse.Option) *App {
	hub := reverse.NewHub(hubOpts...)
	srv := rpc.NewServer(rpc.WithHub(hub))
	files, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	mux.Handle("/parley/", srv)
	mux.Handle("/", securityHeaders(http.FileServerFS(files)))
	return &App{Handler: mux, Hub: hub, Market: NewMarket(hub)}
}

// securityHeaders sets a strict Content-Security-Policy: the page runs
// only scripts from its own origin, with no inline script and no eval.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}
