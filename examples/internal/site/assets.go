package site

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"strings"
)

// shared holds what every example serves next to its own files: the
// stylesheet /site.css and the icons /favicon.svg and /favicon.ico.
//
//go:embed static
var shared embed.FS

// withShared returns app's files with the shared ones added: a name app
// lacks is looked up in the shared files.
func withShared(app fs.FS) fs.FS {
	common, err := fs.Sub(shared, "static")
	if err != nil {
		panic(err) // "static" is embedded above
	}
	return layered{app, common}
}

// layered is an fs.FS that opens each name in top, or in bottom if top
// has no such file.
type layered struct{ top, bottom fs.FS }

// Open implements fs.FS.
func (l layered) Open(name string) (fs.File, error) {
	f, err := l.top.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return l.bottom.Open(name)
	}
	return f, err
}

// htmlNotFound answers a browser's GET or HEAD that next answers with 404
// with a small HTML page instead, so that a person who opens a missing
// address sees a page that says so. Other clients (an Accept header
// without text/html, as fetch and the runtime send) get next's reply as
// it is, such as Parley's JSON error.
func htmlNotFound(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method != http.MethodGet && r.Method != http.MethodHead) || !acceptsHTML(r) {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&notFoundWriter{ResponseWriter: w, r: r}, r)
	})
}

// acceptsHTML reports whether r's Accept header lists text/html.
func acceptsHTML(r *http.Request) bool {
	for _, accept := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(accept, ",") {
			if media, params, err := mime.ParseMediaType(part); err == nil && media == "text/html" && params["q"] != "0" {
				return true
			}
		}
	}
	return false
}

// notFoundWriter replaces a 404 reply with notFoundPage and passes any
// other reply through.
type notFoundWriter struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool // a 404 was answered with the page: drop next's body
	wrote    bool // the status is sent
}

// WriteHeader implements http.ResponseWriter.
func (w *notFoundWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if code != http.StatusNotFound {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replaced = true
	var page bytes.Buffer
	if err := notFoundPage.Execute(&page, w.r.URL.Path); err != nil {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	h := w.Header()
	for _, k := range []string{"Content-Length", "Content-Encoding", "ETag", "Last-Modified"} {
		h.Del(k)
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", policy)
	w.ResponseWriter.WriteHeader(code)
	if w.r.Method != http.MethodHead {
		_, _ = w.ResponseWriter.Write(page.Bytes())
	}
}

// Write implements http.ResponseWriter.
func (w *notFoundWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *notFoundWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// notFoundPage is the HTML page of a missing address; its data is the
// path asked for.
var notFoundPage = template.Must(template.New("404").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Not found</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/site.css">
</head>
<body>
<main class="not-found">
<h1>Not found</h1>
<p>Nothing is served at <code>{{.}}</code>.</p>
<p><a href="/">Back to the example</a></p>
</main>
</body>
</html>
`))

// policy is the Content-Security-Policy of the examples' pages.
const policy = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'"
