package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawReply is the reply to a request sent as raw bytes.
type rawReply struct {
	status int
	err    *Error           // the error of a failed request
	result []map[string]any // the results of a call batch
}

// postRaw sends body, as is, as a Parley JSON POST to path.
func (c *client) postRaw(path string, body []byte) rawReply {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.url+"/parley/"+path, bytes.NewReader(body))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Parley", "1")
	res, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	var out struct {
		Error   *Error           `json:"error"`
		Results []map[string]any `json:"results"`
	}
	require.NoError(c.t, json.Unmarshal(b, &out), "%s", b)
	return rawReply{status: res.StatusCode, err: out.Error, result: out.Results}
}

// nested returns a JSON value nesting n arrays.
func nested(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

// envelopeCase is a request body and what it must get: a whole-request
// error (status and code), or a batch whose first call gets callCode
// ("" for a result).
type envelopeCase struct {
	name, path, body string
	status           int
	code             Code
	callCode         Code
	msg              string // part of the error message, if set
}

// TestRequestEnvelope checks every way a request body can be wrong, each
// with its status and code, and what is accepted.
func TestRequestEnvelope(t *testing.T) {
	t.Parallel()
	add := `"service":"Calc","method":"add"`
	ok := func(name, path, body string) envelopeCase {
		return envelopeCase{name: name, path: path, body: body, status: http.StatusOK}
	}
	bad := func(name, path, body, msg string) envelopeCase {
		return envelopeCase{name: name, path: path, body: body, status: http.StatusBadRequest, code: CodeInvalidArgument, msg: msg}
	}
	limit := func(name, path, body, msg string) envelopeCase {
		return envelopeCase{name: name, path: path, body: body, status: http.StatusTooManyRequests, code: CodeResourceExhausted, msg: msg}
	}
	callFails := func(name, body string, code Code, msg string) envelopeCase {
		return envelopeCase{name: name, path: "call", body: body, status: http.StatusOK, callCode: code, msg: msg}
	}
	many := strings.Repeat(`{`+add+`,"args":[1,2]},`, 100)
	cases := []envelopeCase{
		ok("a call", "call", `{"calls":[{"id":1,`+add+`,"args":[1,2]}]}`),
		ok("unknown fields are ignored", "call", `{"v":2,"x":{"y":[true,null]},"calls":[{"id":1,`+add+`,"args":[1,2],"z":{}}]}`),
		ok("null fields count as absent", "call", `{"session":null,"ack":null,"ordered":null,"wait":null,"calls":[{"id":null,`+add+`,"timeout":null,"args":[1,2]}]}`),
		ok("escaped names", "call", `{"\u0063alls":[{"id":1,"service":"Ca\u006cc","method":"add","args":[1,2]}]}`),
		ok("the largest ack", "call", `{"ack":18446744073709551615,"calls":[{"id":1,`+add+`,"args":[1,2]}]}`),
		ok("a string id", "call", `{"calls":[{"id":"a",`+add+`,"args":[1,2]}]}`),
		ok("a fractional timeout", "call", `{"calls":[{"id":1,`+add+`,"args":[1,2],"timeout":0.5}]}`),
		ok("a huge timeout", "call", `{"calls":[{"id":1,`+add+`,"args":[1,2],"timeout":1e400}]}`),
		ok("100 calls", "call", `{"calls":[`+strings.TrimSuffix(many, ",")+`]}`),
		ok("nesting up to the limit", "call", `{"calls":[{"id":1,"service":"Calc","method":"recall","args":[],"x":`+nested(60)+`}]}`),
		ok("no wait on a poll", "poll", `{"session":"nope","wait":false}`),
		ok("a transport on session", "session", `{"page":"/p","transport":"sse"}`),

		bad("malformed JSON", "call", `{"calls":[`, "not valid JSON"),
		bad("not JSON at all", "call", `calls=1`, "not valid JSON"),
		bad("an empty body", "call", ``, "not valid JSON"),
		bad("two objects", "call", `{"calls":[]} {}`, "not valid JSON"),
		bad("trailing garbage", "call", `{"calls":[]}x`, "not valid JSON"),
		bad("an array body", "call", `[]`, "must be a JSON object"),
		bad("a string body", "call", `"calls"`, "must be a JSON object"),
		bad("invalid UTF-8 in a name", "call", "{\"calls\":[{\"id\":1,\"service\":\"Ca\xfflc\",\"method\":\"add\",\"args\":[1,2]}]}", "invalid UTF-8"),
		bad("invalid UTF-8 in an argument", "call", "{\"calls\":[{\"id\":1,"+add+",\"args\":[\"\xc3\x28\",2]}]}", "invalid UTF-8"),
		bad("invalid UTF-8 in an unknown field", "call", "{\"x\":\"\xed\xa0\x80\",\"calls\":[]}", "invalid UTF-8"),
		bad("a repeated calls", "call", `{"calls":[],"calls":[{"id":1,`+add+`,"args":[1,2]}]}`, "duplicate"),
		bad("a repeated session", "poll", `{"session":"a","session":"b"}`, "duplicate"),
		bad("a repeated name in a call", "call", `{"calls":[{"id":1,`+add+`,"method":"fail","args":[1,2]}]}`, "duplicate"),
		bad("a repeated name in an argument", "call", `{"calls":[{"id":1,"service":"Calc","method":"remember","args":[{"a":1,"a":2}]}]}`, "duplicate"),
		bad("a repeated name written differently", "call", `{"calls":[],"\u0063alls":[]}`, "duplicate"),
		bad("calls in another case", "call", `{"Calls":[{"id":1,`+add+`,"args":[1,2]}]}`, "calls must be an array"),
		bad("no calls", "call", `{}`, "calls must be an array"),
		bad("calls an object", "call", `{"calls":{"id":1}}`, "field calls must be an array"),
		bad("calls a string", "call", `{"calls":"add"}`, "field calls must be an array"),
		bad("a call not an object", "call", `{"calls":[1]}`, "field calls[0] must be an object"),
		bad("a service number", "call", `{"calls":[{"id":1,"service":1,"method":"add","args":[1,2]}]}`, "field calls[0].service must be a string"),
		bad("no service", "call", `{"calls":[{"id":1,"method":"add","args":[1,2]}]}`, "field calls[0].service is required"),
		bad("no method", "call", `{"calls":[{"id":1,"service":"Calc","args":[1,2]}]}`, "field calls[0].method is required"),
		bad("a method array", "call", `{"calls":[{"id":1,"service":"Calc","method":["add"],"args":[1,2]}]}`, "field calls[0].method must be a string"),
		bad("args an object", "call", `{"calls":[{"id":1,`+add+`,"args":{"a":1}}]}`, "field calls[0].args must be an array"),
		bad("args a number", "call", `{"calls":[{"id":1,`+add+`,"args":1}]}`, "field calls[0].args must be an array"),
		bad("an id object", "call", `{"calls":[{"id":{"n":1},`+add+`,"args":[1,2]}]}`, "field calls[0].id must be a string or a number"),
		bad("an id boolean", "call", `{"calls":[{"id":true,`+add+`,"args":[1,2]}]}`, "field calls[0].id must be a string or a number"),
		bad("a timeout string", "call", `{"calls":[{"id":1,`+add+`,"args":[1,2],"timeout":"5"}]}`, "field calls[0].timeout must be a number"),
		bad("a negative timeout", "call", `{"calls":[{"id":1,`+add+`,"args":[1,2],"timeout":-1}]}`, "field calls[0].timeout must be a number"),
		bad("an infinitely negative timeout", "call", `{"calls":[{"id":1,`+add+`,"args":[1,2],"timeout":-1e400}]}`, "field calls[0].timeout must be a number"),
		bad("a negative ack", "call", `{"ack":-1,"calls":[]}`, "field ack must be an integer"),
		bad("a fractional ack", "call", `{"ack":1.5,"calls":[]}`, "field ack must be an integer"),
		bad("an ack in exponent form", "call", `{"ack":1e3,"calls":[]}`, "field ack must be an integer"),
		bad("an ack past uint64", "call", `{"ack":18446744073709551616,"calls":[]}`, "field ack must be an integer"),
		bad("an ack string", "poll", `{"session":"s","ack":"4"}`, "field ack must be an integer"),
		bad("ordered a string", "call", `{"ordered":"yes","calls":[]}`, "field ordered must be true or false"),
		bad("wait a number", "poll", `{"session":"s","wait":0}`, "field wait must be true or false"),
		bad("a session number", "poll", `{"session":5}`, "field session must be a string"),
		bad("a page object", "session", `{"page":{}}`, "field page must be a string"),
		bad("a transport number", "session", `{"page":"/p","transport":1}`, "field transport must be a string"),
		bad("a poll without session", "poll", `{"ack":1}`, "no session"),

		limit("too deep in an argument", "call", `{"calls":[{"id":1,"service":"Calc","method":"remember","args":[`+nested(61)+`]}]}`, "deeper than 64"),
		limit("too deep in an unknown field", "call", `{"x":`+nested(64)+`,"calls":[]}`, "deeper than 64"),
		limit("too deep on a poll", "poll", `{"session":"s","x":`+nested(64)+`}`, "deeper than 64"),
		limit("far too deep", "call", `{"x":`+nested(100000)+`}`, "deeper than 64"),
		limit("too many calls", "call", `{"calls":[`+many+`{`+add+`,"args":[1,2]}]}`, "more than 100 calls"),
		limit("too many calls, the first one wrong", "call", `{"calls":[{"id":{}},`+many+`]}`, "more than 100 calls"),
		bad("a wrong call in a batch cut short", "call", `{"calls":[{"id":{}},{"service":`, "field calls[0].id"),

		callFails("an unknown service", `{"calls":[{"id":1,"service":"Nope","method":"add","args":[1,2]}]}`, CodeUnimplemented, "no method Nope.add"),
		callFails("an unknown method", `{"calls":[{"id":1,"service":"Calc","method":"nope","args":[]}]}`, CodeUnimplemented, "no method Calc.nope"),
		callFails("too few arguments", `{"calls":[{"id":1,`+add+`,"args":[1]}]}`, CodeInvalidArgument, "takes 2 arguments, got 1"),
		callFails("no arguments", `{"calls":[{"id":1,`+add+`}]}`, CodeInvalidArgument, "takes 2 arguments, got 0"),
		callFails("too many arguments", `{"calls":[{"id":1,`+add+`,"args":[1,2,3]}]}`, CodeInvalidArgument, "takes 2 arguments, got 3"),
		callFails("an argument of the wrong type", `{"calls":[{"id":1,`+add+`,"args":["1",2]}]}`, CodeInvalidArgument, "argument a"),
	}
	f := newFixture(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep := f.client(t).postRaw(tc.path, []byte(tc.body))
			require.Equal(t, tc.status, rep.status, "%+v", rep.err)
			if tc.code != "" {
				require.NotNil(t, rep.err)
				assert.Equal(t, tc.code, rep.err.Code)
				assert.Contains(t, rep.err.Message, tc.msg)
				return
			}
			assert.Nil(t, rep.err)
			if tc.path != "call" {
				return
			}
			require.NotEmpty(t, rep.result)
			e, _ := rep.result[0]["error"].(map[string]any)
			if tc.callCode == "" {
				assert.Nil(t, e, "%v", rep.result[0])
				return
			}
			require.NotNil(t, e, "%v", rep.result[0])
			assert.Equal(t, string(tc.callCode), e["code"])
			assert.Contains(t, e["message"], tc.msg)
		})
	}
}

