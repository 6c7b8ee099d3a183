package rpc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parley-go/parley/reverse"
)

// checkFuzzReply fails t unless rec holds a reply the server may give to
// outside input: a success, or a Parley error from the closed set with
// its own status.
func checkFuzzReply(t *testing.T, rec *httptest.ResponseRecorder, input []byte) {
	t.Helper()
	if rec.Code < 400 {
		return
	}
	var out struct{ Error *Error }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Error == nil {
		t.Fatalf("%q: status %d with body %q", input, rec.Code, rec.Body)
	}
	if _, known := codeStatus[out.Error.Code]; !known || rec.Code >= 500 {
		t.Fatalf("%q: status %d, error %v", input, rec.Code, out.Error)
	}
}

// FuzzSSELastEventID sends any Last-Event-ID to the SSE endpoint: the
// server never panics and answers with a stream or a Parley error.
func FuzzSSELastEventID(f *testing.F) {
	for _, s := range []string{"", "0", "5", "18446744073709551615", "18446744073709551616", "-1", "1.5", "1e3", " 5", "0x10", "٣"} {
		f.Add(s)
	}
	hub := reverse.NewHub()
	f.Cleanup(hub.Close)
	srv := NewServer(WithHub(hub))
	f.Fuzz(func(t *testing.T, last string) {
		r := httptest.NewRequest(http.MethodGet, "/parley/sse?session=gone", nil)
		r.Header.Set("Last-Event-ID", last)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		checkFuzzReply(t, rec, []byte(last))
	})
}

// fuzzBoundary is the multipart boundary of FuzzMultipartCall's bodies.
const fuzzBoundary = "fuzzboundary"

// FuzzMultipartCall sends any multipart body as a call with files: the
// server never panics and answers with results or a Parley error.
func FuzzMultipartCall(f *testing.F) {
	part := func(name, filename, body string) string {
		disp := `form-data; name="` + name + `"`
		if filename != "" {
			disp += `; filename="` + filename + `"`
		}
		return "--" + fuzzBoundary + "\r\nContent-Disposition: " + disp + "\r\n\r\n" + body + "\r\n"
	}
	end := "--" + fuzzBoundary + "--\r\n"
	env := `{"calls":[{"id":1,"service":"Files","method":"size","args":[{"part":"f0"}]}]}`
	for _, s := range []string{
		part("envelope", "", env) + part("f0", "a.txt", "hello") + end,
		part("envelope", "", env) + end,
		part("envelope", "", `{"calls":[`) + end,
		part("f0", "a.txt", "x") + end,
		part("envelope", "", env) + part("envelope", "", env) + end,
		"--" + fuzzBoundary + "\r\n\r\n" + end,
		"",
	} {
		f.Add([]byte(s))
	}
	srv := NewServer()
	srv.Register(ServiceDesc{Name: "Files", Methods: []MethodDesc{{
		Name: "size", Params: []string{"f"},
		Handler: func(ctx context.Context, args Args) (any, error) {
			var u *Upload
			if err := args.Decode(0, &u); err != nil {
				return nil, err
			}
			if u == nil {
				return 0, nil
			}
			return u.Size, nil
		},
	}}})
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/parley/call", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "multipart/form-data; boundary="+fuzzBoundary)
		r.Header.Set("X-Parley", "1")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		checkFuzzReply(t, rec, body)
	})
}
