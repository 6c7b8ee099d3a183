// Command chat serves Parley's example chat room.
//
//	go run ./examples/chat [-addr localhost:8080]
//
// Open the printed URL in two browsers and talk.
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

	"github.com/parley-go/parley/examples/chat/chat"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()

	app := chat.NewApp()
	defer app.Hub.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Parley chat: http://%s/\n", ln.Addr())

	srv := &http.Server{Handler: app.Handler}
	// Ending the sessions releases held long-polls, so Shutdown need not wait for them.
	srv.RegisterOnShutdown(app.Hub.Close)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
