package rpc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// benchArg is the argument of the benchmarked method.
type benchArg struct {
	I    int    `json:"i"`
	Text string `json:"text"`
}

// BenchmarkDispatch compares one call through the Server, with a handler
// of the shape parleygen generates, against a hand-written net/http +
// encoding/json handler doing the same work, in the same run.
func BenchmarkDispatch(b *testing.B) {
	srv := NewServer()
	srv.Register(ServiceDesc{Name: "Bench", Methods: []MethodDesc{{
		Name: "echo", Params: []string{"v"},
		Handler: func(ctx context.Context, args Args) (any, error) {
			var v benchArg
			if err := args.Decode(0, &v); err != nil {
				return nil, err
			}
			return v, nil
		},
	}}})
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v benchArg
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	})

	// The Parley request carries the cookie a browser would send back.
	warm := httptest.NewRecorder()
	srv.ServeHTTP(warm, parleyRequest(""))
	cookie := warm.Header().Get("Set-Cookie")

	for _, tc := range []struct {
		name string
		h    http.Handler
		req  func() *http.Request
	}{
		{"parley", srv, func() *http.Request { return parleyRequest(cookie) }},
		{"plain", plain, func() *http.Request {
			return httptest.NewRequest("POST", "/plain", strings.NewReader(`{"i":1,"text":"hello"}`))
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				tc.h.ServeHTTP(w, tc.req())
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

func parleyRequest(cookie string) *http.Request {
	r := httptest.NewRequest("POST", "/parley/call", strings.NewReader(
		`{"calls":[{"id":1,"service":"Bench","method":"echo","args":[{"i":1,"text":"hello"}]}]}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Parley", "1")
	if cookie != "" {
		r.Header.Set("Cookie", strings.SplitN(cookie, ";", 2)[0])
	}
	return r
}

// BenchmarkDecodeRequest measures decoding the body of one call, against
// encoding/json decoding it into the same struct.
func BenchmarkDecodeRequest(b *testing.B) {
	srv := NewServer()
	srv.Register(testService())
	body := []byte(`{"session":"q3NxP0aZ","ack":4,"calls":[{"id":1,"service":"Calc","method":"add","args":[{"i":1,"text":"hello"},2]}]}`)
	b.Run("parley", func(b *testing.B) {
		b.ReportAllocs()
		var spare spareSlices
		for b.Loop() {
			var req request
			if err := srv.decodeRequest(body, &req, &spare); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req request
			if err := json.Unmarshal(body, &req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
