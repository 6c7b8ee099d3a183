package rpc

import (
	"bufio"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse"
)

// Held replies are written on a connection taken over from net/http; they
// must still carry what middleware and the CORS rules set before.
func TestHeldRepliesKeepHeadersSetBefore(t *testing.T) {
	t.Parallel()
	const other = "http://other.example"
	hub := reverse.NewHub()
	srv := NewServer(WithHub(hub), WithAllowedOrigins(other))
	srv.Register(testService())
	mux := http.NewServeMux()
	mux.Handle("/parley/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=63072000")
		w.Header().Set("X-Request-Id", "req-42")
		srv.ServeHTTP(w, r)
	}))
	ts := httptest.NewServer(mux)
	t.Cleanup(func() { hub.Close(); ts.Close() })
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &client{t: t, url: ts.URL, http: &http.Client{Jar: jar}}
	sid := c.openSession("/page")

	for _, tc := range []struct {
		name string
		req  func() *http.Request
	}{
		{"long-poll", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/parley/poll", strings.NewReader(`{"session":"`+sid+`"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Parley", "1")
			return req
		}},
		{"sse", func() *http.Request {
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/parley/sse?session="+sid, nil)
			return req
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req()
			req.Header.Set("Origin", other)
			done := make(chan *http.Response, 1)
			go func() {
				res, err := c.http.Do(req)
				if err != nil {
					close(done)
					return
				}
				done <- res
			}()
			require.Eventually(t, func() bool {
				for _, info := range hub.Snapshot() {
					if info.ID == sid && info.Transport != "" && info.Held {
						return true
					}
				}
				return false
			}, 10*time.Second, 10*time.Millisecond)
			require.NoError(t, hub.Session(sid).Call("ping", tc.name))
			res, ok := <-done
			require.True(t, ok, "the held request failed")
			defer res.Body.Close()
			if tc.name == "sse" {
				line, err := bufio.NewReader(res.Body).ReadString('\n')
				require.NoError(t, err)
				assert.NotEmpty(t, line)
			}
			assert.Equal(t, http.StatusOK, res.StatusCode)
			assert.Equal(t, "req-42", res.Header.Get("X-Request-Id"))
			assert.Equal(t, "max-age=63072000", res.Header.Get("Strict-Transport-Security"))
			assert.Equal(t, other, res.Header.Get("Access-Control-Allow-Origin"))
			assert.Equal(t, "true", res.Header.Get("Access-Control-Allow-Credentials"))
		})
	}
}
