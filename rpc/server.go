package rpc

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/parley-go/parley/jsruntime"
	"github.com/parley-go/parley/reverse"
)

// Option configures a Server.
type Option func(*Server)

// WithHub enables reverse Ajax through hub: pages open script sessions,
// long-poll for reverse calls, and receive them on call replies.
// Without a hub, the server does remoting only.
func WithHub(h *reverse.Hub) Option { return func(s *Server) { s.hub = h } }

// WithPrefix sets the path the server is mounted under. Default "/parley/".
func WithPrefix(p string) Option {
	return func(s *Server) { s.prefix = "/" + strings.Trim(p, "/") + "/" }
}

// WithSessionStore sets the gorilla/sessions store that keeps HTTP
// sessions. Default: a cookie store with keys made at start-up, so HTTP
// sessions do not outlive the process; set a store with fixed keys to
// keep them across restarts.
func WithSessionStore(st sessions.Store) Option { return func(s *Server) { s.store = st } }

// WithSessionName sets the name of the HTTP session cookie, "parley" by
// default. The browser's id cookie, which script sessions are bound to, is
// that name plus "_id".
func WithSessionName(n string) Option { return func(s *Server) { s.sessionName = n } }

// WithMaxBodyBytes limits the size of a request body. Default 1 MiB.
func WithMaxBodyBytes(n int64) Option { return func(s *Server) { s.maxBody = n } }

// WithMaxBatch limits the number of calls in one request. Default 100.
func WithMaxBatch(n int) Option { return func(s *Server) { s.maxBatch = n } }

// WithAllowedOrigins adds origins, such as "https://app.example.com", whose
// pages may call the server besides its own origin.
func WithAllowedOrigins(origins ...string) Option {
	return func(s *Server) {
		for _, o := range origins {
			s.origins[strings.TrimRight(o, "/")] = true
		}
	}
}

// WithLogger sets the logger for internal errors and panics.
// Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// Server is the http.Handler for everything under its prefix: the runtime
// engine.js, the generated modules, call batches and, with a hub, the
// reverse-Ajax endpoints. Register services before serving.
type Server struct {
	hub          *reverse.Hub
	prefix       string
	store        sessions.Store
	sessionName  string
	maxBody      int64
	maxBatch     int
	origins      map[string]bool
	log          *slog.Logger
	engine       asset
	interceptors []Interceptor
	authorizer   Authorizer
	maxUpload    int64
	downloadTTL  time.Duration
	downloads    downloads
	debugPage    bool
	idCookie     string // the name of the browser id cookie
	proxies      []netip.Prefix

	mu       sync.RWMutex
	services map[string]*service
}

// NewServer returns a server with the given options.
func NewServer(opts ...Option) *Server {
	s := &Server{
		prefix:      "/parley/",
		sessionName: "parley",
		maxBody:     1 << 20,
		maxBatch:    100,
		maxUpload:   32 << 20,
		downloadTTL: 5 * time.Minute,
		origins:     map[string]bool{},
		log:         slog.Default(),
		engine:      newAsset(jsruntime.Engine, "text/javascript; charset=utf-8"),
		services:    map[string]*service{},
	}
	for _, o := range opts {
		o(s)
	}
	s.idCookie = s.sessionName + "_id"
	if s.store == nil {
		cs := sessions.NewCookieStore(securecookie.GenerateRandomKey(32), securecookie.GenerateRandomKey(32))
		cs.Options = &sessions.Options{Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
		s.store = cs
	}
	s.registerBuiltin()
	return s
}

// ServeHTTP routes a request under the server's prefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, s.prefix)
	if !ok {
		writeError(w, NewError(CodeNotFound, "not under "+s.prefix))
		return
	}
	switch {
	case s.hub != nil && isReverseEndpoint(rest):
		s.serveReverse(w, r, rest)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		s.serveGet(w, r, rest)
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeError(w, Errorf(CodeNotFound, "%s not served", r.Method))
	case rest == "call":
		s.postCall(w, r)
	default:
		writeError(w, Errorf(CodeNotFound, "no endpoint %q", rest))
	}
}

func (s *Server) serveGet(w http.ResponseWriter, r *http.Request, rest string) {
	if rest == "engine.js" {
		serveAsset(w, r, s.engine)
		return
	}
	if id, ok := strings.CutPrefix(rest, "download/"); ok && r.Method == http.MethodGet {
		s.serveDownload(w, r, id)
		return
	}
	if s.debugPage && (rest == "" || rest == "debug.js" || rest == "debug.css") {
		s.serveDebug(w, r, rest)
		return
	}
	if file, ok := strings.CutPrefix(rest, "interface/"); ok {
		name := strings.TrimSuffix(strings.TrimSuffix(file, ".js"), ".d.ts")
		s.mu.RLock()
		svc := s.services[name]
		s.mu.RUnlock()
		if svc != nil {
			if a, ok := svc.files[file]; ok {
				serveAsset(w, r, a)
				return
			}
		}
	}
	writeError(w, Errorf(CodeNotFound, "no file %q", rest))
}

func serveAsset(w http.ResponseWriter, r *http.Request, a asset) {
	h := w.Header()
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", a.contentType)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(a.body)
}

// request is what every POST carries: the page's script session, if any,
// the highest reverse sequence number it has run, and the calls.
type request struct {
	Session string     `json:"session"`
	Ack     uint64     `json:"ack"`
	Page    string     `json:"page"`
	Calls   []wireCall `json:"calls"`
	// Ordered asks the calls of the batch to run one after another, in
	// call order, instead of concurrently.
	Ordered bool `json:"ordered"`
	// Wait, false, asks a poll to be answered at once (the polling
	// transport); absent or true, it is held (long-poll).
	Wait *bool `json:"wait"`
}

