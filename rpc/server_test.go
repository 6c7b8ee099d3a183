package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/parley-go/parley/jsruntime"
	"github.com/parley-go/parley/reverse"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testService is a hand-written service of the shape parleygen generates.
func testService() ServiceDesc {
	return ServiceDesc{
		Name:   "Calc",
		Module: "export const Calc = {};",
		Types:  "export declare const Calc: {};",
		Methods: []MethodDesc{
			{Name: "add", Params: []string{"a", "b"}, Handler: func(ctx context.Context, args Args) (any, error) {
				var a, b int
				if err := args.Decode(0, &a); err != nil {
					return nil, err
				}
				if err := args.Decode(1, &b); err != nil {
					return nil, err
				}
				return a + b, nil
			}},
			{Name: "fail", Handler: func(ctx context.Context, args Args) (any, error) {
				return nil, NewError(CodeFailedPrecondition, "not now").WithDetails(map[string]int{"retryIn": 5})
			}},
			{Name: "leak", Handler: func(ctx context.Context, args Args) (any, error) {
				return nil, errors.New("db password is hunter2")
			}},
			{Name: "boom", Handler: func(ctx context.Context, args Args) (any, error) {
				panic("kaboom")
			}},
			{Name: "remember", Params: []string{"v"}, Handler: func(ctx context.Context, args Args) (any, error) {
				var v string
				if err := args.Decode(0, &v); err != nil {
					return nil, err
				}
				CallFrom(ctx).SetSessionValue("v", v)
				return nil, nil
			}},
			{Name: "recall", Handler: func(ctx context.Context, args Args) (any, error) {
				return CallFrom(ctx).SessionValue("v"), nil
			}},
			{Name: "whoami", Handler: func(ctx context.Context, args Args) (any, error) {
				c := CallFrom(ctx)
				id := ""
				if c.ScriptSession != nil {
					id = c.ScriptSession.ID()
				}
				return map[string]string{"method": c.Service + "." + c.Method, "script": id}, nil
			}},
			{Name: "leave", Handler: func(ctx context.Context, args Args) (any, error) {
				CallFrom(ctx).ScriptSession.Close()
				return nil, nil
			}},
			{Name: "push", Params: []string{"fn"}, Handler: func(ctx context.Context, args Args) (any, error) {
				var fn string
				if err := args.Decode(0, &fn); err != nil {
					return nil, err
				}
				return nil, CallFrom(ctx).ScriptSession.Call(fn, "hello")
			}},
		},
	}
}

// client is a browser stand-in with its own cookie jar.
type client struct {
	t    *testing.T
	url  string
	http *http.Client
}

type fixture struct {
	srv *Server
	hub *reverse.Hub
	ts  *httptest.Server
	log *bytes.Buffer
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	f := &fixture{hub: reverse.NewHub(), log: &bytes.Buffer{}}
	opts = append([]Option{WithHub(f.hub), WithLogger(slog.New(slog.NewTextHandler(f.log, nil)))}, opts...)
	f.srv = NewServer(opts...)
	f.srv.Register(testService())
	mux := http.NewServeMux()
	mux.Handle("/parley/", f.srv)
	f.ts = httptest.NewServer(mux)
	t.Cleanup(func() { f.hub.Close(); f.ts.Close() })
	return f
}

func (f *fixture) client(t *testing.T) *client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &client{t: t, url: f.ts.URL, http: &http.Client{Jar: jar}}
}

// post sends body as a Parley request and decodes the JSON reply.
func (c *client) post(path string, body any) (int, map[string]any) {
	c.t.Helper()
	status, raw := c.postRawJSON(path, body)
	var out map[string]any
	require.NoError(c.t, json.Unmarshal(raw, &out), "%s", raw)
	return status, out
}

func (c *client) call(session string, ack uint64, calls ...map[string]any) map[string]any {
	c.t.Helper()
	status, out := c.post("call", map[string]any{"session": session, "ack": ack, "calls": calls})
	require.Equal(c.t, http.StatusOK, status, "%v", out)
	return out
}

