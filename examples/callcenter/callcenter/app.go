package callcenter

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

//go:embed static
var static embed.FS

// App is the call centre application: the supervisors' page at "/",
// Parley under "/parley/".
type App struct {
	// Handler serves the whole application.
	Handler http.Handler
	// Hub reaches the open pages.
	Hub *reverse.Hub
	// Center is the queue and the Supervisor service.
	Center *Center
}

// NewApp builds the call centre. Incoming calls arrive through
// Center.Incoming, or Center.Generate to simulate them. Close its Hub
// when done.
func NewApp(hubOpts ...reverse.Option) *App {
	hub := reverse.NewHub(hubOpts...)
	srv := rpc.NewServer(rpc.WithHub(hub))
	center := NewCenter(hub)
	RegisterSupervisor(srv, center)

	files, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	mux.Handle("/parley/", srv)
	mux.Handle("/", securityHeaders(http.FileServerFS(files)))
	return &App{Handler: mux, Hub: hub, Center: center}
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
