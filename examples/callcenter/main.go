// Command callcenter serves Parley's reverse-Ajax call centre: simulated
// incoming calls appear on every supervisor's page, and a call one
// supervisor takes disappears from the others.
//
//	go run ./examples/callcenter [-addr localhost:8080] [-min 2s] [-max 6s]
//
// Open the printed URL in two browsers, sign in, and take calls.
package main

import (
	"context"
	"flag"
	"log"
	"time"

	"github.com/parley-go/parley/examples/callcenter/callcenter"
	"github.com/parley-go/parley/examples/internal/site"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	minWait := flag.Duration("min", 2*time.Second, "shortest time between incoming calls")
	maxWait := flag.Duration("max", 6*time.Second, "longest time between incoming calls")
	flag.Parse()
	if *minWait <= 0 || *maxWait < *minWait {
		log.Fatal("need 0 < -min <= -max")
	}

	app := callcenter.NewApp()
	site.Run("Parley call centre", *addr, app.Handler, app.Hub, func(ctx context.Context) {
		app.Center.Generate(ctx, *minWait, *maxWait)
	})
}
