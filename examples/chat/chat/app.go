package chat

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

//go:embed static
var static embed.FS

// App is the chat application: the page at "/", Parley under "/parley/".
type App struct {
	// Handler serves the whole application.
	Handler http.Handler
	// Hub reaches the open pages.
	Hub *reverse.Hub
	// Room is the chat service.
	Room *Room
}

// NewApp builds the chat application. Close its Hub when done.
func NewApp(hubOpts ...reverse.Option) *App {
	hub := reverse.NewHub(hubOpts...)
	srv := rpc.NewServer(rpc.WithHub(hub), rpc.WithDebugPage()) // the debug page at /parley/
	room := NewRoom(NewChatPageProxy(hub.Page("/")))
	RegisterChat(srv, room)

	files, _ := fs.Sub(static, "static")
	r := mux.NewRouter()
	r.PathPrefix("/parley/").Handler(srv)
	r.PathPrefix("/").Handler(securityHeaders(http.FileServerFS(files)))
	return &App{Handler: r, Hub: hub, Room: room}
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