// post checks a POST against CSRF, reads its body within the limit, finds
// the HTTP session, and hands over to next.
func (s *Server) post(w http.ResponseWriter, r *http.Request, next func(http.ResponseWriter, *http.Request, *exchange)) {
	if err := s.checkCSRF(r); err != nil {
		writeError(w, err)
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	body, err := readBodyInto(r, buf.b[:0], s.maxBody)
	buf.b = body
	if err != nil {
		if errors.Is(err, errTooLarge) {
			w.Header().Set("Connection", "close")
			writeError(w, Errorf(CodeResourceExhausted, "request body over %d bytes", s.maxBody))
		} else {
			writeError(w, NewError(CodeInvalidArgument, "request body could not be read"))
		}
		return
	}
	x := &exchange{srv: s, r: r, httpID: s.browserID(w, r)}
	if err := s.decodeRequest(body, &x.req, &x.spare); err != nil {
		writeError(w, NewError(CodeInvalidArgument, "request body is not a Parley JSON object: "+describeJSONError(err)))
		return
	}
	next(w, r, x)
}

var errTooLarge = errors.New("request body too large")

// readBody reads at most limit bytes of r's body, sized up front from its
// Content-Length.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, min(max(r.ContentLength, 512), limit)+1))
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	return buf.Bytes(), err
}

// readBodyInto appends r's body to buf and returns it, or errTooLarge once
// it passes limit bytes.
func readBodyInto(r *http.Request, buf []byte, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return buf, errTooLarge
	}
	if want := int(r.ContentLength) + 1; r.ContentLength > 0 && cap(buf) < want {
		buf = make([]byte, 0, want)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// browserID returns the random id of the browser's HTTP session, from the
// id cookie, setting a new one when the request has none. Script sessions
// are bound to it. It is a cookie of its own, apart from the gorilla
// session, so that requests that never touch session values do not pay
// for decoding it.
func (s *Server) browserID(w http.ResponseWriter, r *http.Request) string {
	if v := cookieValue(r, s.idCookie); validBrowserID(v) {
		return v
	}
	id := rand.Text()
	http.SetCookie(w, &http.Cookie{
		Name: s.idCookie, Value: id, Path: "/",
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
	return id
}

// cookieValue returns the value of the request's cookie name, or "". It
// reads the Cookie headers without parsing every cookie.
func cookieValue(r *http.Request, name string) string {
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			if v, ok := strings.CutPrefix(part, name); ok && strings.HasPrefix(v, "=") {
				return strings.Trim(v[1:], `"`)
			}
		}
	}
	return ""
}

// validBrowserID reports whether v is an id browserID could have made:
// 26 characters of base32, 128 random bits.
func validBrowserID(v string) bool {
	if len(v) != 26 {
		return false
	}
	for _, c := range v {
		if (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// exchange is one POST being served.
type exchange struct {
	srv    *Server
	r      *http.Request
	req    request
	httpID string

	sessMu      sync.Mutex        // guards what follows across the concurrent calls of a batch
	httpSession *sessions.Session // loaded on first use
	sessReq     *http.Request     // the store's own copy of r
	dirty       bool

	files map[string][]*multipart.FileHeader // a multipart request's files, by part name
	spare spareSlices
}

// sessionLocked loads the gorilla session on first use. A cookie that does
// not decode (signed with other keys, say) starts a fresh session.
func (x *exchange) sessionLocked() *sessions.Session {
	if x.httpSession == nil {
		// gorilla/sessions rewrites the request it is given (*r =
		// *r.WithContext(…)), which would race with the batch's other
		// calls reading it: give it a copy of its own.
		x.sessReq = new(http.Request)
		*x.sessReq = *x.r
		sess, err := x.srv.store.Get(x.sessReq, x.srv.sessionName)
		if err != nil {
			sess, _ = x.srv.store.New(x.sessReq, x.srv.sessionName)
		}
		x.httpSession = sess
	}
	return x.httpSession
}

// saveSession writes the HTTP session cookie if it changed. It must run
// before the reply's body is written.
func (s *Server) saveSession(w http.ResponseWriter, x *exchange) {
	x.sessMu.Lock()
	defer x.sessMu.Unlock()
	if !x.dirty {
		return
	}
	if err := x.httpSession.Save(x.sessReq, w); err != nil {
		s.log.Error("parley: saving the HTTP session", "err", err)
	}
}

// checkCSRF refuses requests a cross-site page could make: they must be
// JSON with the X-Parley header, which a form or simple request cannot
// send, and come from the server's own origin or an allowed one.
func (s *Server) checkCSRF(r *http.Request) *Error {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/json") {
		return NewError(CodePermissionDenied, "requests must be application/json")
	}
	if r.Header.Get("X-Parley") == "" {
		return NewError(CodePermissionDenied, "requests must carry the X-Parley header")
	}
	return s.checkOrigin(r)
}

// checkOrigin refuses requests from another site than the server's own
// or an allowed origin.
func (s *Server) checkOrigin(r *http.Request) *Error {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" && len(s.origins) == 0 {
		return NewError(CodePermissionDenied, "cross-site request refused")
	}
	origin := r.Header.Get("Origin")
	if origin == "" || s.origins[origin] {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host != r.Host {
		return NewError(CodePermissionDenied, "origin "+origin+" is not allowed")
	}
	return nil
}

// writeError fails a whole request with e and its HTTP status.
func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Code.HTTPStatus(), struct {
		Error *Error `json:"error"`
	}{e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"reply could not be encoded"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
