package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

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

// WithMaxDepth limits how deeply a request body may nest objects and
// arrays, arguments included; the request object itself is level 1 and
// a call's argument list level 4. A deeper body fails with
// resource_exhausted. Default 64; n is kept between 4 and 10000.
func WithMaxDepth(n int) Option {
	return func(s *Server) { s.maxDepth = min(max(n, minMaxDepth), maxMaxDepth) }
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
	maxDepth     int
	origins      map[string]bool
	log          *slog.Logger
	engine       engineFiles
	interceptors []Interceptor
	authorizer   Authorizer
	maxUpload    int64
	downloadTTL  time.Duration
	downloads    downloads
	debugPage    bool
	debugAccess  func(*http.Request) bool
	ids          idSigner // the browser id cookie: see cookie.go
	subAuth      SubscribeAuthorizer
	proxies      []netip.Prefix
	observers    observers // see observe.go

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
		maxDepth:    defaultMaxDepth,
		maxUpload:   32 << 20,
		downloadTTL: 5 * time.Minute,
		origins:     map[string]bool{},
		log:         slog.Default(),
		engine:      newEngineFiles(),
		services:    map[string]*service{},
	}
	for _, o := range opts {
		o(s)
	}
	s.ids.init(s.sessionName + "_id")
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
		s.refuse(w, NewError(CodeNotFound, "not under "+s.prefix))
		return
	}
	s.corsHeaders(w, r)
	allow := s.methods(rest)
	switch {
	case allow == "":
		s.refuse(w, Errorf(CodeNotFound, "no endpoint %q", rest))
	case r.Method == http.MethodOptions:
		s.serveOptions(w, r, allow)
	case !allows(allow, r.Method):
		writeMethodNotAllowed(w, r, rest, allow)
	case isReverseEndpoint(rest):
		s.serveReverse(w, r, rest)
	case rest == "call":
		s.postCall(w, r)
	default:
		s.serveGet(w, r, rest)
	}
}

func (s *Server) serveGet(w http.ResponseWriter, r *http.Request, rest string) {
	if rest == "health" {
		s.serveHealth(w)
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
	if a, ok := s.asset(rest); ok {
		serveAsset(w, r, a)
		return
	}
	s.refuse(w, Errorf(CodeNotFound, "no file %q", rest))
}

// request is what every POST carries: the page's script session, if any,
// the highest reverse sequence number it has run, and the calls.
type request struct {
	Session string `json:"session"`
	Ack     uint64 `json:"ack"`
	// Cookie, on an ack, asks for the cookies the calls over the page's
	// WebSocket set, which only an HTTP reply can carry.
	Cookie bool       `json:"cookie"`
	Page   string     `json:"page"`
	Calls  []wireCall `json:"calls"`
	// Ordered asks the calls of the batch to run one after another, in
	// call order, instead of concurrently.
	Ordered bool `json:"ordered"`
	// Wait, false, asks a poll to be answered at once (the polling
	// transport); absent or true, it is held (long-poll).
	Wait *bool `json:"wait"`
	// Pull, on a call, says the page receives only on the replies to its
	// calls (the passive transport): a server that does not hold its
	// session fetches the messages from the one that does.
	Pull bool `json:"pull"`
	// Sessions names, in place of Session and Ack, the sessions of a
	// multiplexed poll or ack, each with its ack; nil when absent.
	Sessions map[string]uint64 `json:"sessions"`
}

// post checks a POST against CSRF, reads its body within the limit, finds
// the HTTP session, and hands over to next.
func (s *Server) post(w http.ResponseWriter, r *http.Request, next func(http.ResponseWriter, *http.Request, *exchange)) {
	if err := s.checkCSRF(r); err != nil {
		s.refuse(w, err)
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	body, err := readBodyInto(r, buf.b[:0], s.maxBody)
	buf.b = body
	if err != nil {
		if errors.Is(err, errTooLarge) {
			w.Header().Set("Connection", "close")
			s.refuse(w, Errorf(CodeResourceExhausted, "request body over %d bytes", s.maxBody))
		} else {
			s.refuse(w, NewError(CodeInvalidArgument, "request body could not be read"))
		}
		return
	}
	x := &exchange{srv: s, r: r, httpID: s.browserID(w, r)}
	if err := s.decodeRequest(body, &x.req, &x.spare); err != nil {
		s.refuse(w, err)
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
	newID       string // the browser's new id, once Call.SetUser gave it one

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
	if x.newID != "" {
		s.setIDCookie(w, x.r, x.newID)
	}
	if !x.dirty {
		return
	}
	if err := x.httpSession.Save(x.sessReq, w); err != nil {
		s.log.Error("parley: saving the HTTP session", "err", err)
	}
}

// checkCSRF refuses requests a cross-site page could make: they must be
// application/json (with no parameter but an optional charset=utf-8) and
// carry the X-Parley header, which a form or simple request cannot send,
// and come from the server's own origin or an allowed one.
func (s *Server) checkCSRF(r *http.Request) *Error {
	if !isJSON(r.Header.Get("Content-Type")) {
		return NewError(CodePermissionDenied, "requests must be application/json")
	}
	if r.Header.Get("X-Parley") == "" {
		return NewError(CodePermissionDenied, "requests must carry the X-Parley header")
	}
	return s.checkOrigin(r)
}

// checkOrigin refuses requests from another origin than the server's own
// (same scheme, host and port) or an allowed one. A request without an
// Origin header passes unless the browser marks it as coming from
// another site.
func (s *Server) checkOrigin(r *http.Request) *Error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		switch r.Header.Get("Sec-Fetch-Site") {
		case "cross-site", "same-site":
			return NewError(CodePermissionDenied, "request from another site without an Origin refused")
		}
		return nil
	}
	if s.listedOrigin(origin) {
		return nil
	}
	if n, ok := normalizeOrigin(origin); !ok || n != s.ownOrigin(r) {
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
