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
// static at /, with the examples' shared files (/site.css, /favicon.svg,
// /favicon.ico) where static has none of that name, and with security
// headers: the pages run only scripts from their own origin, with no
// inline script and no eval. A browser that asks for a missing address
// gets an HTML page saying so; other clients get the 404 as it is.
// When parley is an *rpc.Server, /metrics serves its metrics (Metrics).
func Handler(parley http.Handler, static fs.FS, dir string) http.Handler {
	files, err := fs.Sub(static, dir)
	if err != nil {
		panic(err) // dir is a literal of the caller's, embedded with it
	}
	r := mux.NewRouter()
	r.PathPrefix("/parley/").Handler(htmlNotFound(parley))
	if srv, ok := parley.(*rpc.Server); ok {
		r.Handle("/metrics", Metrics(srv))
	}
	r.PathPrefix("/").Handler(secure(htmlNotFound(http.FileServerFS(withShared(files)))))
	return r
}

func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", policy)
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
//   - HTTP2.MaxConcurrentStreams (250, Go's default) bounds the requests one HTTP/2
//     connection may have under way at once. A browser sends every tab's
//     requests to one origin on one connection, and each tab holds one of
//     them open (a long-poll or an SSE stream), so a browser with more
//     tabs than this waits for a free stream before it can make a call;
//     a client that opens many streams only to hold them is bounded per
//     connection.
//
// ReadTimeout and WriteTimeout are left unset on purpose. Both run from
// the start of a request for as long as it lasts, and Parley holds
// requests open: a long-poll for up to 25 seconds, an SSE stream for up to
// 10 minutes. A WriteTimeout would cut those replies, and a ReadTimeout
// would cancel a held request's context when it passes, since the server
// reads the connection in the background to notice a client that leaves.
// Request bodies are bounded by Parley's size limits instead
// (rpc.WithMaxBodyBytes, rpc.WithMaxUploadBytes).
//
// The server speaks HTTP/1.1, and HTTP/2 over TLS once it has a
// certificate (WithTLS); WithH2C adds HTTP/2 without TLS.
func Server(h http.Handler, opts ...Option) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: 250},
	}
	for _, o := range opts {
		o(srv)
	}
	return srv
}

// Run serves h on addr, printing "name: URL", until SIGINT or SIGTERM.
// It serves plain HTTP/1.1 unless the command line asks for more with the
// flags -tls-cert and -tls-key (HTTPS, with HTTP/2) or -h2c (HTTP/2
// without TLS as well as HTTP/1.1). It runs background, if not nil, with a
// context that ends then. On the way out it shuts down with hub.Shutdown:
// no new page is let in, every held page gets its pending messages and is
// told to reconnect, and the server finishes the requests under way, for
// up to 10 seconds, after which it closes what is left. A second signal
// ends the process at once.
func Run(name, addr string, h http.Handler, hub *reverse.Hub, background func(context.Context)) {
	opts, err := flagOptions()
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := Server(h, opts...)
	scheme := "http"
	if srv.TLSConfig != nil {
		scheme = "https"
	}
	fmt.Printf("%s: %s://%s/\n", name, scheme, ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if background != nil {
		go background(ctx)
	}
	down := make(chan struct{})
	go func() {
		defer close(down)
		<-ctx.Done()
		stop()
		quit, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hub.Shutdown(quit, srv); err != nil {
			log.Printf("%s: shutting down: %v", name, err)
			_ = srv.Close()
		}
	}()
	if err := Serve(srv, ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-down
}
