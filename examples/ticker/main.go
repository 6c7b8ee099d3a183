// Command ticker serves Parley's push-versus-pull stock ticker: prices
// are published at an interval, and the page receives them pushed at once
// or pulled by polling, showing each price's age.
//
//	go run ./examples/ticker [-addr localhost:8080] [-every 1s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

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
	defer app.Hub.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Parley ticker: http://%s/\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		if err := app.Market.Run(ctx, *every); err != nil {
			log.Print(err)
		}
	}()

	srv := &http.Server{Handler: app.Handler}
	// Ending the sessions releases held connections, so Shutdown need not wait for them.
	srv.RegisterOnShutdown(app.Hub.Close)
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
