package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/parley-go/parley/jsruntime"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wireItem has a slice and a map that may be nil, and itself at depth.
type wireItem struct {
	Tags  []string          `json:"tags"`
	Attrs map[string]int    `json:"attrs"`
	Blob  []byte            `json:"blob"`
	Next  *wireItem         `json:"next"`
	Kids  []wireItem        `json:"kids"`
	ByKey map[string][]bool `json:"byKey"`
	Opt   []int             `json:"opt,omitempty"`
}

// nullMarshaler writes its own JSON, null.
type nullMarshaler struct{}

func (nullMarshaler) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

// wireServer serves the method "Wire.get", which returns the result named
// by its argument.
func wireServer(t *testing.T, values map[string]any) *httptest.Server {
	t.Helper()
	srv := NewServer()
	srv.Register(ServiceDesc{Name: "Wire", Methods: []MethodDesc{{
		Name: "get", Params: []string{"name"},
		Handler: func(ctx context.Context, args Args) (any, error) {
			var name string
			if err := args.Decode(0, &name); err != nil {
				return nil, err
			}
			return values[name], nil
		},
	}}})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

// TestResultsCarryEmptyCollections checks that nil slices and maps reach
// the page as [] and {} at every depth, as the .d.ts declares them, while
// nil pointers and types with their own MarshalJSON are left as they are.
func TestResultsCarryEmptyCollections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"nil slice", []int(nil), `[]`},
		{"nil map", map[string]string(nil), `{}`},
		{"nil bytes", []byte(nil), `""`},
		{"nil pointer", (*wireItem)(nil), `null`},
		{"struct", wireItem{}, `{"tags":[],"attrs":{},"blob":"","next":null,"kids":[],"byKey":{}}`},
		{"nested", wireItem{Next: &wireItem{}, Kids: []wireItem{{}}, ByKey: map[string][]bool{"a": nil}},
			`{"tags":[],"attrs":{},"blob":"","next":{"tags":[],"attrs":{},"blob":"","next":null,"kids":[],"byKey":{}},` +
				`"kids":[{"tags":[],"attrs":{},"blob":"","next":null,"kids":[],"byKey":{}}],"byKey":{"a":[]}}`},
		{"in any", []any{[]int(nil), map[string]any{"m": map[int]int(nil)}}, `[[],{"m":{}}]`},
		{"own MarshalJSON", nullMarshaler{}, `null`},
		{"json.Number", json.Number("12.5"), `12.5`},
		{"html escaped as encoding/json does", "<b>", `"\u003cb\u003e"`},
	}
	values := map[string]any{}
	for _, tc := range tests {
		values[tc.name] = tc.value
	}
	ts := wireServer(t, values)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body, _ := json.Marshal(map[string]any{"calls": []any{
				map[string]any{"id": 1, "service": "Wire", "method": "get", "args": []any{tc.name}},
			}})
			req, err := http.NewRequest(http.MethodPost, ts.URL+"/parley/call", bytes.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Parley", "1")
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			raw, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			var reply struct {
				Results []struct {
					Result json.RawMessage `json:"result"`
					Error  json.RawMessage `json:"error"`
				} `json:"results"`
			}
			require.NoError(t, json.Unmarshal(raw, &reply), "%s", raw)
			require.Len(t, reply.Results, 1, "%s", raw)
			require.Empty(t, reply.Results[0].Error)
			assert.JSONEq(t, tc.want, string(reply.Results[0].Result))
			assert.Equal(t, tc.want, string(reply.Results[0].Result), "as encoding/json would write it, but for nil collections")
		})
	}
}

// TestServesRuntimeFiles checks engine.js and engine.d.ts: their bodies,
// types and ETags.
func TestServesRuntimeFiles(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(NewServer())
	t.Cleanup(ts.Close)
	get := func(t *testing.T, method, path, etag string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, ts.URL+path, nil)
		require.NoError(t, err)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, body
	}
	for _, tc := range []struct {
		path        string
		body        []byte
		contentType string
	}{
		{"/parley/engine.js", jsruntime.Engine, "text/javascript; charset=utf-8"},
		{"/parley/engine.d.ts", jsruntime.Types, "application/typescript; charset=utf-8"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			res, body := get(t, http.MethodGet, tc.path, "")
			require.Equal(t, http.StatusOK, res.StatusCode)
			assert.Equal(t, tc.body, body)
			assert.Equal(t, tc.contentType, res.Header.Get("Content-Type"))
			assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
			etag := res.Header.Get("ETag")
			require.NotEmpty(t, etag)
			res, body = get(t, http.MethodGet, tc.path, etag)
			assert.Equal(t, http.StatusNotModified, res.StatusCode)
			assert.Empty(t, body)
			res, _ = get(t, http.MethodGet, tc.path, `"stale"`)
			assert.Equal(t, http.StatusOK, res.StatusCode)
			res, body = get(t, http.MethodHead, tc.path, "")
			assert.Equal(t, http.StatusOK, res.StatusCode)
			assert.Empty(t, body)
		})
	}
}
