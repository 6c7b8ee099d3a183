package chat

import (
	"embed"
	"net/http"

	"github.com/parley-go/parley/examples/internal/site"
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
	return newApp(hub, NewRoom(NewChatPageProxy(hub.Page("/"))))
}

// newApp serves room through a Parley server on hub, with the server's
// options rpcOpts besides.
func newApp(hub *reverse.Hub, room *Room, rpcOpts ...rpc.Option) *App {
	// The debug page at /parley/, served to this machine's browsers only
	// (WithDebugPage's default access rule).
	srv := rpc.NewServer(append([]rpc.Option{rpc.WithHub(hub), rpc.WithDebugPage()}, rpcOpts...)...)
	RegisterChat(srv, room)

	return &App{Handler: site.Handler(srv, static, "static"), Hub: hub, Room: room}
}
