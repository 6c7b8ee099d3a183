package rpc

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reply is what a raw request got back: status, headers and, for a
// Parley error, its code.
type reply struct {
	status int
	header http.Header
	code   string
}

// send makes a request to ts with the given headers (name, value pairs)
// and reads the reply.
func send(t *testing.T, ts *httptest.Server, method, path, body string, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := ts.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	rep := reply{status: res.StatusCode, header: res.Header}
	if len(b) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		var out struct{ Error *Error }
		require.NoError(t, json.Unmarshal(b, &out), "%s", b)
		if out.Error != nil {
			rep.code = string(out.Error.Code)
		}
	}
	return rep
}

// parleyHeaders are what the runtime sends with a JSON POST.
func parleyHeaders(more ...string) []string {
	return append([]string{"Content-Type", "application/json", "X-Parley", "1"}, more...)
}

func TestContentTypeIsParsedExactly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		ctype string
		ok    bool
	}{
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"application/json;charset=UTF-8", true},
		{"Application/JSON", true},
		{`application/json; charset="utf-8"`, true},
		{"application/jsonx", false},
		{"application/json-seq", false},
		{"application/json+x", false},
		{"application/json; charset=iso-8859-1", false},
		{"application/json; boundary=x", false},
		{"application/json; charset=utf-8; q=1", false},
		{"application/json, text/plain", false},
		{"application/json;", true},
		{"application/json; =x", false},
		{"text/plain", false},
		{"text/plain; charset=application/json", false},
		{"application/x-www-form-urlencoded", false},
		{"", false},
	} {
		t.Run(tc.ctype, func(t *testing.T) {
			got := send(t, f.ts, "POST", "/parley/call", `{"calls":[]}`, "Content-Type", tc.ctype, "X-Parley", "1")
			if tc.ok {
				assert.Equal(t, http.StatusOK, got.status)
				return
			}
			assert.Equal(t, http.StatusForbidden, got.status)
			assert.Equal(t, "permission_denied", got.code)
		})
	}
}

func TestOriginIsComparedByScheme(t *testing.T) {
	t.Parallel()
	plain := newFixture(t)
	listed := newFixture(t, WithAllowedOrigins("HTTPS://App.Example:443/"))
	proxied := newFixture(t, WithTrustedProxies("127.0.0.1", "::1"))
	host := strings.TrimPrefix(plain.ts.URL, "http://")
	for _, tc := range []struct {
		name   string
		f      *fixture
		header []string
		ok     bool
	}{
		{"own origin", plain, []string{"Origin", plain.ts.URL}, true},
		{"own origin in capitals", plain, []string{"Origin", "HTTP://" + host}, true},
		{"no origin", plain, nil, true},
		{"no origin, same origin fetch", plain, []string{"Sec-Fetch-Site", "same-origin"}, true},
		{"https origin over http", plain, []string{"Origin", "https://" + host}, false},
		{"another port", plain, []string{"Origin", "http://127.0.0.1:1"}, false},
		{"another host, same port", plain, []string{"Origin", "http://localhost:" + plain.ts.URL[strings.LastIndex(plain.ts.URL, ":")+1:]}, false},
		{"opaque origin", plain, []string{"Origin", "null"}, false},
		{"origin with a path", plain, []string{"Origin", plain.ts.URL + "/x"}, false},
		{"not a URL", plain, []string{"Origin", "%%"}, false},
		{"no origin, cross-site", plain, []string{"Sec-Fetch-Site", "cross-site"}, false},
		{"no origin, same site", plain, []string{"Sec-Fetch-Site", "same-site"}, false},
		{"listed origin", listed, []string{"Origin", "https://app.example"}, true},
		{"listed origin, cross-site", listed, []string{"Origin", "https://app.example", "Sec-Fetch-Site", "cross-site"}, true},
		{"listed host over http", listed, []string{"Origin", "http://app.example"}, false},
		{"listed host, another port", listed, []string{"Origin", "https://app.example:8443"}, false},
		{"a subdomain of a listed host", listed, []string{"Origin", "https://evil.app.example"}, false},
		{"listed, no origin, cross-site", listed, []string{"Sec-Fetch-Site", "cross-site"}, false},
		{"https behind a trusted proxy", proxied, []string{"Origin", "https://" + strings.TrimPrefix(proxied.ts.URL, "http://"), "X-Forwarded-Proto", "https"}, true},
		{"http origin when the proxy says https", proxied, []string{"Origin", proxied.ts.URL, "X-Forwarded-Proto", "https"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := send(t, tc.f.ts, "POST", "/parley/call", `{"calls":[]}`, parleyHeaders(tc.header...)...)
			if tc.ok {
				assert.Equal(t, http.StatusOK, got.status)
				return
			}
			assert.Equal(t, http.StatusForbidden, got.status)
			assert.Equal(t, "permission_denied", got.code)
		})
	}
}

