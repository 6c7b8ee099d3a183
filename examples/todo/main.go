// Command todo serves Parley's example shared to-do list, whose page is
// written in TypeScript and bundled with esbuild.
//
//	go run ./examples/todo [-addr localhost:8080]
//
// Open the printed URL in two browsers: items added, checked or removed
// in one show in the other at once. The bundled page is committed, so
// running the example needs no npm; examples/todo/web holds its source
// and build.
package main

import (
	"flag"

	"github.com/parley-go/parley/examples/internal/site"
	"github.com/parley-go/parley/examples/todo/todo"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()
	app := todo.NewApp()
	site.Run("Parley to-do list", *addr, app.Handler, app.Hub, nil)
}
