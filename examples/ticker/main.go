// Command ticker serves Parley's push-versus-pull stock ticker: prices
// are published at an interval, and the page receives them pushed at once
// or pulled by polling, showing each price's age.
//
//	go run ./examples/ticker [-addr localhost:8080] [-every 1s]
package main

import (
	"context"
	"flag"
	"log"
	"time"

	"github.com/parley-go/parley/examples/internal/site"
	"github.com/parley-go/parley/examples/ticker/ticker"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	every := flag.Duration("every", time.Second, "how often prices change")
	flag.Parse()
	if *every <= 0 {
		log.Fatal("-every must be positive")
	}

	app := ticker.NewApp()
	site.Run("Parley ticker", *addr, app.Handler, app.Hub, func(ctx context.Context) {
		if err := app.Market.Run(ctx, *every); err != nil {
			log.Print(err)
		}
	})
}