func TestNormalizeOrigin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://app.example", "https://app.example"},
		{"HTTPS://APP.Example", "https://app.example"},
		{"https://app.example:443", "https://app.example"},
		{"http://app.example:80", "http://app.example"},
		{"http://app.example:443", "http://app.example:443"},
		{"https://app.example:8443", "https://app.example:8443"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"http://[::1]:80", "http://[::1]"},
		{"null", ""},
		{"app.example", ""},
		{"ftp://app.example", ""},
		{"https://app.example/", ""},
		{"https://app.example?x", ""},
		{"https://user@app.example", ""},
		{"https://app.example:x", ""},
		{"https://", ""},
		{"", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := normalizeOrigin(tc.in)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.want != "", ok)
		})
	}
}

func TestAllowedOriginsMustBeOrigins(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"*", "app.example", "https://app.example/app", "ftp://app.example", "null"} {
		t.Run(bad, func(t *testing.T) {
			assert.Panics(t, func() { NewServer(WithAllowedOrigins(bad)) })
		})
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	const app = "https://app.example"
	f := newFixture(t, WithAllowedOrigins(app))
	preflight := func(path, origin, method, headers string) []string {
		h := []string{"Origin", origin, "Access-Control-Request-Method", method}
		if headers != "" {
			h = append(h, "Access-Control-Request-Headers", headers)
		}
		return h
	}

	t.Run("preflights", func(t *testing.T) {
		for _, tc := range []struct {
			name, path, method, headers string
			wantMethods, wantHeaders    string
		}{
			{"call", "/parley/call", "POST", "content-type,x-parley", "POST", "content-type,x-parley"},
			{"call with a header of the page's", "/parley/call", "POST", "content-type,x-parley,x-tenant", "POST", "content-type,x-parley,x-tenant"},
			{"session", "/parley/session", "POST", "content-type,x-parley", "POST", "content-type,x-parley"},
			{"sse", "/parley/sse", "GET", "last-event-id,x-parley", "GET", "last-event-id,x-parley"},
			{"engine", "/parley/engine.js", "GET", "", "GET, HEAD", preflightHeaders},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := send(t, f.ts, "OPTIONS", tc.path, "", preflight(tc.path, app, tc.method, tc.headers)...)
				assert.Equal(t, http.StatusNoContent, got.status)
				assert.Equal(t, app, got.header.Get("Access-Control-Allow-Origin"))
				assert.Equal(t, "true", got.header.Get("Access-Control-Allow-Credentials"))
				assert.Equal(t, tc.wantMethods, got.header.Get("Access-Control-Allow-Methods"))
				assert.Equal(t, tc.wantHeaders, got.header.Get("Access-Control-Allow-Headers"))
				assert.Equal(t, "600", got.header.Get("Access-Control-Max-Age"))
				assert.Contains(t, got.header.Values("Vary"), "Origin")
			})
		}
	})

	t.Run("preflights refused", func(t *testing.T) {
		for _, tc := range []struct {
			name, path, origin string
			status             int
			code               string
		}{
			{"unlisted origin", "/parley/call", "https://evil.example", http.StatusForbidden, "permission_denied"},
			{"listed host over http", "/parley/call", "http://app.example", http.StatusForbidden, "permission_denied"},
			{"opaque origin", "/parley/call", "null", http.StatusForbidden, "permission_denied"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := send(t, f.ts, "OPTIONS", tc.path, "", preflight(tc.path, tc.origin, "POST", "content-type,x-parley")...)
				assert.Equal(t, tc.status, got.status)
				assert.Equal(t, tc.code, got.code)
				assert.Empty(t, got.header.Get("Access-Control-Allow-Origin"))
				assert.Empty(t, got.header.Get("Access-Control-Allow-Credentials"))
				assert.Empty(t, got.header.Get("Access-Control-Allow-Methods"))
			})
		}
		t.Run("unknown path", func(t *testing.T) {
			got := send(t, f.ts, "OPTIONS", "/parley/nothing", "", preflight("/parley/nothing", app, "POST", "content-type,x-parley")...)
			assert.Equal(t, http.StatusNotFound, got.status)
			assert.Equal(t, "not_found", got.code)
			assert.Empty(t, got.header.Get("Access-Control-Allow-Methods"), "no method is granted")
		})
	})

	t.Run("replies", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, path, body string
			header                   []string
			status                   int
		}{
			{"call", "POST", "/parley/call", `{"calls":[]}`, parleyHeaders(), http.StatusOK},
			{"refused call", "POST", "/parley/call", `{"calls":[]}`, []string{"Content-Type", "application/json"}, http.StatusForbidden},
			{"bad call", "POST", "/parley/call", `{"calls":`, parleyHeaders(), http.StatusBadRequest},
			{"session", "POST", "/parley/session", `{"page":"/"}`, parleyHeaders(), http.StatusOK},
			{"stream of a gone session", "GET", "/parley/sse?session=gone", "", []string{"X-Parley", "1"}, http.StatusOK},
			{"engine", "GET", "/parley/engine.js", "", nil, http.StatusOK},
			{"module", "GET", "/parley/interface/Calc.js", "", nil, http.StatusOK},
			{"unknown file", "GET", "/parley/interface/Nope.js", "", nil, http.StatusNotFound},
			{"wrong method", "GET", "/parley/call", "", nil, http.StatusMethodNotAllowed},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := send(t, f.ts, tc.method, tc.path, tc.body, append(tc.header, "Origin", app)...)
				assert.Equal(t, tc.status, got.status)
				assert.Equal(t, app, got.header.Get("Access-Control-Allow-Origin"))
				assert.Equal(t, "true", got.header.Get("Access-Control-Allow-Credentials"))
				assert.Contains(t, got.header.Values("Vary"), "Origin")

				other := send(t, f.ts, tc.method, tc.path, tc.body, append(tc.header, "Origin", "https://evil.example")...)
				assert.Empty(t, other.header.Get("Access-Control-Allow-Origin"), "an unlisted origin gets no CORS headers")
				assert.Empty(t, other.header.Get("Access-Control-Allow-Credentials"))
				assert.Contains(t, other.header.Values("Vary"), "Origin", "a cache keeps replies apart by origin")
			})
		}
	})

	t.Run("cookies across the origin", func(t *testing.T) {
		c := f.client(t)
		req := func(body string) map[string]any {
			r, err := http.NewRequest("POST", f.ts.URL+"/parley/call", strings.NewReader(body))
			require.NoError(t, err)
			for i, h := 0, parleyHeaders("Origin", app); i < len(h); i += 2 {
				r.Header.Set(h[i], h[i+1])
			}
			res, err := c.http.Do(r)
			require.NoError(t, err)
			defer res.Body.Close()
			require.Equal(t, http.StatusOK, res.StatusCode)
			var out map[string]any
			require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
			return out
		}
		req(`{"calls":[{"id":1,"service":"Calc","method":"remember","args":["kept"]}]}`)
		out := req(`{"calls":[{"id":1,"service":"Calc","method":"recall","args":[]}]}`)
		assert.Equal(t, "kept", results(out)[0]["result"])
	})

	t.Run("without allowed origins", func(t *testing.T) {
		plain := newFixture(t)
		got := send(t, plain.ts, "OPTIONS", "/parley/call", "", preflight("/parley/call", app, "POST", "content-type")...)
		assert.Equal(t, http.StatusForbidden, got.status)
		assert.Equal(t, "permission_denied", got.code)
		assert.Empty(t, got.header.Get("Access-Control-Allow-Origin"))
		got = send(t, plain.ts, "POST", "/parley/call", `{"calls":[]}`, parleyHeaders("Origin", plain.ts.URL)...)
		assert.Equal(t, http.StatusOK, got.status)
		assert.Empty(t, got.header.Get("Access-Control-Allow-Origin"))
		assert.Empty(t, got.header.Values("Vary"))
	})
}

