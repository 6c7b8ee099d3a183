// Package site holds what Parley's examples share: serving an app's pages
// next to its Parley server, under a strict Content-Security-Policy,
// running the app from the command line until it is interrupted, and
// checking the text users type.
package site

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

// Text trims s and checks it is not empty and has at most max
// characters; what names it in errors, such as "a name". It returns the
// trimmed text, or an invalid_argument error.
func Text(what, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return "", rpc.Errorf(rpc.CodeInvalidArgument, "%s cannot be empty", what)
	case n > max:
		return "", rpc.Errorf(rpc.CodeInvalidArgument, "%s has at most %d characters", what, max)
	}
	return s, nil
}

// Handler serves parley under /parley/ and the files of the folder dir of
// static at /, with security headers: the pages run only scripts from
// their own origin, with no inline script and no eval.
func Handler(parley http.Handler, static fs.FS, dir string) http.Handler {
	files, err := fs.Sub(static, dir)
	if err != nil {
		panic(err) // dir is a literal of the caller's, embedded with it
	}
	r := mux.NewRouter()
	r.PathPrefix("/parley/").Handler(parley)
	r.PathPrefix("/").Handler(secure(http.FileServerFS(files)))
	return r
}

func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// Server returns the examples' http.Server for h, with timeouts and limits
// that keep a slow or hostile client from holding the server's resources:
//
//   - ReadHeaderTimeout (10 seconds) bounds how long a client may take to
//     send a request's headers, so a client that trickles them
//     (slowloris) is cut off.
//   - IdleTimeout (2 minutes) bounds how long a kept-alive connection may
//     wait for its next request.
//   - MaxHeaderBytes (64 KiB) bounds the size of a request's headers;
//     past it the server answers 431.
//
// ReadTimeout and WriteTimeout are left unset on purpose. Both run from
// the start of a request for as long as it lasts, and Parley holds
// requests open: a long-poll for up to 25 seconds, an SSE stream for up to
// 10 minutes. A WriteTimeout would cut those replies, and a ReadTimeout
// would cancel a held request's context when it passes, since the server
// reads the connection in the background to notice a client that leaves.
// Request bodies are bounded by Parley's size limits instead
// (rpc.WithMaxBodyBytes, rpc.WithMaxUploadBytes).
func Server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// Run serves h on addr, printing "name: URL", until SIGINT or SIGTERM.
// It runs background, if not nil, with a context that ends then. On the
// way out it closes hub first, which releases the held connections, so
// the server need not wait for them.
func Run(name, addr string, h http.Handler, hub *reverse.Hub, background func(context.Context)) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: http://%s/\n", name, ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if background != nil {
		go background(ctx)
	}
	srv := Server(h)
	srv.RegisterOnShutdown(hub.Close)
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
