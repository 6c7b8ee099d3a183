package numbers

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

// meter implements Meter, recording that a method ran.
type meter struct{ ran *bool }

func (m meter) Float(_ context.Context, f float64) (float64, error) { *m.ran = true; return f, nil }
func (m meter) Floats(fs []float64) ([]float64, error)              { *m.ran = true; return fs, nil }
func (m meter) Int(n int64) (int64, error)                          { *m.ran = true; return n, nil }
func (m meter) Scale(n int64, by uint64) (uint64, error)            { *m.ran = true; return uint64(n) * by, nil }
func (m meter) Read(r *Reading, by ID) (*Reading, error) {
	*m.ran = true
	if r != nil {
		r.ID *= by
	}
	return r, nil
}
func (m meter) Many(rs []Reading) (map[string][]Reading, error) {
	*m.ran = true
	return map[string][]Reading{"all": rs}, nil
}
func (m meter) Any(v any) (any, error) { *m.ran = true; return v, nil }
func (m meter) Wide(n float64) (any, error) {
	*m.ran = true
	return map[string]any{"n": []int64{int64(n)}}, nil
}

const limit = " cannot be represented exactly in JavaScript (the limit is ±9007199254740991)"

// TestNumbersBothWays calls the generated handlers over HTTP: floats of
// any size travel exactly both ways, and integers of Go types wider than
// 53 bits beyond ±(2^53−1) are refused, as arguments with
// invalid_argument before the method runs, as results with out_of_range.
func TestNumbersBothWays(t *testing.T) {
	cases := []struct {
		method string
		args   string
		result string // the result's JSON, when it succeeds
		code   rpc.Code
		err    string
	}{
		// Numbers as JSON.stringify writes them.
		{method: "float", args: `[1000000000000000]`, result: `1000000000000000`},
		{method: "float", args: `[100000000000000000000]`, result: `100000000000000000000`},
		{method: "float", args: `[1700000000000000000]`, result: `1700000000000000000`},
		{method: "float", args: `[1e20]`, result: `100000000000000000000`},
		{method: "float", args: `[-1e300]`, result: `-1e+300`},
		{method: "floats", args: `[[1000000000000000, 100000000000000000000, 1700000000000000000, 9007199254740993]]`, result: `[1000000000000000,100000000000000000000,1700000000000000000,9007199254740992]`},
		{method: "int", args: `[9007199254740991]`, result: `9007199254740991`},
		{method: "int", args: `[-9007199254740991]`, result: `-9007199254740991`},
		{method: "int", args: `[9007199254740993]`, code: rpc.CodeInvalidArgument, err: `argument n: integer 9007199254740993` + limit},
		{method: "int", args: `[-9007199254740992]`, code: rpc.CodeInvalidArgument, err: `argument n: integer -9007199254740992` + limit},
		{method: "scale", args: `[4503599627370496, 1]`, result: `4503599627370496`},
		{method: "scale", args: `[4503599627370496, 4]`, code: rpc.CodeOutOfRange, err: `result: integer 18014398509481984` + limit},
		{method: "scale", args: `[1, 18446744073709551615]`, code: rpc.CodeInvalidArgument, err: `argument by: integer 18446744073709551615` + limit},
		{method: "read", args: `[{"id":7,"value":100000000000000000000,"text":"9007199254740993"}, 3]`, result: `{"id":21,"value":100000000000000000000,"text":"9007199254740993"}`},
		{method: "read", args: `[null, 3]`, result: `null`},
		{method: "read", args: `[{"id":9007199254740992}, 1]`, code: rpc.CodeInvalidArgument, err: `argument r: id: integer 9007199254740992` + limit},
		{method: "read", args: `[{"id":1,"counts":{"9007199254740993":1}}, 1]`, code: rpc.CodeInvalidArgument, err: `argument r: counts["9007199254740993"]: integer 9007199254740993` + limit},
		{method: "read", args: `[{"id":1,"counts":{"1":-9007199254740993}}, 1]`, code: rpc.CodeInvalidArgument, err: `argument r: counts["1"]: integer -9007199254740993` + limit},
		{method: "read", args: `[{"id":4503599627370496}, 2]`, code: rpc.CodeOutOfRange, err: `result: id: integer 9007199254740992` + limit},
		{method: "many", args: `[[{"id":1,"tags":[1,2]},{"id":2,"tags":[3,9007199254740992]}]]`, code: rpc.CodeInvalidArgument, err: `argument rs: [1].tags[1]: integer 9007199254740992` + limit},
		{method: "many", args: `[[{"id":1,"value":1700000000000000000,"extra":{"n":9007199254740993}}]]`, result: `{"all":[{"id":1,"value":1700000000000000000,"extra":{"n":9007199254740992}}]}`},
		{method: "any", args: `[[100000000000000000000, 9007199254740993]]`, result: `[100000000000000000000,9007199254740992]`},
		{method: "wide", args: `[1000000000000000]`, result: `{"n":[1000000000000000]}`},
		{method: "wide", args: `[10000000000000000]`, code: rpc.CodeOutOfRange, err: `result: ["n"][0]: integer 10000000000000000` + limit},
	}
	srv := rpc.NewServer()
	var ran bool
	RegisterMeter(srv, meter{ran: &ran})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	for _, c := range cases {
		t.Run(c.method+c.args, func(t *testing.T) {
			ran = false
			body := `{"calls":[{"id":1,"service":"Meter","method":"` + c.method + `","args":` + c.args + `}]}`
			req, err := http.NewRequest("POST", ts.URL+"/parley/call", bytes.NewBufferString(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Parley", "1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var reply struct {
				Results []struct {
					Result json.RawMessage `json:"result"`
					Error  *rpc.Error      `json:"error"`
				} `json:"results"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
				t.Fatal(err)
			}
			if len(reply.Results) != 1 {
				t.Fatalf("got %d results, want 1", len(reply.Results))
			}
			got := reply.Results[0]
			switch {
			case c.err == "" && got.Error != nil:
				t.Fatalf("got error %v, want %s", got.Error, c.result)
			case c.err == "" && string(got.Result) != c.result:
				t.Fatalf("got result %s, want %s", got.Result, c.result)
			case c.err != "" && got.Error == nil:
				t.Fatalf("got result %s, want %s %q", got.Result, c.code, c.err)
			case c.err != "" && (got.Error.Code != c.code || got.Error.Message != c.err):
				t.Fatalf("got %s %q, want %s %q", got.Error.Code, got.Error.Message, c.code, c.err)
			case c.code == rpc.CodeInvalidArgument && ran:
				t.Fatal("the method ran with an integer out of range")
			}
		})
	}
}

// TestProxyNumbers sends reverse calls through the typed proxy: floats
// reach the page exactly, wide integers beyond ±(2^53−1) are refused.
func TestProxyNumbers(t *testing.T) {
	hub := reverse.NewHub()
	t.Cleanup(hub.Close)
	s, err := hub.Open("/meter", "h")
	if err != nil {
		t.Fatal(err)
	}
	display := NewDisplayProxy(hub.Session(s.ID()))
	cases := []struct {
		name string
		send func() error
		args string // the args the page receives; "" when refused
		err  string
	}{
		{"float 1e15", func() error { return display.ShowFloat(1e15) }, `[1000000000000000]`, ""},
		{"float 1e20", func() error { return display.ShowFloat(1e20) }, `[100000000000000000000]`, ""},
		{"float 1.7e18", func() error { return display.ShowFloat(1.7e18) }, `[1700000000000000000]`, ""},
		{"safe id", func() error { return display.ShowID(-(1<<53 - 1)) }, `[-9007199254740991]`, ""},
		{"wide id", func() error { return display.ShowID(1 << 53) }, "", "[0]: integer 9007199254740992" + limit},
		{"wide field", func() error { return display.ShowReading(Reading{ID: 1, Tags: []int{1 << 60}}) }, "", "[0].tags[0]: integer 1152921504606846976" + limit},
		{"float field", func() error { return display.ShowReading(Reading{ID: 1, Value: 1e20, Text: 1 << 60}) },
			`[{"id":1,"value":100000000000000000000,"text":"1152921504606846976"}]`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.send()
			got := s.Pending(0).Messages
			if c.err != "" {
				if err == nil || !strings.HasSuffix(err.Error(), c.err) {
					t.Fatalf("got %v, want an error ending in %q", err, c.err)
				}
				if len(got) != 0 {
					t.Fatalf("the page got %d calls, want none", len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("the page got %d calls, want 1", len(got))
			}
			var msg struct{ Args json.RawMessage }
			b, err := json.Marshal(got[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &msg); err != nil {
				t.Fatal(err)
			}
			if string(msg.Args) != c.args {
				t.Fatalf("the page got args %s, want %s", msg.Args, c.args)
			}
			s.Ack(s.Pending(0).Messages[0].Seq)
		})
	}
}
