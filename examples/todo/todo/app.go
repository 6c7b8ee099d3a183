package todo

import (
	"embed"
	"net/http"

	"github.com/parley-go/parley/examples/internal/site"
	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

// static holds the page: index.html, style.css and app.js, the bundle
// that the build in ../web makes from its TypeScript sources.
//
//go:embed static
var static embed.FS

// App is the to-do application: the page at "/", Parley under "/parley/".
type App struct {
	// Handler serves the whole application.
	Handler http.Handler
	// Hub reaches the open pages.
	Hub *reverse.Hub
	// List is the to-do service.
	List *List
}

// NewApp builds the to-do application. Close its Hub when done.
func NewApp(hubOpts ...reverse.Option) *App {
	hub := reverse.NewHub(hubOpts...)
	srv := rpc.NewServer(rpc.WithHub(hub))
	list := NewList(NewTodoPageProxy(hub.Page("/")))
	RegisterTodos(srv, list)
	return &App{Handler: site.Handler(srv, static, "static"), Hub: hub, List: list}
}