func (c *client) openSession(page string) string {
	c.t.Helper()
	status, out := c.post("session", map[string]any{"page": page})
	require.Equal(c.t, http.StatusOK, status)
	return out["session"].(string)
}

func call(id int, method string, args ...any) map[string]any {
	if args == nil {
		args = []any{}
	}
	return map[string]any{"id": id, "service": "Calc", "method": method, "args": args}
}

func results(out map[string]any) []map[string]any {
	var rs []map[string]any
	for _, r := range out["results"].([]any) {
		rs = append(rs, r.(map[string]any))
	}
	return rs
}

func errCode(r map[string]any) string {
	e, _ := r["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestBatchResultsMatchCallIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(t)
	out := c.call("", 0,
		call(7, "add", 2, 3),
		call(8, "add", 40, 2),
		map[string]any{"id": "x", "service": "Nope", "method": "add", "args": []any{}},
		call(9, "missing"),
	)
	rs := results(out)
	require.Len(t, rs, 4)
	assert.EqualValues(t, 7, rs[0]["id"])
	assert.EqualValues(t, 5, rs[0]["result"])
	assert.EqualValues(t, 8, rs[1]["id"])
	assert.EqualValues(t, 42, rs[1]["result"])
	assert.Equal(t, "x", rs[2]["id"])
	assert.Equal(t, "unimplemented", errCode(rs[2]))
	assert.Equal(t, "unimplemented", errCode(rs[3]))
}

func TestBadArgumentsAreInvalid(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(t)
	rs := results(c.call("", 0,
		call(1, "add", 1),
		call(2, "add", "one", 2),
		call(3, "add", 1.5, 2),
		call(4, "add", 1, 2, 3),
	))
	for _, r := range rs {
		assert.Equal(t, "invalid_argument", errCode(r), "%v", r)
	}
	msg := rs[1]["error"].(map[string]any)["message"].(string)
	assert.Contains(t, msg, "argument a")
	assert.NotContains(t, msg, "int", "no Go type names leak")
}

func TestErrorsReachTheBrowserInOneShape(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(t)
	rs := results(c.call("", 0, call(1, "fail"), call(2, "leak"), call(3, "boom"), call(4, "add", 1, 1)))

	assert.Equal(t, map[string]any{"code": "failed_precondition", "message": "not now", "details": map[string]any{"retryIn": float64(5)}}, rs[0]["error"])
	assert.Equal(t, map[string]any{"code": "internal", "message": "internal error"}, rs[1]["error"], "a plain error is not shown")
	assert.Equal(t, map[string]any{"code": "internal", "message": "internal error"}, rs[2]["error"], "a panic becomes internal")
	assert.EqualValues(t, 2, rs[3]["result"], "the batch's other calls are unharmed")

	logged := f.log.String()
	assert.Contains(t, logged, "hunter2", "the real error is logged")
	assert.Contains(t, logged, "kaboom", "the panic is logged")
	assert.Contains(t, logged, "server_test.go", "with its stack")
	assert.EqualValues(t, 2, results(c.call("", 0, call(1, "add", 1, 1)))[0]["result"], "the server stays up")
}

func TestRequestsThatFailWhole(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithMaxBodyBytes(1024), WithMaxBatch(3))
	raw := func(method, path, ctype, body string, header ...string) (int, string) {
		req, err := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var out struct{ Error *Error }
		require.NoError(t, json.NewDecoder(res.Body).Decode(&out), "every failure is Parley JSON")
		require.NotNil(t, out.Error)
		assert.Equal(t, out.Error.Code.HTTPStatus(), res.StatusCode)
		return res.StatusCode, string(out.Error.Code)
	}
	ok := `{"calls":[]}`
	many := `{"calls":[{"id":1},{"id":2},{"id":3},{"id":4}]}`
	for _, tc := range []struct {
		name, method, path, ctype, body string
		header                          []string
		code                            string
	}{
		{"form post", "POST", "/parley/call", "application/x-www-form-urlencoded", ok, []string{"X-Parley", "1"}, "permission_denied"},
		{"no custom header", "POST", "/parley/call", "application/json", ok, nil, "permission_denied"},
		{"foreign origin", "POST", "/parley/call", "application/json", ok, []string{"X-Parley", "1", "Origin", "https://evil.example"}, "permission_denied"},
		{"cross-site fetch", "POST", "/parley/call", "application/json", ok, []string{"X-Parley", "1", "Sec-Fetch-Site", "cross-site"}, "permission_denied"},
		{"malformed JSON", "POST", "/parley/call", "application/json", `{"calls":[`, []string{"X-Parley", "1"}, "invalid_argument"},
		{"calls not a list", "POST", "/parley/call", "application/json", `{"calls":{"id":1}}`, []string{"X-Parley", "1"}, "invalid_argument"},
		{"oversized body", "POST", "/parley/call", "application/json", `{"calls":[],"x":"` + strings.Repeat("a", 2000) + `"}`, []string{"X-Parley", "1"}, "resource_exhausted"},
		{"batch over the cap", "POST", "/parley/call", "application/json", many, []string{"X-Parley", "1"}, "resource_exhausted"},
		{"unknown endpoint", "POST", "/parley/nothing", "application/json", ok, []string{"X-Parley", "1"}, "not_found"},
		{"unknown module", "GET", "/parley/interface/Nope.js", "", "", nil, "not_found"},
		{"poll without session", "POST", "/parley/poll", "application/json", `{}`, []string{"X-Parley", "1"}, "invalid_argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, code := raw(tc.method, tc.path, tc.ctype, tc.body, tc.header...)
			assert.Equal(t, tc.code, code)
		})
	}
	t.Run("same origin passes", func(t *testing.T) {
		assert.Equal(t, http.StatusOK, postFromOrigin(t, f.ts.URL, f.ts.URL))
	})
}