func TestWrongMethods(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithDebugPage())
	remoting := NewServer()
	remoting.Register(testService())
	bare := httptest.NewServer(remoting)
	t.Cleanup(bare.Close)
	for _, tc := range []struct {
		name, method, path string
		ts                 *httptest.Server
		status             int
		code, allow        string
	}{
		{"PUT call", "PUT", "/parley/call", f.ts, 405, "unimplemented", "POST, OPTIONS"},
		{"GET call", "GET", "/parley/call", f.ts, 405, "unimplemented", "POST, OPTIONS"},
		{"DELETE call", "DELETE", "/parley/call", f.ts, 405, "unimplemented", "POST, OPTIONS"},
		{"GET session", "GET", "/parley/session", f.ts, 405, "unimplemented", "POST, OPTIONS"},
		{"GET poll", "GET", "/parley/poll", f.ts, 405, "unimplemented", "POST, OPTIONS"},
		{"PUT ack", "PUT", "/parley/ack", f.ts, 405, "unimplemented", "POST, OPTIONS"},
		{"GET bye", "GET", "/parley/bye", f.ts, 405, "unimplemented", "POST, OPTIONS"},
		{"POST sse", "POST", "/parley/sse", f.ts, 405, "unimplemented", "GET, OPTIONS"},
		{"POST engine", "POST", "/parley/engine.js", f.ts, 405, "unimplemented", "GET, HEAD, OPTIONS"},
		{"PUT module", "PUT", "/parley/interface/Calc.js", f.ts, 405, "unimplemented", "GET, HEAD, OPTIONS"},
		{"POST types", "POST", "/parley/interface/Calc.d.ts", f.ts, 405, "unimplemented", "GET, HEAD, OPTIONS"},
		{"POST download", "POST", "/parley/download/abc", f.ts, 405, "unimplemented", "GET, OPTIONS"},
		{"POST debug page", "POST", "/parley/", f.ts, 405, "unimplemented", "GET, HEAD, OPTIONS"},
		{"plain OPTIONS", "OPTIONS", "/parley/call", f.ts, 204, "", "POST, OPTIONS"},
		{"unknown endpoint", "PUT", "/parley/nothing", f.ts, 404, "not_found", ""},
		{"unknown module", "POST", "/parley/interface/Nope.js", f.ts, 404, "not_found", ""},
		{"unknown download", "GET", "/parley/download/abc", f.ts, 404, "not_found", ""},
		{"reverse endpoint without a hub", "GET", "/parley/poll", bare, 404, "not_found", ""},
		{"debug page when off", "POST", "/parley/", bare, 404, "not_found", ""},
		{"call without a hub", "GET", "/parley/call", bare, 405, "unimplemented", "POST, OPTIONS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := send(t, tc.ts, tc.method, tc.path, "")
			assert.Equal(t, tc.status, got.status)
			assert.Equal(t, tc.code, got.code)
			assert.Equal(t, tc.allow, got.header.Get("Allow"))
		})
	}
	t.Run("HEAD download", func(t *testing.T) {
		got := send(t, f.ts, "HEAD", "/parley/download/abc", "")
		assert.Equal(t, http.StatusMethodNotAllowed, got.status)
		assert.Equal(t, "GET, OPTIONS", got.header.Get("Allow"))
	})
}

