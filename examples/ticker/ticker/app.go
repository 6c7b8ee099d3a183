package ticker

import (
	"embed"
	"net/http"

	"github.com/parley-go/parley/examples/internal/site"
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
	srv := rpc.NewServer(rpc.WithHub(hub), rpc.WithSubscribeAuthorizer(quotesOnly))
	return &App{Handler: site.Handler(srv, static, "static"), Hub: hub, Market: NewMarket(hub)}
}

// quotesOnly lets pages subscribe to the quotes, under /stocks, and to
// nothing else.
func quotesOnly(_ *reverse.Session, _ *rpc.Principal, pattern string) error {
	if reverse.TopicWithin(pattern, "/stocks") {
		return nil
	}
	return rpc.Errorf(rpc.CodePermissionDenied, "only quotes, under /stocks, may be subscribed to")
}