func TestMaxDepthOption(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opt    int
		depth  int // of the unknown field's value
		status int
	}{
		{"within a low limit", 8, 7, http.StatusOK},
		{"past a low limit", 8, 8, http.StatusTooManyRequests},
		{"a limit below the least is raised", 1, 3, http.StatusOK},
		{"past the raised limit", 1, 4, http.StatusTooManyRequests},
		{"a high limit", 500, 499, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, WithMaxDepth(tc.opt))
			body := `{"x":` + nested(tc.depth) + `,"calls":[{"id":1,"service":"Calc","method":"recall"}]}`
			rep := f.client(t).postRaw("call", []byte(body))
			require.Equal(t, tc.status, rep.status, "%+v", rep.err)
			if tc.status != http.StatusOK {
				assert.Equal(t, CodeResourceExhausted, rep.err.Code)
			}
		})
	}
}

// TestCallTimeouts checks how each timeout a page may send becomes the
// method's deadline: none, rounded up, or clamped, never overflowing.
func TestCallTimeouts(t *testing.T) {
	t.Parallel()
	srv := NewServer()
	srv.Register(testService())
	for _, tc := range []struct {
		timeout string
		ms      int64
	}{
		{"0", 0},
		{"-0", 0},
		{"1", 1},
		{"0.2", 1},
		{"1e-300", 1},
		{"1.5", 2},
		{"1e3", 1000},
		{"60000", 60000},
		{"2147483647", maxTimeoutMillis},
		{"2147483648", maxTimeoutMillis},
		{"9223372036854775807", maxTimeoutMillis},
		{"18446744073709551616", maxTimeoutMillis},
		{"1e400", maxTimeoutMillis},
	} {
		t.Run(tc.timeout, func(t *testing.T) {
			t.Parallel()
			var req request
			var spare spareSlices
			body := `{"calls":[{"service":"Calc","method":"add","timeout":` + tc.timeout + `}]}`
			require.Nil(t, srv.decodeRequest([]byte(body), &req, &spare))
			assert.Equal(t, tc.ms, req.Calls[0].Timeout)
		})
	}

	// A huge timeout gives the method a deadline in the future.
	f := newFixture(t)
	f.register(method("deadline", nil, func(ctx context.Context, _ Args) (any, error) {
		d, ok := ctx.Deadline()
		return map[string]any{"has": ok, "future": time.Until(d) > 24*time.Hour}, nil
	}))
	c := f.client(t)
	for _, timeout := range []string{"9223372036854775807", "1e400", "2147483648"} {
		rep := c.postRaw("call", []byte(`{"calls":[{"id":1,"service":"Svc","method":"deadline","args":[],"timeout":`+timeout+`}]}`))
		require.Equal(t, http.StatusOK, rep.status, "%+v", rep.err)
		assert.Equal(t, map[string]any{"has": true, "future": true}, rep.result[0]["result"], "timeout %s", timeout)
	}
}

