package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse"
)

// idCookieOf returns the browser id cookie a reply set, or nil.
func idCookieOf(res *http.Response) *http.Cookie {
	for _, c := range res.Cookies() {
		if strings.HasSuffix(c.Name, "parley_id") {
			return c
		}
	}
	return nil
}

// rawPost sends a Parley POST to ts with extra headers and no cookie jar,
// and returns the reply, its body decoded.
func rawPost(t *testing.T, hc *http.Client, base, path string, body any, header http.Header) (*http.Response, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, base+"/parley/"+path, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Parley", "1")
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := hc.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
	return res, out
}

func TestIDCookieSignedAndRefusedWhenTampered(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res, _ := rawPost(t, http.DefaultClient, f.ts.URL, "call", map[string]any{"calls": []any{call(1, "add", 1, 2)}}, nil)
	issued := idCookieOf(res)
	require.NotNil(t, issued)
	id, sig, ok := strings.Cut(issued.Value, ".")
	require.True(t, ok, "the cookie carries a signature: %q", issued.Value)
	require.Len(t, id, browserIDLen)

	flip := func(s string) string {
		b := []byte(s)
		if b[0] == 'A' {
			b[0] = 'B'
		} else {
			b[0] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, value string
		kept        bool
	}{
		{"as issued", issued.Value, true},
		{"unsigned id", id, false},
		{"id changed", flip(id) + "." + sig, false},
		{"signature changed", id + "." + flip(sig), false},
		{"signed by another server", NewServer(WithSessionName("parley")).ids.sign(id), false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, out := rawPost(t, http.DefaultClient, f.ts.URL, "call", map[string]any{"calls": []any{call(1, "add", 1, 2)}},
				http.Header{"Cookie": {"parley_id=" + tc.value}})
			require.Equal(t, http.StatusOK, res.StatusCode, "%v", out)
			fresh := idCookieOf(res)
			if tc.kept {
				assert.Nil(t, fresh, "a valid cookie is kept")
				return
			}
			require.NotNil(t, fresh, "a new id is issued")
			newID, _, _ := strings.Cut(fresh.Value, ".")
			assert.NotEqual(t, id, newID)
		})
	}
}

