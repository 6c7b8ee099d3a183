package callcenter

import (
	"embed"
	"net/http"

	"github.com/parley-go/parley/examples/internal/site"
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

	return &App{Handler: site.Handler(srv, static, "static"), Hub: hub, Center: center}
}
