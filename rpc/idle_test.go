package rpc

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// within reports whether the bytes of s lie inside those of line.
func within(s, line string) bool {
	p, start := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(line)))
	return p >= start && p < start+uintptr(len(line))
}

func TestASessionKeepsItsBrowserIDAndNotTheCookieHeader(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	post := func(cookie string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/parley/session", strings.NewReader(`{"page":"/app"}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Parley", "1")
		if cookie != "" {
			r.Header["Cookie"] = []string{cookie}
		}
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, r)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		return w
	}
	// The first page of a browser is given its id cookie.
	var signed string
	for _, c := range post("").Result().Cookies() {
		if c.Name == "parley_id" {
			signed = c.Value
		}
	}
	require.Len(t, signed, signedIDLen)
	id := signed[:browserIDLen]

	// Its next page presents it among other cookies, as browsers do.
	line := "theme=dark; parley_id=" + signed + "; prefs=" + strings.Repeat("x", 2000)
	var reply struct{ Session string }
	require.NoError(t, json.Unmarshal(post(line).Body.Bytes(), &reply))
	s, err := f.hub.Lookup(reply.Session, id)
	require.NoError(t, err, "the session is the browser's")
	assert.Equal(t, id, s.HTTPSession())
	assert.False(t, within(s.HTTPSession(), line), "the session keeps a copy of its browser id, not the whole Cookie header it came in")
}
