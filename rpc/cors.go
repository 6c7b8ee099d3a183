package rpc

import (
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// WithAllowedOrigins lets pages of other origins, such as
// "https://app.example.com", call the server besides its own origin, with
// their cookies: it answers their CORS preflight requests and marks its
// replies to them with Access-Control-Allow-Origin and
// Access-Control-Allow-Credentials. An origin is a scheme (http or https),
// a host and an optional port, with no path; it is compared with the
// page's exactly after normalising case, a trailing slash and the
// scheme's default port. Default: none, only the server's own origin. An
// entry that is not such an origin panics, as a configuration error.
//
// Cookies reach the server from another origin only as the browser's
// cookie rules allow: pages of the same site (another port or
// subdomain) send the default SameSite=Lax cookies; pages of another
// site need cookies marked SameSite=None and Secure.
func WithAllowedOrigins(origins ...string) Option {
	return func(s *Server) {
		for _, o := range origins {
			n, ok := normalizeOrigin(strings.TrimSuffix(o, "/"))
			if !ok {
				panic("rpc: WithAllowedOrigins: " + o + " is not an origin such as https://app.example.com")
			}
			s.origins[n] = true
		}
	}
}

// preflightMaxAge is how long, in seconds, a browser may keep the answer
// to a preflight request.
const preflightMaxAge = "600"

// preflightHeaders are the request headers a preflight allows when the
// browser names none: those the runtime sends.
const preflightHeaders = "Content-Type, X-Parley, Last-Event-ID"

// normalizeOrigin returns origin, an http or https URL with a host and
// nothing after it, in lower case and without the scheme's default port.
// ok is false for anything else, such as "null".
func normalizeOrigin(origin string) (n string, ok bool) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	var defaultPort string
	switch scheme {
	case "http":
		defaultPort = "80"
	case "https":
		defaultPort = "443"
	default:
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", false
	}
	if port := u.Port(); port != "" && port != defaultPort {
		return scheme + "://" + net.JoinHostPort(host, port), true
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host, true
}

// ownOrigin returns the origin the client reached the server at: the
// scheme of the connection (or, behind trusted proxies, the one they
// report) and the Host header.
func (s *Server) ownOrigin(r *http.Request) string {
	n, _ := normalizeOrigin(s.scheme(r) + "://" + r.Host)
	return n
}

// listedOrigin reports whether origin, as a request's Origin header gives
// it, is one of the allowed origins.
func (s *Server) listedOrigin(origin string) bool {
	if len(s.origins) == 0 || origin == "" {
		return false
	}
	n, ok := normalizeOrigin(origin)
	return ok && s.origins[n]
}

// corsHeaders marks the reply to r for the browser: a request from an
// allowed origin may read it, with credentials. With allowed origins, every
// reply varies by Origin.
func (s *Server) corsHeaders(w http.ResponseWriter, r *http.Request) {
	if len(s.origins) == 0 {
		return
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if origin := r.Header.Get("Origin"); s.listedOrigin(origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// serveOptions answers OPTIONS on a known path, whose methods are allow.
// A CORS preflight from the server's own origin or an allowed one gets
// 204 with the Access-Control-Allow-* headers; one from any other origin
// is refused with permission_denied and no CORS headers. A plain OPTIONS
// gets 204 and the Allow header.
func (s *Server) serveOptions(w http.ResponseWriter, r *http.Request, allow string) {
	h := w.Header()
	h.Set("Allow", allow+", OPTIONS")
	origin := r.Header.Get("Origin")
	method := r.Header.Get("Access-Control-Request-Method")
	if origin == "" || method == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	if !s.listedOrigin(origin) {
		if n, ok := normalizeOrigin(origin); !ok || n != s.ownOrigin(r) {
			s.refuse(w, NewError(CodePermissionDenied, "origin "+origin+" is not allowed"))
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	// The browser asks for the headers the page's code sets; an allowed
	// origin is trusted with the credentials of its calls, so it may send
	// the headers of its choice.
	headers := r.Header.Get("Access-Control-Request-Headers")
	if headers == "" {
		headers = preflightHeaders
	}
	h.Set("Access-Control-Allow-Methods", allow)
	h.Set("Access-Control-Allow-Headers", headers)
	h.Set("Access-Control-Max-Age", preflightMaxAge)
	w.WriteHeader(http.StatusNoContent)
}

// methods returns the methods served on rest, a path under the prefix, as
// an Allow header lists them, or "" when nothing is served there.
func (s *Server) methods(rest string) string {
	switch {
	case rest == "call":
		return http.MethodPost
	case isReverseEndpoint(rest):
		switch {
		case s.hub == nil:
			return ""
		case rest == "sse", rest == "ws":
			return http.MethodGet
		}
		return http.MethodPost
	case rest == "health":
		return "GET, HEAD"
	case strings.HasPrefix(rest, "download/"):
		// Fetching a download consumes it: HEAD is not served.
		return http.MethodGet
	case s.debugPage && (rest == "" || rest == "debug.js" || rest == "debug.css"):
		return "GET, HEAD"
	}
	if _, ok := s.asset(rest); ok {
		return "GET, HEAD"
	}
	return ""
}

// allows reports whether method is one of allow, a list methods returned.
func allows(allow, method string) bool {
	for m := range strings.SplitSeq(allow, ", ") {
		if m == method {
			return true
		}
	}
	return false
}

// writeMethodNotAllowed refuses a method rest does not serve: 405, the
// Allow header, and an unimplemented error.
func writeMethodNotAllowed(w http.ResponseWriter, r *http.Request, rest, allow string) {
	w.Header().Set("Allow", allow+", OPTIONS")
	writeJSON(w, http.StatusMethodNotAllowed, struct {
		Error *Error `json:"error"`
	}{Errorf(CodeUnimplemented, "%s is not served on %q; use %s", r.Method, rest, allow)})
}

// isJSON reports whether a Content-Type header is application/json, with
// no parameter but an optional charset=utf-8.
func isJSON(contentType string) bool {
	if contentType == "application/json" { // what the runtime sends, without parsing
		return true
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}
