// Command chat serves Parley's example chat room.
//
//	go run ./examples/chat [-addr localhost:8080]
//
// Open the printed URL in two browsers and talk.
package main

import (
	"flag"

	"github.com/parley-go/parley/examples/chat/chat"
	"github.com/parley-go/parley/examples/internal/site"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()
	app := chat.NewApp()
	site.Run("Parley chat", *addr, app.Handler, app.Hub, nil)
}
