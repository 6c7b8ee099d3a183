package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// handler makes a MethodDesc of fn with the given parameters.
func method(name string, params []string, fn func(ctx context.Context, args Args) (any, error)) MethodDesc {
	return MethodDesc{Name: name, Params: params, Handler: fn}
}

// register adds a service named Svc with methods to f's server.
func (f *fixture) register(methods ...MethodDesc) {
	f.srv.Register(ServiceDesc{Name: "Svc", Methods: methods})
}

func svcCall(id int, m string, args ...any) map[string]any {
	c := call(id, m, args...)
	c["service"] = "Svc"
	return c
}

func errOf(r map[string]any) map[string]any {
	e, _ := r["error"].(map[string]any)
	return e
}

func TestDisconnectCancelsTheCall(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	started, ended := make(chan struct{}), make(chan error, 1)
	f.register(method("wait", nil, func(ctx context.Context, _ Args) (any, error) {
		close(started)
		select {
		case <-ctx.Done():
			ended <- ctx.Err()
		case <-time.After(30 * time.Second):
			ended <- errors.New("never canceled")
		}
		return nil, ctx.Err()
	}))
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "POST", f.ts.URL+"/parley/call",
		strings.NewReader(`{"calls":[{"id":1,"service":"Svc","method":"wait","args":[]}]}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Parley", "1")
	done := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	<-started
	cancel() // the client gives up and closes the connection
	require.ErrorIs(t, <-done, context.Canceled)
	assert.ErrorIs(t, <-ended, context.Canceled, "the method's context is canceled when the client goes")
}

func TestTimeoutSetsTheDeadline(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(
		method("deadline", nil, func(ctx context.Context, _ Args) (any, error) {
			d, ok := ctx.Deadline()
			return map[string]any{"has": ok, "left": time.Until(d) > 0 && time.Until(d) <= 60*time.Second}, nil
		}),
		method("block", nil, func(ctx context.Context, _ Args) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}),
	)
	c := f.client(t)
	with := svcCall(1, "deadline")
	with["timeout"] = 60000
	block := svcCall(3, "block")
	block["timeout"] = 1
	rs := results(c.call("", 0, with, svcCall(2, "deadline"), block))
	assert.Equal(t, map[string]any{"has": true, "left": true}, rs[0]["result"])
	assert.Equal(t, false, rs[1]["result"].(map[string]any)["has"], "no timeout, no deadline")
	assert.Equal(t, "deadline_exceeded", errCode(rs[2]))
}

func TestOrderedBatches(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var mu sync.Mutex
	var log []string
	arrived := make(chan struct{}, 2)
	f.register(
		method("step", []string{"i"}, func(ctx context.Context, args Args) (any, error) {
			var i int
			if err := args.Decode(0, &i); err != nil {
				return nil, err
			}
			mu.Lock()
			log = append(log, fmt.Sprint("in ", i))
			mu.Unlock()
			time.Sleep(time.Millisecond) // room for another call to interleave, were it running
			mu.Lock()
			log = append(log, fmt.Sprint("out ", i))
			mu.Unlock()
			return i, nil
		}),
		// meet returns once two calls have arrived: it finishes only when
		// the calls of a batch run concurrently.
		method("meet", nil, func(ctx context.Context, _ Args) (any, error) {
			arrived <- struct{}{}
			for len(arrived) < 2 {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(time.Millisecond):
				}
			}
			return "met", nil
		}),
	)
	c := f.client(t)
	var calls []any
	var want []string
	for i := range 8 {
		calls = append(calls, svcCall(i, "step", i))
		want = append(want, fmt.Sprint("in ", i), fmt.Sprint("out ", i))
	}
	status, out := c.post("call", map[string]any{"ordered": true, "calls": calls})
	require.Equal(t, http.StatusOK, status)
	for i, r := range results(out) {
		assert.EqualValues(t, i, r["result"])
	}
	assert.Equal(t, want, log, "ordered calls run one after another in call order")

	m1, m2 := svcCall(1, "meet"), svcCall(2, "meet")
	m1["timeout"], m2["timeout"] = 20000, 20000
	rs := results(c.call("", 0, m1, m2))
	assert.Equal(t, "met", rs[0]["result"], "by default the calls of a batch run concurrently")
	assert.Equal(t, "met", rs[1]["result"])
}

// quotaError is a declared error type with a code and details.
type quotaError struct{ used, limit int }

func (e *quotaError) Error() string   { return fmt.Sprintf("quota used: %d of %d", e.used, e.limit) }
func (e *quotaError) ErrorCode() Code { return CodeResourceExhausted }
func (e *quotaError) ErrorDetails() any {
	return map[string]int{"used": e.used, "limit": e.limit}
}

// oddError claims a code outside the closed set.
type oddError struct{}

func (oddError) Error() string   { return "odd" }
func (oddError) ErrorCode() Code { return "teapot" }

// plainCoded has a code and no details.
type plainCoded struct{}

func (plainCoded) Error() string   { return "gone away" }
func (plainCoded) ErrorCode() Code { return CodeNotFound }

func TestDeclaredErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	fail := func(name string, err error) MethodDesc {
		return method(name, nil, func(context.Context, Args) (any, error) { return nil, err })
	}
	f.register(
		fail("quota", fmt.Errorf("saving: %w", &quotaError{used: 11, limit: 10})),
		fail("plain", plainCoded{}),
		fail("odd", oddError{}),
		fail("wrapped", fmt.Errorf("layer: %w", NewError(CodeAborted, "try again"))),
		fail("badcode", &Error{Code: "nope", Message: "x"}),
	)
	rs := results(f.client(t).call("", 0, svcCall(1, "quota"), svcCall(2, "plain"), svcCall(3, "odd"), svcCall(4, "wrapped"), svcCall(5, "badcode")))
	assert.Equal(t, map[string]any{"code": "resource_exhausted", "message": "quota used: 11 of 10",
		"details": map[string]any{"used": float64(11), "limit": float64(10)}}, errOf(rs[0]))
	assert.Equal(t, map[string]any{"code": "not_found", "message": "gone away"}, errOf(rs[1]))
	assert.Equal(t, map[string]any{"code": "internal", "message": "internal error"}, errOf(rs[2]), "a code outside the set is not sent")
	assert.Equal(t, map[string]any{"code": "aborted", "message": "try again"}, errOf(rs[3]))
	assert.Equal(t, "internal", errCode(rs[4]))
	assert.Contains(t, f.log.String(), "teapot")
	assert.Contains(t, f.log.String(), "outside the closed set")
}

func TestInterceptorsWrapEveryCallInOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var trail []string
	type key struct{}
	note := func(s string) { mu.Lock(); trail = append(trail, s); mu.Unlock() }
	outer := func(ctx context.Context, c *Call, next func(context.Context) (any, error)) (any, error) {
		note("outer>" + c.Service + "." + c.Method)
		out, err := next(context.WithValue(ctx, key{}, "from outer"))
		note("outer<")
		return out, err
	}
	inner := func(ctx context.Context, c *Call, next func(context.Context) (any, error)) (any, error) {
		note("inner>" + ctx.Value(key{}).(string))
		if c.Method == "forbidden" {
			return nil, NewError(CodePermissionDenied, "refused by interceptor")
		}
		out, err := next(ctx)
		if err == nil {
			out = fmt.Sprint("wrapped:", out)
		}
		return out, err
	}
	f := newFixture(t, WithInterceptor(outer), WithInterceptor(inner))
	f.register(
		method("hello", nil, func(ctx context.Context, _ Args) (any, error) {
			note("method:" + ctx.Value(key{}).(string) + ":" + CallFrom(ctx).Method)
			return "hi", nil
		}),
		method("forbidden", nil, func(context.Context, Args) (any, error) {
			note("forbidden ran")
			return nil, nil
		}),
	)
	c := f.client(t)
	rs := results(c.call("", 0, svcCall(1, "hello")))
	assert.Equal(t, "wrapped:hi", rs[0]["result"])
	assert.Equal(t, []string{"outer>Svc.hello", "inner>from outer", "method:from outer:hello", "outer<"}, trail)
	trail = nil
	rs = results(c.call("", 0, svcCall(1, "forbidden")))
	assert.Equal(t, "permission_denied", errCode(rs[0]))
	assert.Equal(t, []string{"outer>Svc.forbidden", "inner>from outer", "outer<"}, trail, "the method never ran")
}

// cookieAuth logs in whoever sent the header X-User, with the roles in
// X-Roles; it keeps them in the HTTP session, as a login would.
var cookieAuth = AuthorizerFunc(func(c *Call) (*Principal, error) {
	if c.Request.Header.Get("X-Broken") != "" {
		return nil, errors.New("user store down")
	}
	if u := c.Request.Header.Get("X-User"); u != "" {
		c.SetSessionValue("user", u)
		c.SetSessionValue("roles", c.Request.Header.Get("X-Roles"))
	}
	u, _ := c.SessionValue("user").(string)
	if u == "" {
		return nil, nil
	}
	roles, _ := c.SessionValue("roles").(string)
	return &Principal{User: u, Roles: strings.Fields(roles)}, nil
})

func accessMethods() []MethodDesc {
	who := func(ctx context.Context, _ Args) (any, error) {
		p, err := CallFrom(ctx).Principal()
		if p == nil {
			return "nobody", err
		}
		return p.User, err
	}
	open := method("open", nil, who)
	login := method("login", nil, who)
	login.Access = Access{Login: true}
	admin := method("admin", nil, who)
	admin.Access = Access{Roles: []string{"admin", "ops"}}
	return []MethodDesc{open, login, admin}
}

func TestAccessControl(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithAuthorizer(cookieAuth))
	f.register(accessMethods()...)
	anon := f.client(t)
	rs := results(anon.call("", 0, svcCall(1, "open"), svcCall(2, "login"), svcCall(3, "admin")))
	assert.Equal(t, "nobody", rs[0]["result"])
	assert.Equal(t, "unauthenticated", errCode(rs[1]))
	assert.Equal(t, "unauthenticated", errCode(rs[2]))

	post := func(c *client, header map[string]string, calls ...map[string]any) []map[string]any {
		b, _ := json.Marshal(map[string]any{"calls": calls})
		req, _ := http.NewRequest("POST", f.ts.URL+"/parley/call", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Parley", "1")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := c.http.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
		return results(out)
	}
	ann := f.client(t)
	rs = post(ann, map[string]string{"X-User": "ann", "X-Roles": "viewer"}, svcCall(1, "login"), svcCall(2, "admin"), svcCall(3, "open"))
	assert.Equal(t, "ann", rs[0]["result"])
	assert.Equal(t, map[string]any{"code": "permission_denied", "message": "Svc.admin requires the role admin or ops"}, errOf(rs[1]))
	assert.Equal(t, "ann", rs[2]["result"], "Principal is there for any method")
	rs = results(ann.call("", 0, svcCall(1, "login")))
	assert.Equal(t, "ann", rs[0]["result"], "the login is kept in the HTTP session")

	ops := f.client(t)
	rs = post(ops, map[string]string{"X-User": "oz", "X-Roles": "ops"}, svcCall(1, "admin"))
	assert.Equal(t, "oz", rs[0]["result"], "one of the roles is enough")

	rs = post(f.client(t), map[string]string{"X-Broken": "1"}, svcCall(1, "login"))
	assert.Equal(t, "internal", errCode(rs[0]), "an authorizer failure is internal")
	assert.Contains(t, f.log.String(), "user store down")
}

func TestAccessWithoutAuthorizerIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(accessMethods()...)
	rs := results(f.client(t).call("", 0, svcCall(1, "open"), svcCall(2, "login"), svcCall(3, "admin")))
	assert.Equal(t, "nobody", rs[0]["result"])
	assert.Equal(t, "unauthenticated", errCode(rs[1]))
	assert.Equal(t, "unauthenticated", errCode(rs[2]))
	assert.Contains(t, f.log.String(), "configuration error")
	assert.Contains(t, f.log.String(), "Svc.login")
}

func TestUpdateSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(
		method("flash", nil, func(ctx context.Context, _ Args) (any, error) {
			CallFrom(ctx).UpdateSession(func(s *sessions.Session) { s.AddFlash("saved") })
			return nil, nil
		}),
		method("flashes", nil, func(ctx context.Context, _ Args) (any, error) {
			var out []any
			CallFrom(ctx).UpdateSession(func(s *sessions.Session) { out = s.Flashes() })
			return out, nil
		}),
	)
	c := f.client(t)
	c.call("", 0, svcCall(1, "flash"))
	assert.Equal(t, []any{"saved"}, results(c.call("", 0, svcCall(1, "flashes")))[0]["result"])
	assert.Equal(t, []any{}, results(c.call("", 0, svcCall(1, "flashes")))[0]["result"], "flashes are read once")
}

// multipartCall posts calls with files as a page's runtime does.
func (c *client) multipartCall(header map[string]string, envelope string, files map[string]string) (int, map[string]any) {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	require.NoError(c.t, mw.WriteField("envelope", envelope))
	for _, part := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		w, err := mw.CreateFormFile(part, part+".txt")
		require.NoError(c.t, err)
		_, _ = io.WriteString(w, files[part])
	}
	require.NoError(c.t, mw.Close())
	req, err := http.NewRequest("POST", c.url+"/parley/call", &body)
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	var out map[string]any
	require.NoError(c.t, json.NewDecoder(res.Body).Decode(&out))
	return res.StatusCode, out
}

func (c *client) get(path string) (int, http.Header, string) {
	c.t.Helper()
	res, err := c.http.Get(c.url + path)
	require.NoError(c.t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

func fileMethods() []MethodDesc {
	return []MethodDesc{
		method("upper", []string{"file", "note"}, func(ctx context.Context, args Args) (any, error) {
			var u Upload
			var note *Upload
			if err := args.Decode(0, &u); err != nil {
				return nil, err
			}
			if err := args.Decode(1, &note); err != nil {
				return nil, err
			}
			r, err := u.Open()
			if err != nil {
				return nil, err
			}
			defer r.Close()
			data, err := io.ReadAll(r)
			if err != nil {
				return nil, err
			}
			name := "upper-" + u.Name
			if note != nil {
				name = "noted-" + u.Name
			}
			return NewDownload(name, "text/plain", bytes.ToUpper(data)), nil
		}),
		method("nested", []string{"v"}, func(ctx context.Context, args Args) (any, error) {
			var v struct{ F Upload }
			return nil, args.Decode(0, &v)
		}),
	}
}

func TestUploadAndDownload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithMaxUploadBytes(1000))
	f.register(fileMethods()...)
	c := f.client(t)
	parley := map[string]string{"X-Parley": "1"}
	status, out := c.multipartCall(parley, `{"calls":[
		{"id":1,"service":"Svc","method":"upper","args":[{"$upload":"f0"},null]},
		{"id":2,"service":"Svc","method":"upper","args":["not a file",null]},
		{"id":3,"service":"Svc","method":"upper","args":[{"$upload":"f9"},null]},
		{"id":4,"service":"Svc","method":"nested","args":[{"F":{"$upload":"f0"}}]}]}`,
		map[string]string{"f0": "hello <file>"})
	require.Equal(t, http.StatusOK, status, "%v", out)
	rs := results(out)
	ref := rs[0]["result"].(map[string]any)
	url := ref["url"].(string)
	assert.Regexp(t, `^/parley/download/[A-Za-z0-9_-]{22}$`, url, "128 random bits")
	assert.Equal(t, map[string]any{"url": url, "name": "upper-f0.txt", "contentType": "text/plain", "size": float64(12)}, ref)
	assert.Equal(t, map[string]any{"code": "invalid_argument", "message": "argument file: expected a file (a Blob or File)"}, errOf(rs[1]))
	assert.Equal(t, "invalid_argument", errCode(rs[2]))
	assert.Contains(t, errOf(rs[2])["message"], `no file part "f9"`)
	assert.Equal(t, "invalid_argument", errCode(rs[3]))
	assert.Contains(t, errOf(rs[3])["message"], "an upload may only be passed as an argument of its own")

	other := f.client(t)
	other.post("call", map[string]any{"calls": []any{}}) // a browser of its own
	status, _, _ = other.get(url)
	assert.Equal(t, http.StatusNotFound, status, "another browser cannot fetch it")

	status, h, body := c.get(url)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "HELLO <FILE>", body)
	assert.Equal(t, "text/plain", h.Get("Content-Type"))
	assert.Equal(t, `attachment; filename=upper-f0.txt`, h.Get("Content-Disposition"))
	assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	status, _, _ = c.get(url)
	assert.Equal(t, http.StatusNotFound, status, "served once, then forgotten")
	assert.Zero(t, f.srv.downloads.len())

	status, out = c.multipartCall(parley, `{"calls":[{"id":1,"service":"Svc","method":"upper","args":[{"$upload":"f0"},null]}]}`,
		map[string]string{"f0": strings.Repeat("x", 1001)})
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, "resource_exhausted", out["error"].(map[string]any)["code"])
	assert.Contains(t, out["error"].(map[string]any)["message"], "upload too large")

	status, out = c.multipartCall(parley, `{"calls":[{"id":1,"service":"Svc","method":"upper","args":[{"$upload":"f0"},null]}]}`,
		map[string]string{"f0": strings.Repeat("x", 1_000_000)})
	assert.Equal(t, http.StatusTooManyRequests, status, "a body far past the limit is cut off, not read")
	assert.Equal(t, "resource_exhausted", out["error"].(map[string]any)["code"])

	status, out = c.multipartCall(nil, `{"calls":[]}`, map[string]string{"f0": "x"})
	assert.Equal(t, http.StatusForbidden, status, "multipart without the X-Parley header is a cross-site form")
	assert.Equal(t, "permission_denied", out["error"].(map[string]any)["code"])

	status, out = c.multipartCall(parley, `not json`, nil)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_argument", out["error"].(map[string]any)["code"])

	// Multipart is for calls only.
	req, _ := http.NewRequest("POST", f.ts.URL+"/parley/session", strings.NewReader("--x--"))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	req.Header.Set("X-Parley", "1")
	res, err := c.http.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
}

func TestDownloadsExpire(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithDownloadTTL(time.Millisecond))
	closed := make(chan struct{})
	f.register(method("file", nil, func(context.Context, Args) (any, error) {
		return &Download{Name: "a.bin", Body: closer{strings.NewReader("abc"), closed}}, nil
	}))
	c := f.client(t)
	ref := results(c.call("", 0, svcCall(1, "file")))[0]["result"].(map[string]any)
	assert.Equal(t, "application/octet-stream", ref["contentType"])
	assert.EqualValues(t, 3, ref["size"], "the size comes from the body's Len")
	<-closed // an unfetched download is forgotten and its body closed
	assert.Zero(t, f.srv.downloads.len())
	status, _, _ := c.get(ref["url"].(string))
	assert.Equal(t, http.StatusNotFound, status)
}

type closer struct {
	*strings.Reader
	closed chan struct{}
}

func (c closer) Close() error { close(c.closed); return nil }

func TestDebugPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithDebugPage())
	f.srv.Register(ServiceDesc{Name: "Docs", Doc: `Docs shows <b>markup</b> & "quotes" as text.`, Methods: []MethodDesc{
		{Name: "plain", Params: []string{"a", "b"}, Handler: func(context.Context, Args) (any, error) { return nil, nil }},
		{Name: "typed", Signature: "typed(x: Array<string>): Promise<void>", Doc: "Typed <script>alert(1)</script>",
			Access: Access{Roles: []string{"admin"}}, Handler: func(context.Context, Args) (any, error) { return nil, nil }},
	}})
	c := f.client(t)
	sid := c.openSession("/room/<x>")
	status, h, page := c.get("/parley/")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
	assert.Contains(t, h.Get("Content-Security-Policy"), "script-src 'self'")
	assert.Contains(t, page, `Docs shows &lt;b&gt;markup&lt;/b&gt; &amp; &#34;quotes&#34; as text.`)
	assert.Contains(t, page, `typed(x: Array&lt;string&gt;): Promise&lt;void&gt;`)
	assert.Contains(t, page, `Typed &lt;script&gt;alert(1)&lt;/script&gt;`)
	assert.NotContains(t, page, "<script>alert")
	assert.Contains(t, page, `<code>plain(a, b)</code>`, "without a signature, the name and parameters")
	assert.Contains(t, page, `>[null, null]</textarea>`)
	assert.Contains(t, page, "requires the role admin")
	assert.Contains(t, page, `<td>/room/&lt;x&gt;</td>`)
	assert.NotContains(t, page, sid, "session ids are cut short")
	assert.NotContains(t, page, "<script>", "no inline script")
	assert.Contains(t, page, `<script type="module" src="/parley/debug.js"></script>`)

	status, h, js := c.get("/parley/debug.js")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, h.Get("Content-Type"), "javascript")
	assert.Contains(t, js, `import parley from "./engine.js"`)
	status, h, _ = c.get("/parley/debug.css")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, h.Get("Content-Type"), "text/css")

	off := newFixture(t)
	status, _, _ = off.client(t).get("/parley/")
	assert.Equal(t, http.StatusNotFound, status, "off by default")
	status, _, _ = off.client(t).get("/parley/debug.js")
	assert.Equal(t, http.StatusNotFound, status)
}