func TestIDCookieKeysShared(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	a := NewServer(WithCookieKeys(key))
	b := NewServer(WithCookieKeys(bytes.Repeat([]byte{9}, 32), key))
	v := a.ids.sign("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	got, ok := b.ids.verify(v)
	assert.True(t, ok, "a later key accepts what an earlier server signed")
	assert.Equal(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", got)
	_, ok = NewServer(WithCookieKeys(bytes.Repeat([]byte{9}, 32))).ids.verify(v)
	assert.False(t, ok)
	assert.Panics(t, func() { NewServer(WithCookieKeys([]byte("short"))) })
}

func TestIDCookieSecureUnderTLSAndTrustedProxy(t *testing.T) {
	t.Parallel()
	plain := newFixture(t, WithTrustedProxies("127.0.0.1"))
	hub := reverse.NewHub()
	tlsTS := httptest.NewTLSServer(NewServer(WithHub(hub)))
	t.Cleanup(func() { tlsTS.Close(); hub.Close() })

	for _, tc := range []struct {
		name   string
		client *http.Client
		base   string
		header http.Header
		secure bool
	}{
		{"plain http", http.DefaultClient, plain.ts.URL, nil, false},
		{"TLS", tlsTS.Client(), tlsTS.URL, nil, true},
		{"trusted proxy says https", http.DefaultClient, plain.ts.URL, http.Header{"X-Forwarded-Proto": {"https"}}, true},
		{"trusted proxy says http", http.DefaultClient, plain.ts.URL, http.Header{"X-Forwarded-Proto": {"http"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := rawPost(t, tc.client, tc.base, "session", map[string]any{"page": "/p"}, tc.header)
			c := idCookieOf(res)
			require.NotNil(t, c)
			assert.Equal(t, tc.secure, c.Secure)
			assert.Equal(t, "/", c.Path)
			assert.Empty(t, c.Domain)
			assert.True(t, c.HttpOnly)
			if tc.secure {
				assert.Equal(t, "__Host-parley_id", c.Name)
			} else {
				assert.Equal(t, "parley_id", c.Name)
			}
		})
	}

	t.Run("untrusted proxy header ignored", func(t *testing.T) {
		f := newFixture(t)
		res, _ := rawPost(t, http.DefaultClient, f.ts.URL, "session", map[string]any{"page": "/p"}, http.Header{"X-Forwarded-Proto": {"https"}})
		c := idCookieOf(res)
		require.NotNil(t, c)
		assert.False(t, c.Secure)
		assert.Equal(t, "parley_id", c.Name)
	})

	t.Run("plain cookie not accepted over https", func(t *testing.T) {
		res, _ := rawPost(t, tlsTS.Client(), tlsTS.URL, "session", map[string]any{"page": "/p"}, nil)
		v := idCookieOf(res).Value
		res, _ = rawPost(t, tlsTS.Client(), tlsTS.URL, "session", map[string]any{"page": "/p"}, http.Header{"Cookie": {"parley_id=" + v}})
		require.NotNil(t, idCookieOf(res), "only the __Host- cookie counts under https")
		res, _ = rawPost(t, tlsTS.Client(), tlsTS.URL, "session", map[string]any{"page": "/p"}, http.Header{"Cookie": {"__Host-parley_id=" + v}})
		assert.Nil(t, idCookieOf(res))
	})
}

// loginService binds its caller to a user with Call.SetUser.
func loginService() ServiceDesc {
	return ServiceDesc{Name: "Login", Methods: []MethodDesc{
		{Name: "as", Params: []string{"user"}, Handler: func(ctx context.Context, args Args) (any, error) {
			var u string
			if err := args.Decode(0, &u); err != nil {
				return nil, err
			}
			return nil, CallFrom(ctx).SetUser(u)
		}},
	}}
}

// messagesOf polls the session without waiting and returns the functions
// of the reverse calls it received, or the reset reason.
func messagesOf(t *testing.T, c *client, session string) []string {
	t.Helper()
	status, out := c.post("poll", map[string]any{"session": session, "wait": false})
	require.Equal(t, http.StatusOK, status, "%v", out)
	var fns []string
	if r, ok := out["reset"].(map[string]any); ok {
		return []string{"reset:" + r["reason"].(string)}
	}
	msgs, _ := out["messages"].([]any)
	for _, m := range msgs {
		fns = append(fns, m.(map[string]any)["fn"].(string))
	}
	return fns
}

func TestSetUserRotatesIDSoPlantedIDGetsNoPushes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.srv.Register(loginService())
	u, err := url.Parse(f.ts.URL)
	require.NoError(t, err)

	attacker := f.client(t)
	attackerPage := attacker.openSession("/app")
	planted := attacker.http.Jar.Cookies(u)
	require.Len(t, planted, 1)

	// The victim's browser carries the attacker's id, and opens two pages.
	victim := f.client(t)
	victim.http.Jar.SetCookies(u, planted)
	tab1 := victim.openSession("/app")
	tab2 := victim.openSession("/app")

	out := victim.call(tab1, 0, map[string]any{"id": 1, "service": "Login", "method": "as", "args": []any{"alice"}})
	require.Empty(t, errCode(results(out)[0]), "%v", out)
	rotated := victim.http.Jar.Cookies(u)
	require.Len(t, rotated, 1)
	assert.NotEqual(t, planted[0].Value, rotated[0].Value, "logging in gives the browser a new id")

	// The browser's other page is bound from its next request, which
	// presents the new id.
	assert.Empty(t, messagesOf(t, victim, tab2))
	require.NoError(t, f.hub.User("alice").Call("secret", 42))

	assert.Equal(t, []string{"secret"}, messagesOf(t, victim, tab1), "the page that logged in")
	assert.Equal(t, []string{"secret"}, messagesOf(t, victim, tab2), "another page of the browser")
	assert.Empty(t, messagesOf(t, attacker, attackerPage), "the planted id")

	// A page the attacker opens later with the old id is not alice's.
	later := attacker.openSession("/app")
	require.NoError(t, f.hub.User("alice").Call("again"))
	assert.Empty(t, messagesOf(t, attacker, later))
	assert.Empty(t, messagesOf(t, attacker, attackerPage))
}

func TestCookielessFloodIsRefusedPerAddress(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithTrustedProxies("127.0.0.1"))
	from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }

	opened, refused := 0, 0
	for range 300 {
		res, out := rawPost(t, http.DefaultClient, f.ts.URL, "session", map[string]any{"page": "/app"}, from("203.0.113.7"))
		switch res.StatusCode {
		case http.StatusOK:
			opened++
		case http.StatusTooManyRequests:
			refused++
			assert.Equal(t, "resource_exhausted", out["error"].(map[string]any)["code"])
		default:
			t.Fatalf("status %d: %v", res.StatusCode, out)
		}
	}
	assert.Equal(t, 256, opened, "the default BrowsersPerAddress")
	assert.Equal(t, 44, refused)

	// Real visitors, at other addresses and with cookies, still get in,
	// several pages each.
	for i := range 20 {
		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		hc := &http.Client{Jar: jar}
		for range 3 {
			res, out := rawPost(t, hc, f.ts.URL, "session", map[string]any{"page": "/app"}, from(fmt.Sprintf("198.51.100.%d", i+1)))
			require.Equal(t, http.StatusOK, res.StatusCode, "%v", out)
		}
	}
	// A browser at the flooded address that already holds a session may
	// open more pages; a new one may not.
	assert.Equal(t, 256+60, f.hub.Len())
}

func FuzzBrowserIDCookie(f *testing.F) {
	srv := NewServer(WithCookieKeys(bytes.Repeat([]byte{1}, 32)))
	good := srv.ids.sign("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	f.Add(good)
	f.Add("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	f.Add("ABCDEFGHIJKLMNOPQRSTUVWXYZ.AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", "a=b; parley_id="+v)
		id, ok := srv.readBrowserID(r)
		if !ok {
			return
		}
		if !validBrowserID(id) {
			t.Fatalf("accepted id %q is not a browser id", id)
		}
		// Whatever the header's spacing, quoting and other cookies, an id
		// is accepted only with its own signature in the value.
		if got := srv.ids.sign(id); !strings.Contains(v, got) {
			t.Fatalf("accepted %q, but %q is the signature of its id", v, got)
		}
	})
}