func TestDebugPageAccess(t *testing.T) {
	t.Parallel()
	admin := func(r *http.Request) bool { return r.Header.Get("X-Admin") == "yes" }
	for _, tc := range []struct {
		name, remote, path string
		opts               []Option
		header             []string
		ok                 bool
	}{
		{"loopback", "127.0.0.1:5000", "/parley/", nil, nil, true},
		{"IPv6 loopback", "[::1]:5000", "/parley/", nil, nil, true},
		{"loopback, script", "127.0.0.1:5000", "/parley/debug.js", nil, nil, true},
		{"another machine", "203.0.113.5:5000", "/parley/", nil, nil, false},
		{"another machine, script", "203.0.113.5:5000", "/parley/debug.js", nil, nil, false},
		{"another machine, style", "203.0.113.5:5000", "/parley/debug.css", nil, nil, false},
		{"another machine, HEAD", "203.0.113.5:5000", "/parley/", nil, nil, false},
		{"loopback forwarding for another machine", "127.0.0.1:5000", "/parley/", nil, []string{"X-Forwarded-For", "203.0.113.5"}, false},
		{"loopback forwarding for loopback", "127.0.0.1:5000", "/parley/", nil, []string{"X-Forwarded-For", "127.0.0.1"}, false},
		{"loopback with Forwarded", "127.0.0.1:5000", "/parley/", nil, []string{"Forwarded", "for=203.0.113.5"}, false},
		{"loopback with X-Real-IP", "127.0.0.1:5000", "/parley/", nil, []string{"X-Real-IP", "203.0.113.5"}, false},
		{"untrusted proxy, loopback peer", "127.0.0.1:5000", "/parley/", []Option{WithTrustedProxies("10.0.0.0/8")}, []string{"X-Forwarded-For", "203.0.113.5"}, false},
		{"trusted proxy, another machine", "10.0.0.2:5000", "/parley/", []Option{WithTrustedProxies("10.0.0.0/8")}, []string{"X-Forwarded-For", "203.0.113.5"}, false},
		{"trusted proxy, loopback client", "10.0.0.2:5000", "/parley/", []Option{WithTrustedProxies("10.0.0.0/8")}, []string{"X-Forwarded-For", "127.0.0.1"}, true},
		{"trusted local proxy, another machine", "127.0.0.1:5000", "/parley/", []Option{WithTrustedProxies("127.0.0.1")}, []string{"X-Forwarded-For", "203.0.113.5"}, false},
		{"access function admits", "203.0.113.5:5000", "/parley/", []Option{WithDebugAccess(admin)}, []string{"X-Admin", "yes"}, true},
		{"access function refuses loopback", "127.0.0.1:5000", "/parley/", []Option{WithDebugAccess(admin)}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := NewServer(append([]Option{WithDebugPage()}, tc.opts...)...)
			method := http.MethodGet
			if strings.HasSuffix(tc.name, "HEAD") {
				method = http.MethodHead
			}
			req := httptest.NewRequest(method, tc.path, nil)
			req.RemoteAddr = tc.remote
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if tc.ok {
				assert.Equal(t, http.StatusOK, rec.Code)
				return
			}
			assert.Equal(t, http.StatusForbidden, rec.Code)
			assert.NotContains(t, rec.Body.String(), "Parley debug")
			if method == http.MethodGet {
				var out struct{ Error *Error }
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
				assert.Equal(t, CodePermissionDenied, out.Error.Code)
			}
		})
	}
}

func TestDebugPageHidesSessionIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithDebugPage())
	var ids, browsers []string
	for _, page := range []string{"/a", "/a", "/b"} {
		c := f.client(t)
		ids = append(ids, c.openSession(page))
		u, err := url.Parse(f.ts.URL)
		require.NoError(t, err)
		for _, k := range c.http.Jar.Cookies(u) {
			browsers = append(browsers, k.Value)
		}
	}
	require.Len(t, browsers, 3, "each browser got an id cookie")
	status, _, page := f.client(t).get("/parley/")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, "3 live")
	for _, id := range ids {
		require.Greater(t, len(id), debugIDChars)
		assert.NotContains(t, page, id[:debugIDChars+1], "no more of a session id than its first characters")
		assert.Contains(t, page, "<code>"+id[:debugIDChars]+"…</code>")
	}
	for _, b := range browsers {
		assert.NotContains(t, page, b[:debugIDChars], "no part of a browser id")
	}
}