// postFromOrigin posts an empty batch as a page of origin would, and
// returns the reply's status.
func postFromOrigin(t *testing.T, serverURL, origin string) int {
	t.Helper()
	req, err := http.NewRequest("POST", serverURL+"/parley/call", strings.NewReader(`{"calls":[]}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Parley", "1")
	req.Header.Set("Origin", origin)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	return res.StatusCode
}

func TestAllowedOrigins(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithAllowedOrigins("https://app.example/"))
	assert.Equal(t, http.StatusOK, postFromOrigin(t, f.ts.URL, "https://app.example"))
	assert.Equal(t, http.StatusForbidden, postFromOrigin(t, f.ts.URL, "https://other.example"))
}

func TestServesEngineAndModulesWithETags(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	get := func(path, etag string) *http.Response {
		req, _ := http.NewRequest("GET", f.ts.URL+path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	res := get("/parley/engine.js", "")
	body, _ := io.ReadAll(res.Body)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, jsruntime.Engine, body)
	assert.Contains(t, res.Header.Get("Content-Type"), "javascript")
	etag := res.Header.Get("ETag")
	require.NotEmpty(t, etag)
	assert.Equal(t, http.StatusNotModified, get("/parley/engine.js", etag).StatusCode)
	assert.Equal(t, http.StatusOK, get("/parley/engine.js", `"stale"`).StatusCode)

	res = get("/parley/interface/Calc.js", "")
	body, _ = io.ReadAll(res.Body)
	assert.Equal(t, "export const Calc = {};", string(body))
	res = get("/parley/interface/Calc.d.ts", "")
	body, _ = io.ReadAll(res.Body)
	assert.Equal(t, "export declare const Calc: {};", string(body))
}

func TestHTTPSessionValuesPersist(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice, bob := f.client(t), f.client(t)
	c := results(alice.call("", 0, call(1, "remember", "alice's")))
	assert.Empty(t, errCode(c[0]))
	assert.Equal(t, "alice's", results(alice.call("", 0, call(1, "recall")))[0]["result"])
	assert.Nil(t, results(bob.call("", 0, call(1, "recall")))[0]["result"], "bob has his own session")

	// Calls of one batch run concurrently; session access and the request
	// must stay safe (the race detector watches this).
	rs := results(bob.call("", 0, call(1, "remember", "b"), call(2, "whoami"), call(3, "recall"), call(4, "whoami")))
	for _, r := range rs {
		assert.Empty(t, errCode(r))
	}
	assert.Equal(t, "b", results(bob.call("", 0, call(1, "recall")))[0]["result"])
}

func TestReverseCallsOverPollAndPiggyback(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(t)
	sid := c.openSession("/app/index.html")

	who := results(c.call(sid, 0, call(1, "whoami")))[0]["result"].(map[string]any)
	assert.Equal(t, sid, who["script"], "CallFrom gives the caller's script session")
	assert.Equal(t, "Calc.whoami", who["method"])

	// A call that pushes to its own page gets the push on its reply.
	out := c.call(sid, 0, call(1, "push", "greet"))
	msgs := out["messages"].([]any)
	require.Len(t, msgs, 1)
	assert.Equal(t, map[string]any{"seq": float64(1), "fn": "greet", "args": []any{"hello"}}, msgs[0])

	// Not acknowledged yet: the poll gives it again, at once.
	status, poll := c.post("poll", map[string]any{"session": sid, "ack": 0})
	assert.Equal(t, http.StatusOK, status)
	assert.Len(t, poll["messages"], 1)

	// Acknowledged: the poll waits for the next one.
	done := make(chan map[string]any)
	go func() { _, p := c.post("poll", map[string]any{"session": sid, "ack": 1}); done <- p }()
	select {
	case p := <-done:
		t.Fatalf("poll returned with nothing to deliver: %v", p)
	case <-time.After(50 * time.Millisecond):
	}
	require.NoError(t, f.hub.Page("/app").Call("later", 2))
	p := <-done
	msgs = p["messages"].([]any)
	require.Len(t, msgs, 1)
	assert.Equal(t, map[string]any{"seq": float64(2), "fn": "later", "args": []any{float64(2)}}, msgs[0])
}

func TestScriptSessionsAreBoundToTheirBrowser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice, mallory := f.client(t), f.client(t)
	sid := alice.openSession("/")
	mallory.openSession("/") // mallory has an HTTP session of her own

	status, out := mallory.post("poll", map[string]any{"session": sid})
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "permission_denied", out["error"].(map[string]any)["code"])
	status, out = mallory.post("call", map[string]any{"session": sid, "calls": []any{call(1, "add", 1, 1)}})
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "permission_denied", out["error"].(map[string]any)["code"])

	// Resuming someone else's session gives a fresh one and a reset.
	status, out = mallory.post("session", map[string]any{"session": sid, "page": "/"})
	assert.Equal(t, http.StatusOK, status)
	assert.NotEqual(t, sid, out["session"])
	assert.Equal(t, map[string]any{"reason": "expired"}, out["reset"])

	// The owner resumes her own.
	status, out = alice.post("session", map[string]any{"session": sid, "page": "/"})
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, sid, out["session"])
	assert.Nil(t, out["reset"])
}

func TestGoneSessionsGetAReset(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(t)
	sid := c.openSession("/")

	held := make(chan map[string]any)
	go func() { _, p := c.post("poll", map[string]any{"session": sid}); held <- p }()
	time.Sleep(20 * time.Millisecond) // let the poll be held; either order gives a reset
	assert.Empty(t, errCode(results(c.call(sid, 0, call(1, "leave")))[0]))
	reset := (<-held)["reset"].(map[string]any)["reason"]
	assert.Contains(t, []any{"closed", "expired"}, reset)

	_, poll := c.post("poll", map[string]any{"session": sid})
	assert.Equal(t, map[string]any{"reason": "closed"}, poll["reset"], "the reason the session ended")
	out := c.call(sid, 0, call(1, "add", 1, 1))
	assert.Equal(t, map[string]any{"reason": "closed"}, out["reset"], "calls still run and carry the reset")
	assert.EqualValues(t, 2, results(out)[0]["result"])
}
