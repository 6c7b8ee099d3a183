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

	"github.com/parley-go/parley/examples/callcenter/callcenter"
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
	defer app.Hub.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Parley call centre: http://%s/\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go app.Center.Generate(ctx, *minWait, *maxWait)

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
