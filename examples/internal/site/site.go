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
	srv := &http.Server{Handler: h}
	srv.RegisterOnShutdown(hub.Close)
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
