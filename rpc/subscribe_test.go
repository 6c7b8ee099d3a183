package rpc

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse"
)

// subscribe makes the built-in subscribe call for session and returns
// the error code of its result, "" on success.
func subscribe(t *testing.T, hc *http.Client, base, session string, header http.Header, patterns ...string) string {
	t.Helper()
	res, out := rawPost(t, hc, base, "call", map[string]any{"session": session, "calls": []any{
		map[string]any{"id": 1, "service": BuiltinService, "method": "subscribe", "args": []any{patterns}},
	}}, header)
	require.Equal(t, http.StatusOK, res.StatusCode, "%v", out)
	return errCode(results(out)[0])
}

// mustBrowserID returns the browser id in hc's id cookie for f.
func mustBrowserID(t *testing.T, f *fixture, hc *http.Client) string {
	t.Helper()
	u, err := url.Parse(f.ts.URL)
	require.NoError(t, err)
	for _, c := range hc.Jar.Cookies(u) {
		if c.Name == "parley_id" {
			id, ok := f.srv.ids.verify(c.Value)
			require.True(t, ok)
			return id
		}
	}
	t.Fatal("no id cookie")
	return ""
}

// logoutHandler forgets the caller's login (see cookieAuth).
func logoutHandler(ctx context.Context, _ Args) (any, error) {
	CallFrom(ctx).DeleteSessionValue("user")
	return nil, nil
}

func jarClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar}
}

func openSession(t *testing.T, hc *http.Client, base string, header http.Header) string {
	t.Helper()
	res, out := rawPost(t, hc, base, "session", map[string]any{"page": "/app"}, header)
	require.Equal(t, http.StatusOK, res.StatusCode, "%v", out)
	return out["session"].(string)
}

func TestSubscribeDefaultRefusesRootWildcards(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		patterns []string
		code     string
	}{
		{[]string{"/**"}, "permission_denied"},
		{[]string{"/*"}, "permission_denied"},
		{[]string{"/*/alice/inbox"}, "permission_denied"},
		{[]string{"/stocks/*", "/**"}, "permission_denied"},
		{[]string{"/stocks/*"}, ""},
		{[]string{"/stocks/**"}, ""},
		{[]string{"/stocks/GOOG"}, ""},
		{[]string{"stocks"}, "invalid_argument"},
		{[]string{""}, "invalid_argument"},
	} {
		t.Run(tc.patterns[0]+"..", func(t *testing.T) {
			hc := jarClient(t)
			session := openSession(t, hc, f.ts.URL, nil)
			assert.Equal(t, tc.code, subscribe(t, hc, f.ts.URL, session, nil, tc.patterns...))
			script, err := f.hub.Lookup(session, mustBrowserID(t, f, hc))
			require.NoError(t, err)
			if tc.code != "" {
				assert.Empty(t, script.Subscriptions(), "a refused batch subscribes none of its patterns")
			} else {
				assert.Equal(t, tc.patterns, script.Subscriptions())
			}
		})
	}
}

func TestSubscribeAuthorizerAskedOnEveryRenewal(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	asked := map[string]int{}
	auth := func(script *reverse.Session, who *Principal, pattern string) error {
		mu.Lock()
		asked[pattern]++
		mu.Unlock()
		switch {
		case reverse.TopicWithin(pattern, "/public"):
			return nil
		case who != nil && reverse.TopicWithin(pattern, "/users/"+who.User):
			return nil
		case who != nil && who.HasRole("spy"):
			return NewError(CodeFailedPrecondition, "spies are not welcome")
		}
		return errors.New("no")
	}
	f := newFixture(t, WithAuthorizer(cookieAuth), WithSubscribeAuthorizer(auth))
	alice := http.Header{"X-User": {"alice"}}

	hc := jarClient(t)
	first := openSession(t, hc, f.ts.URL, nil)
	for _, tc := range []struct {
		name    string
		header  http.Header
		pattern string
		code    string
	}{
		{"public to anyone", nil, "/public/news", ""},
		{"everything", alice, "/**", "permission_denied"},
		{"another user's inbox", alice, "/users/bob/inbox", "permission_denied"},
		{"every user's inbox", alice, "/users/*/inbox", "permission_denied"},
		{"own inbox", alice, "/users/alice/**", ""},
		{"coded refusal reaches the page", http.Header{"X-User": {"mallory"}, "X-Roles": {"spy"}}, "/users/bob", "failed_precondition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.code, subscribe(t, hc, f.ts.URL, first, tc.header, tc.pattern))
		})
	}

	// Publications reach the allowed subscription.
	hc2 := jarClient(t)
	bobPage := openSession(t, hc2, f.ts.URL, nil)
	require.Equal(t, "", subscribe(t, hc2, f.ts.URL, bobPage, http.Header{"X-User": {"bob"}}, "/users/bob/inbox"))
	require.NoError(t, f.hub.Publish("/users/bob/inbox", "hi bob"))
	script, err := f.hub.Lookup(bobPage, mustBrowserID(t, f, hc2))
	require.NoError(t, err)
	assert.Equal(t, []string{"/users/bob/inbox"}, script.Subscriptions())
	assert.Len(t, script.Pending(0).Messages, 1)

	// Renewal: bob logs out, his page's session ends, and the runtime
	// subscribes the new session again; the authorizer is asked again
	// and now refuses.
	mu.Lock()
	before := asked["/users/bob/inbox"]
	mu.Unlock()
	script.Close()
	f.srv.Register(ServiceDesc{Name: "Auth", Methods: []MethodDesc{{Name: "logout", Handler: logoutHandler}}})
	res, out := rawPost(t, hc2, f.ts.URL, "call", map[string]any{"calls": []any{map[string]any{"id": 1, "service": "Auth", "method": "logout", "args": []any{}}}}, nil)
	require.Equal(t, http.StatusOK, res.StatusCode, "%v", out)
	renewed := openSession(t, hc2, f.ts.URL, nil)
	assert.Equal(t, "permission_denied", subscribe(t, hc2, f.ts.URL, renewed, nil, "/users/bob/inbox"))
	mu.Lock()
	assert.Equal(t, before+1, asked["/users/bob/inbox"], "the renewal was asked about")
	mu.Unlock()
}