// TestDecodedArgsAreRaw checks that arguments and ids are kept as their
// exact JSON text, ready for the generated code to decode.
func TestDecodedArgsAreRaw(t *testing.T) {
	t.Parallel()
	srv := NewServer()
	srv.Register(testService())
	body := []byte(`{"calls":[{"id": "x" ,"service":"Calc","method":"add","args":[ {"a" : [1, "]"]} , null,"\"}" ,1.5e3]},` +
		`{"id":2,"service":"Calc","method":"add","args":[1,2,3,4,5,6]}]}`)
	var req request
	var spare spareSlices
	require.Nil(t, srv.decodeRequest(body, &req, &spare))
	require.Len(t, req.Calls, 2)
	assert.Equal(t, `"x"`, string(req.Calls[0].ID))
	var args []string
	for _, a := range req.Calls[0].Args {
		args = append(args, string(a))
	}
	assert.Equal(t, []string{`{"a" : [1, "]"]}`, `null`, `"\"}"`, `1.5e3`}, args)
	assert.Len(t, req.Calls[1].Args, 6)
	assert.NotNil(t, req.Calls[0].desc, "a known method is resolved while decoding")
}

// envelopeSeeds are the seed bodies of FuzzDecodeRequest.
var envelopeSeeds = []string{
	`{"session":"s1","ack":4,"calls":[{"id":1,"service":"Calc","method":"add","args":[1,2]}]}`,
	`{"calls":[{"id":"x","service":"Calc","method":"add","args":[{"a":[1,"]"]},null,"\"}"],"timeout":5}],"ordered":true}`,
	`{"calls":[{"id":1,"service":"Calc","method":"add"},{"id":2,"service":"Calc","method":"add","args":[1,2,3,4,5,6]}],"wait":false,"page":"/p"}`,
	`{"Calls":[],"x":{"y":[true,false,null]}}`, `{"calls":[],"calls":[]}`, "{\"calls\":[{\"service\":\"\xff\"}]}",
	`{"calls":null,"ack":-1}`, `{"calls":[{"service":"Ca\u006cc","method":"add","timeout":1e400}]}`, `[]`, `{}`, `{"calls":[`,
	`{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
}

// FuzzDecodeRequest checks the request decoder on any body: it never
// panics; it fails only with invalid_argument or resource_exhausted; it
// refuses whatever encoding/json finds invalid, and invalid UTF-8; and
// what it accepts agrees with encoding/json's reading of the same body.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add([]byte(s))
	}
	srv := NewServer(WithMaxDepth(16))
	srv.Register(testService())
	f.Fuzz(func(t *testing.T, body []byte) {
		var req request
		var spare spareSlices
		err := srv.decodeRequest(body, &req, &spare)
		if !json.Valid(body) || !utf8.Valid(body) {
			if err == nil {
				t.Fatalf("%q: accepted, but it is not valid JSON in UTF-8", body)
			}
		}
		if err != nil {
			if err.Code != CodeInvalidArgument && err.Code != CodeResourceExhausted {
				t.Fatalf("%q: error %v", body, err)
			}
			return
		}
		// encoding/json reads the same body the same way (it matches
		// names without regard to case, so compare what it finds by
		// exact name).
		var ref map[string]json.RawMessage
		if err := json.Unmarshal(body, &ref); err != nil {
			t.Fatalf("%q: accepted, but encoding/json says %v", body, err)
		}
		var session, page string
		_ = json.Unmarshal(ref["session"], &session)
		_ = json.Unmarshal(ref["page"], &page)
		if req.Session != session || req.Page != page {
			t.Fatalf("%q: session %q page %q, encoding/json %q %q", body, req.Session, req.Page, session, page)
		}
		var calls []map[string]json.RawMessage
		_ = json.Unmarshal(ref["calls"], &calls)
		if len(calls) != len(req.Calls) {
			t.Fatalf("%q: %d calls, encoding/json %d", body, len(req.Calls), len(calls))
		}
		for i, c := range req.Calls {
			var svc, m string
			_ = json.Unmarshal(calls[i]["service"], &svc)
			_ = json.Unmarshal(calls[i]["method"], &m)
			var args []json.RawMessage
			_ = json.Unmarshal(calls[i]["args"], &args)
			if c.Service != svc || c.Method != m || len(c.Args) != len(args) {
				t.Fatalf("%q: call %d is %s.%s with %d args, encoding/json %s.%s with %d", body, i, c.Service, c.Method, len(c.Args), svc, m, len(args))
			}
			for j := range args {
				if !bytes.Equal(c.Args[j], args[j]) {
					t.Fatalf("%q: call %d arg %d is %s, encoding/json %s", body, i, j, c.Args[j], args[j])
				}
			}
			if id := calls[i]["id"]; string(id) != "null" && !bytes.Equal(c.ID, id) {
				t.Fatalf("%q: call %d id %s, encoding/json %s", body, i, c.ID, id)
			}
			if c.desc != nil && (c.desc.Name != c.Method || c.Service != "Calc") {
				t.Fatalf("%q: call %d resolved to the wrong method", body, i)
			}
			if c.Timeout < 0 || c.Timeout > maxTimeoutMillis {
				t.Fatalf("%q: call %d timeout %d", body, i, c.Timeout)
			}
		}
	})
}

// FuzzArgsDecode checks argument decoding on any JSON text: it never
// panics, fails only with invalid_argument naming the parameter, and
// decodes whatever it accepts as encoding/json does.
func FuzzArgsDecode(f *testing.F) {
	for _, s := range []string{`1`, `-0`, `1.5e3`, `9007199254740993`, `"s"`, `null`, `{"i":1,"text":"t"}`, `[1,2]`,
		`{"part":"f0"}`, `{"I":1,"i":2}`, `[[[[]]]]`, `"\ud800"`, `true`} {
		f.Add([]byte(s))
	}
	targets := []func() any{
		func() any { return new(int64) }, func() any { return new(float64) }, func() any { return new(string) },
		func() any { return new(benchArg) }, func() any { return new([]int) }, func() any { return new(map[string]any) },
		func() any { return new(any) }, func() any { return new(*Upload) }, func() any { return new(Upload) },
		func() any { return new(json.Number) }, func() any { return new(uint8) },
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return // the envelope decoder lets only valid JSON through
		}
		args := Args{raw: []json.RawMessage{raw}, params: []string{"v"}}
		for _, target := range targets {
			v := target()
			err := args.Decode(0, v)
			if err == nil {
				if _, upload := v.(*Upload); !upload {
					want := target()
					if json.Unmarshal(raw, want) != nil {
						t.Fatalf("%q into %T: accepted, but encoding/json refuses it", raw, v)
					}
				}
				continue
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidArgument || !strings.Contains(e.Message, "v") {
				t.Fatalf("%q into %T: %v", raw, v, err)
			}
		}
		if err := args.Decode(1, new(int)); err == nil {
			t.Fatal("a missing argument decoded")
		}
	})
}
