// Package hostile_test sends a catalogue of hostile requests to a real
// server built like examples/chat, over real TCP, and checks that each
// gets its documented status and error code and that the server still
// answers a normal call after every one.
package hostile_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/parley-go/parley/examples/chat/chat"
	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Codes a row may want besides the closed set of rpc.Code.
const (
	ok      = ""  // a Parley reply with no error and no reset (SSE: the stream opens)
	notOurs = "-" // net/http's own reply, a redirect or a file: the body is not checked

	inv   = string(rpc.CodeInvalidArgument)
	perm  = string(rpc.CodePermissionDenied)
	nf    = string(rpc.CodeNotFound)
	exh   = string(rpc.CodeResourceExhausted)
	unimp = string(rpc.CodeUnimplemented)
	pre   = string(rpc.CodeFailedPrecondition)
	unav  = string(rpc.CodeUnavailable)

	expired = "reset:" + reverse.ReasonExpired // a reply carrying {"reset": {"reason": "expired"}}
	closed  = "reset:" + reverse.ReasonClosed
)

// listedOrigin is the origin the second server (built with
// rpc.WithAllowedOrigins) lets call it.
const listedOrigin = "http://listed.example"

// readHeaderTimeout is the test server's ReadHeaderTimeout, short so that
// the slowloris rows end quickly.
const readHeaderTimeout = time.Second

// hostile is one request of the catalogue and what it must get.
//
// Paths, headers, bodies and raw bytes may hold placeholders, filled in
// when the row runs: {HOST} the server's host:port, {COOKIE} the main
// browser's cookies, {IDNAME} and {IDVAL} its id cookie, {TAMPERED} that
// value with one character changed, {SID} a live script session of the
// main browser opened for the row alone, {OTHER} a live session of
// another browser, {GONE} a session of the main browser that has ended.
type hostile struct {
	name   string
	method string
	path   string   // from the server's root, e.g. "/parley/call"
	hdr    []string // "Name: value" replaces a default header, "Name:" removes it
	body   string
	// raw, when set, is written to the connection as is, instead of a
	// request made of the fields above.
	raw string
	// pipe, when set, are requests written to one connection at once.
	pipe []hostile
	// halfClose closes the client's side of the connection after writing.
	halfClose bool
	// cors sends the row to the server that lists listedOrigin.
	cors bool

	status int    // 0: the server closes the connection without a reply
	code   string // an rpc.Code, or ok, notOurs, expired, closed
	// wantHdr are "Name: value" headers the reply must carry.
	wantHdr []string
	// absent is text the reply's body must not contain.
	absent string
}

func (h hostile) with(hdr ...string) hostile {
	h.hdr = append(append([]string(nil), h.hdr...), hdr...)
	return h
}
func (h hostile) onCORS() hostile     { h.cors = true; return h }
func (h hostile) closeWrite() hostile { h.halfClose = true; return h }
func (h hostile) wantHeader(hdr ...string) hostile {
	h.wantHdr = append(append([]string(nil), h.wantHdr...), hdr...)
	return h
}
func (h hostile) without(s string) hostile { h.absent = s; return h }

func post(name, path, body string, status int, code string) hostile {
	return hostile{name: name, method: http.MethodPost, path: path, body: body, status: status, code: code}
}

func get(name, path string, status int, code string) hostile {
	return hostile{name: name, method: http.MethodGet, path: path, status: status, code: code}
}

func verb(name, method, path string, status int, code string) hostile {
	return hostile{name: name, method: method, path: path, status: status, code: code}
}

func raw(name, bytes string, status int, code string) hostile {
	return hostile{name: name, raw: bytes, status: status, code: code}
}

// pipelined is a row that sends the requests reqs, each made as a
// request row would be but kept alive, in one write; it checks the
// first reply.
func pipelined(name string, status int, code string, reqs ...hostile) hostile {
	return hostile{name: name, pipe: reqs, status: status, code: code}
}

// Bodies used by many rows.
const (
	history    = `{"id":1,"service":"Chat","method":"history","args":[]}`
	historyReq = `{"calls":[` + history + `]}`
)

func calls(cs ...string) string { return `{"calls":[` + strings.Join(cs, ",") + `]}` }

func call(service, method, args string) string {
	return `{"id":1,"service":"` + service + `","method":"` + method + `","args":` + args + `}`
}

func nested(open, close string, n int) string {
	return strings.Repeat(open, n) + strings.Repeat(close, n)
}

// multipartBody is a multipart/form-data body with the given parts
// (name, content) and the boundary it uses.
func multipartBody(parts ...[2]string) (string, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		if name, file, isFile := strings.Cut(p[0], ":"); isFile {
			fw, _ := w.CreateFormFile(name, file)
			_, _ = io.WriteString(fw, p[1])
			continue
		}
		_ = w.WriteField(p[0], p[1])
	}
	_ = w.Close()
	return b.String(), w.Boundary()
}

func upload(name string, status int, code string, parts ...[2]string) hostile {
	body, boundary := multipartBody(parts...)
	return post(name, "/parley/call", body, status, code).with("Content-Type: multipart/form-data; boundary=" + boundary)
}

// malformed are bodies that are not a JSON object of the envelope's
// shape; every POST endpoint refuses each with 400 invalid_argument.
var malformed = []struct{ name, body string }{
	{"empty", ``},
	{"whitespace", " \n\t "},
	{"truncated object", `{"calls":[`},
	{"truncated string", `{"session":"abc`},
	{"lone brace", `{`},
	{"trailing garbage", historyReq + `x`},
	{"two objects", historyReq + historyReq},
	{"array", `[` + historyReq + `]`},
	{"string", `"calls"`},
	{"number", `1`},
	{"null", `null`},
	{"true", `true`},
	{"invalid utf-8 in key", "{\"se\xffssion\":\"\"}"},
	{"invalid utf-8 in value", "{\"page\":\"/\xc3\x28\",\"calls\":[]}"},
	{"lone surrogate escape ok but raw", "{\"page\":\"\xed\xa0\x80\"}"},
	{"duplicate top-level key", `{"calls":[],"calls":[]}`},
	{"duplicate session key", `{"session":"a","session":"b"}`},
	{"huge ack", `{"ack":1e400}`},
	{"ack past uint64", `{"ack":99999999999999999999999}`},
	{"NaN", `{"ack":NaN}`},
	{"Infinity", `{"ack":Infinity}`},
	{"minus Infinity", `{"ack":-Infinity}`},
	{"plus sign", `{"ack":+1}`},
	{"leading zero", `{"ack":01}`},
	{"hex", `{"ack":0x10}`},
	{"bare dot", `{"ack":.5}`},
	{"single quotes", `{'calls':[]}`},
	{"unquoted key", `{calls:[]}`},
	{"comment", `{/* c */"calls":[]}`},
	{"trailing comma", `{"calls":[],}`},
	{"byte order mark", "\xef\xbb\xbf" + historyReq},
	{"nul byte", "{\"calls\":[]}\x00"},
	{"control char in string", "{\"page\":\"a\x01b\"}"},
}

// postEndpoints are the JSON POST endpoints the CSRF and envelope rows
// run against, each with a body it accepts.
var postEndpoints = []struct{ path, body string }{
	{"/parley/call", historyReq},
	{"/parley/session", `{"page":"/"}`},
	{"/parley/poll", `{"session":"{SID}","wait":false}`},
	{"/parley/ack", `{"session":"{SID}","ack":0}`},
}

func catalogue() []hostile {
	big := strings.Repeat("x", 1<<20)
	batch := func(n int) string {
		cs := make([]string, n)
		for i := range cs {
			cs[i] = strings.Replace(history, `"id":1`, `"id":`+strconv.Itoa(i), 1)
		}
		return calls(cs...)
	}
	sse := get("", "/parley/sse?session={SID}", 0, "")
	longPoll := post("", "/parley/poll", `{"session":"{SID}"}`, 0, "")
	pollNow := post("", "/parley/poll", `{"session":"{SID}","wait":false}`, 0, "")
	histCall := post("", "/parley/call", historyReq, 0, "")
	ackZero := post("", "/parley/ack", `{"session":"{SID}","ack":0}`, 0, "")
	openPage := post("", "/parley/session", `{"page":"/"}`, 0, "")
	rows := []hostile{
		// Calls: arguments, services and methods.
		post("call/history", "/parley/call", historyReq, 200, ok),
		post("call/wrong arg count, history with one", "/parley/call", calls(call("Chat", "history", `[1]`)), 200, inv),
		post("call/wrong arg count, send with none", "/parley/call", calls(call("Chat", "send", `[]`)), 200, inv),
		post("call/wrong arg count, send with two", "/parley/call", calls(call("Chat", "send", `["a","b"]`)), 200, inv),
		post("call/send number", "/parley/call", calls(call("Chat", "send", `[1]`)), 200, inv),
		post("call/send object", "/parley/call", calls(call("Chat", "send", `[{}]`)), 200, inv),
		post("call/send array", "/parley/call", calls(call("Chat", "send", `[["a"]]`)), 200, inv),
		post("call/send bool", "/parley/call", calls(call("Chat", "send", `[true]`)), 200, inv),
		post("call/send null", "/parley/call", calls(call("Chat", "send", `[null]`)), 200, inv),
		post("call/send empty text", "/parley/call", calls(call("Chat", "send", `["   "]`)), 200, inv),
		post("call/send huge number", "/parley/call", calls(call("Chat", "send", `[1e400]`)), 200, inv),
		post("call/send text too long", "/parley/call", calls(call("Chat", "send", `["`+strings.Repeat("é", chat.MaxTextLen+1)+`"]`)), 200, inv),
		post("call/setName too long", "/parley/call", calls(call("Chat", "setName", `["`+strings.Repeat("n", chat.MaxNameLen+1)+`"]`)), 200, inv),
		post("call/setName number", "/parley/call", calls(call("Chat", "setName", `[42]`)), 200, inv),
		post("call/unsafe integer arg", "/parley/call", calls(call("Chat", "send", `[9007199254740993]`)), 200, inv),
		post("call/unknown service", "/parley/call", calls(call("Nope", "history", `[]`)), 200, unimp),
		post("call/unknown method", "/parley/call", calls(call("Chat", "drop", `[]`)), 200, unimp),
		post("call/method in Go case", "/parley/call", calls(call("Chat", "History", `[]`)), 200, unimp),
		post("call/service in lower case", "/parley/call", calls(call("chat", "history", `[]`)), 200, unimp),
		post("call/service traversal", "/parley/call", calls(call("../Chat", "history", `[]`)), 200, unimp),
		post("call/empty service and method", "/parley/call", calls(call("", "", `[]`)), 200, unimp),
		post("call/method of Object.prototype", "/parley/call", calls(call("Chat", "constructor", `[]`)), 200, unimp),
		post("call/builtin unknown method", "/parley/call", calls(call("$parley", "eval", `[]`)), 200, unimp),
		post("call/subscribe without session", "/parley/call", calls(call("$parley", "subscribe", `[["/x"]]`)), 200, pre),
		post("call/subscribe malformed pattern", "/parley/call", `{"session":"{SID}","calls":[`+call("$parley", "subscribe", `[["no-slash"]]`)+`]}`, 200, inv),
		post("call/subscribe everything", "/parley/call", `{"session":"{SID}","calls":[`+call("$parley", "subscribe", `[["/**"]]`)+`]}`, 200, perm),
		post("call/subscribe wrong type", "/parley/call", `{"session":"{SID}","calls":[`+call("$parley", "subscribe", `["/x"]`)+`]}`, 200, inv),
		post("call/result unknown invocation", "/parley/call", `{"session":"{SID}","calls":[`+call("$parley", "result", `["nope",{"value":1}]`)+`]}`, 200, nf),
		post("call/result wrong arg count", "/parley/call", `{"session":"{SID}","calls":[`+call("$parley", "result", `["nope"]`)+`]}`, 200, inv),
		post("call/args object", "/parley/call", calls(`{"id":1,"service":"Chat","method":"history","args":{}}`), 400, inv),
		post("call/args string", "/parley/call", calls(`{"id":1,"service":"Chat","method":"history","args":"x"}`), 400, inv),
		post("call/args number", "/parley/call", calls(`{"id":1,"service":"Chat","method":"history","args":0}`), 400, inv),
		post("call/args null", "/parley/call", calls(`{"id":1,"service":"Chat","method":"history","args":null}`), 200, ok),
		post("call/args missing", "/parley/call", calls(`{"id":1,"service":"Chat","method":"history"}`), 200, ok),
		post("call/service number", "/parley/call", calls(`{"id":1,"service":1,"method":"history","args":[]}`), 400, inv),
		post("call/service object", "/parley/call", calls(`{"id":1,"service":{},"method":"history","args":[]}`), 400, inv),
		post("call/method array", "/parley/call", calls(`{"id":1,"service":"Chat","method":[],"args":[]}`), 400, inv),
		post("call/method bool", "/parley/call", calls(`{"id":1,"service":"Chat","method":true,"args":[]}`), 400, inv),
		post("call/id object", "/parley/call", calls(`{"id":{"a":[1]},"service":"Chat","method":"history","args":[]}`), 400, inv),
		post("call/id string", "/parley/call", calls(`{"id":"</script>","service":"Chat","method":"history","args":[]}`), 200, ok),
		post("call/id null", "/parley/call", calls(`{"id":null,"service":"Chat","method":"history","args":[]}`), 200, ok),
		post("call/timeout string", "/parley/call", calls(`{"id":1,"service":"Chat","method":"history","args":[],"timeout":"5"}`), 400, inv),
		post("call/timeout fraction", "/parley/call", calls(`{"id":1,"service":"Chat","method":"history","args":[],"timeout":1.5}`), 200, ""),
		post("call/timeout absurd", "/parley/call", calls(`{"id":1,"service":"Chat","method":"history","args":[],"timeout":9223372036854775807}`), 200, ok),
		post("call/timeout negative", "/parley/call", calls(`{"id":1,"service":"Chat","method":"history","args":[],"timeout":-1}`), 400, inv),
		post("call/duplicate key in call", "/parley/call", calls(`{"id":1,"service":"Chat","service":"Nope","method":"history","args":[]}`), 400, inv),
		post("call/deep argument", "/parley/call", calls(call("Chat", "send", `[`+nested("[", "]", 10000)+`]`)), 429, exh),
		post("call/calls object", "/parley/call", `{"calls":{}}`, 400, inv),
		post("call/calls string", "/parley/call", `{"calls":"history"}`, 400, inv),
		post("call/calls number", "/parley/call", `{"calls":1}`, 400, inv),
		post("call/calls null", "/parley/call", `{"calls":null}`, 400, inv),
		post("call/calls missing", "/parley/call", `{}`, 400, inv),
		post("call/call is a number", "/parley/call", `{"calls":[1]}`, 400, inv),
		post("call/call is a string", "/parley/call", `{"calls":["Chat.history"]}`, 400, inv),
		post("call/call is null", "/parley/call", `{"calls":[null]}`, 400, inv),
		post("call/empty batch", "/parley/call", `{"calls":[]}`, 200, ok),
		post("call/session number", "/parley/call", `{"session":1,"calls":[`+history+`]}`, 400, inv),
		post("call/session array", "/parley/call", `{"session":[],"calls":[`+history+`]}`, 400, inv),
		post("call/ordered string", "/parley/call", `{"ordered":"true","calls":[`+history+`]}`, 400, inv),
		post("call/ordered number", "/parley/call", `{"ordered":1,"calls":[`+history+`]}`, 400, inv),
		post("call/ordered batch", "/parley/call", `{"ordered":true,"calls":[`+history+`,`+history+`]}`, 200, ok),
		post("call/ack string", "/parley/call", `{"ack":"1","calls":[`+history+`]}`, 400, inv),
		post("call/ack negative", "/parley/call", `{"session":"{SID}","ack":-1,"calls":[`+history+`]}`, 400, inv),
		post("call/ack fraction", "/parley/call", `{"session":"{SID}","ack":1.5,"calls":[`+history+`]}`, 400, inv),
		post("call/ack beyond sent", "/parley/call", `{"session":"{SID}","ack":1000000,"calls":[`+history+`]}`, 400, inv),
		post("call/unknown envelope field", "/parley/call", `{"later":{"a":1},"calls":[`+history+`]}`, 200, ok),
		post("call/batch at the limit", "/parley/call", batch(100), 200, ok),
		post("call/batch over the limit", "/parley/call", batch(101), 429, exh),
		post("call/body over the limit", "/parley/call", `{"calls":[],"pad":"`+big+`"}`, 429, exh),
		post("call/content-length over the limit", "/parley/call", historyReq, 429, exh).with("Content-Length: 10000000000"),
		post("call/live session", "/parley/call", `{"session":"{SID}","ack":0,"calls":[`+history+`]}`, 200, ok),
		post("call/stolen session", "/parley/call", `{"session":"{OTHER}","calls":[`+history+`]}`, 403, perm),
		post("call/ended session", "/parley/call", `{"session":"{GONE}","calls":[`+history+`]}`, 200, closed),
		post("call/unknown session", "/parley/call", `{"session":"AAAAAAAAAAAAAAAAAAAAAA","calls":[`+history+`]}`, 200, expired),
		post("call/malformed session", "/parley/call", `{"session":"../../etc/passwd","calls":[`+history+`]}`, 200, expired),
		post("call/huge session id", "/parley/call", `{"session":"`+strings.Repeat("A", 100000)+`","calls":[`+history+`]}`, 200, expired),

		// Content-Type, X-Parley, Origin and Sec-Fetch-Site.
		post("csrf/json with charset", "/parley/call", historyReq, 200, ok).with("Content-Type: application/json; charset=utf-8"),
		post("csrf/json in upper case", "/parley/call", historyReq, 200, ok).with("Content-Type: Application/JSON"),
		post("csrf/sec-fetch-site same-origin", "/parley/call", historyReq, 200, ok).with("Sec-Fetch-Site: same-origin"),
		post("csrf/no origin", "/parley/call", historyReq, 200, ok).with("Origin:"),
		post("csrf/x-parley any value", "/parley/call", historyReq, 200, ok).with("X-Parley: yes"),
		post("csrf/multipart to poll", "/parley/poll", `{"session":"{SID}","wait":false}`, 403, perm).with("Content-Type: multipart/form-data; boundary=x"),
		post("csrf/form post to session", "/parley/session", `page=/`, 403, perm).with("Content-Type: application/x-www-form-urlencoded"),

		// Uploads: multipart calls.
		upload("upload/history", 200, ok, [2]string{"envelope", historyReq}),
		upload("upload/no x-parley", 403, perm, [2]string{"envelope", historyReq}).with("X-Parley:"),
		upload("upload/foreign origin", 403, perm, [2]string{"envelope", historyReq}).with("Origin: http://evil.example"),
		upload("upload/https origin over http", 403, perm, [2]string{"envelope", historyReq}).with("Origin: https://{HOST}"),
		upload("upload/cross-site", 403, perm, [2]string{"envelope", historyReq}).with("Origin:", "Sec-Fetch-Site: cross-site"),
		upload("upload/no envelope", 400, inv, [2]string{"other", historyReq}),
		upload("upload/two envelopes", 400, inv, [2]string{"envelope", historyReq}, [2]string{"envelope", historyReq}),
		upload("upload/envelope truncated", 400, inv, [2]string{"envelope", `{"calls":[`}),
		upload("upload/envelope duplicate key", 400, inv, [2]string{"envelope", `{"calls":[],"calls":[` + history + `]}`}),
		upload("upload/envelope invalid utf-8", 400, inv, [2]string{"envelope", "{\"page\":\"\xff\",\"calls\":[]}"}),
		upload("upload/envelope over the limit", 429, exh, [2]string{"envelope", `{"calls":[],"pad":"` + big + `"}`}),
		upload("upload/placeholder for a string", 200, inv, [2]string{"envelope", calls(call("Chat", "send", `[{"$upload":"f0"}]`))}, [2]string{"f0:a.txt", "hello"}),
		upload("upload/traversal file name", 200, ok, [2]string{"envelope", historyReq}, [2]string{"f0:../../etc/passwd", "x"}),
		post("upload/no boundary", "/parley/call", historyReq, 400, inv).with("Content-Type: multipart/form-data"),
		post("upload/garbage body", "/parley/call", "not multipart at all", 400, inv).with("Content-Type: multipart/form-data; boundary=zzz"),
		post("upload/unterminated part", "/parley/call", "--zzz\r\nContent-Disposition: form-data; name=\"envelope\"\r\n\r\n{\"calls\":[]}", 400, inv).with("Content-Type: multipart/form-data; boundary=zzz"),
		post("upload/media type with suffix", "/parley/call", historyReq, 403, perm).with("Content-Type: multipart/form-datax; boundary=zzz"),

		// Opening sessions.
		post("session/open", "/parley/session", `{"page":"/"}`, 200, ok),
		post("session/resume live", "/parley/session", `{"page":"/","session":"{SID}"}`, 200, ok),
		post("session/resume ended", "/parley/session", `{"page":"/","session":"{GONE}"}`, 200, closed),
		post("session/resume unknown", "/parley/session", `{"page":"/","session":"AAAAAAAAAAAAAAAAAAAAAA"}`, 200, expired),
		post("session/resume stolen", "/parley/session", `{"page":"/","session":"{OTHER}"}`, 200, expired),
		post("session/page number", "/parley/session", `{"page":1}`, 400, inv),
		post("session/page object", "/parley/session", `{"page":{"path":"/"}}`, 400, inv),
		post("session/session number", "/parley/session", `{"page":"/","session":7}`, 400, inv),
		post("session/transport number", "/parley/session", `{"page":"/","transport":1}`, 400, inv),
		post("session/ack negative", "/parley/session", `{"page":"/","ack":-5}`, 400, inv),

		// Polls.
		post("poll/now", "/parley/poll", `{"session":"{SID}","wait":false}`, 200, ok),
		post("poll/no session", "/parley/poll", `{"wait":false}`, 400, inv),
		post("poll/empty session", "/parley/poll", `{"session":"","wait":false}`, 400, inv),
		post("poll/session number", "/parley/poll", `{"session":12,"wait":false}`, 400, inv),
		post("poll/session null", "/parley/poll", `{"session":null,"wait":false}`, 400, inv),
		post("poll/stolen session", "/parley/poll", `{"session":"{OTHER}","wait":false}`, 403, perm),
		post("poll/ended session", "/parley/poll", `{"session":"{GONE}","wait":false}`, 200, closed),
		post("poll/unknown session", "/parley/poll", `{"session":"AAAAAAAAAAAAAAAAAAAAAA","wait":false}`, 200, expired),
		post("poll/malformed session", "/parley/poll", `{"session":"%00<script>","wait":false}`, 200, expired),
		post("poll/wait string", "/parley/poll", `{"session":"{SID}","wait":"false"}`, 400, inv),
		post("poll/wait number", "/parley/poll", `{"session":"{SID}","wait":0}`, 400, inv),
		post("poll/ack beyond sent", "/parley/poll", `{"session":"{SID}","ack":1,"wait":false}`, 400, inv),
		post("poll/ack huge", "/parley/poll", `{"session":"{SID}","ack":18446744073709551615,"wait":false}`, 400, inv),
		post("poll/ack negative", "/parley/poll", `{"session":"{SID}","ack":-1,"wait":false}`, 400, inv),
		post("poll/ack fraction", "/parley/poll", `{"session":"{SID}","ack":0.5,"wait":false}`, 400, inv),
		post("poll/ack exponent", "/parley/poll", `{"session":"{SID}","ack":1e0,"wait":false}`, 400, inv),
		post("poll/ack string", "/parley/poll", `{"session":"{SID}","ack":"0","wait":false}`, 400, inv),
		post("poll/ack bool", "/parley/poll", `{"session":"{SID}","ack":true,"wait":false}`, 400, inv),
		post("poll/forged id cookie", "/parley/poll", `{"session":"{SID}","wait":false}`, 403, perm).with("Cookie: {IDNAME}=AAAAAAAAAAAAAAAAAAAAAAAAAA"),
		post("poll/tampered id cookie", "/parley/poll", `{"session":"{SID}","wait":false}`, 403, perm).with("Cookie: {IDNAME}={TAMPERED}"),
		post("poll/garbage id cookie", "/parley/poll", `{"session":"{SID}","wait":false}`, 403, perm).with("Cookie: {IDNAME}=%%%;;;=="),
		post("poll/no cookie", "/parley/poll", `{"session":"{SID}","wait":false}`, 403, perm).with("Cookie:"),
		post("poll/forged cookie first", "/parley/poll", `{"session":"{SID}","wait":false}`, 403, perm).with("Cookie: {IDNAME}=AAAAAAAAAAAAAAAAAAAAAAAAAA; {IDNAME}={IDVAL}"),
		post("poll/real cookie first", "/parley/poll", `{"session":"{SID}","wait":false}`, 200, ok).with("Cookie: {IDNAME}={IDVAL}; {IDNAME}=AAAAAAAAAAAAAAAAAAAAAAAAAA"),

		// Acks.
		post("ack/zero", "/parley/ack", `{"session":"{SID}","ack":0}`, 200, ok),
		post("ack/no session", "/parley/ack", `{"ack":0}`, 400, inv),
		post("ack/stolen session", "/parley/ack", `{"session":"{OTHER}","ack":0}`, 403, perm),
		post("ack/ended session", "/parley/ack", `{"session":"{GONE}","ack":0}`, 200, closed),
		post("ack/unknown session", "/parley/ack", `{"session":"AAAAAAAAAAAAAAAAAAAAAA","ack":0}`, 200, expired),
		post("ack/beyond sent", "/parley/ack", `{"session":"{SID}","ack":3}`, 400, inv),
		post("ack/max uint64", "/parley/ack", `{"session":"{SID}","ack":18446744073709551615}`, 400, inv),
		post("ack/negative", "/parley/ack", `{"session":"{SID}","ack":-1}`, 400, inv),
		post("ack/fraction", "/parley/ack", `{"session":"{SID}","ack":2.5}`, 400, inv),
		post("ack/string", "/parley/ack", `{"session":"{SID}","ack":"2"}`, 400, inv),
		post("ack/null", "/parley/ack", `{"session":"{SID}","ack":null}`, 200, ok),
		post("ack/tampered id cookie", "/parley/ack", `{"session":"{SID}","ack":0}`, 403, perm).with("Cookie: {IDNAME}={TAMPERED}"),

		// SSE.
		get("sse/open", "/parley/sse?session={SID}", 200, ok),
		get("sse/open with lastEventId 0", "/parley/sse?session={SID}&lastEventId=0", 200, ok),
		get("sse/no session", "/parley/sse", 200, inv),
		get("sse/empty session", "/parley/sse?session=", 200, inv),
		get("sse/stolen session", "/parley/sse?session={OTHER}", 200, perm),
		get("sse/ended session", "/parley/sse?session={GONE}", 200, closed),
		get("sse/unknown session", "/parley/sse?session=AAAAAAAAAAAAAAAAAAAAAA", 200, expired),
		get("sse/bad last-event-id", "/parley/sse?session={SID}", 200, inv).with("Last-Event-ID: abc"),
		get("sse/negative last-event-id", "/parley/sse?session={SID}", 200, inv).with("Last-Event-ID: -1"),
		get("sse/fractional last-event-id", "/parley/sse?session={SID}", 200, inv).with("Last-Event-ID: 1.5"),
		get("sse/last-event-id past uint64", "/parley/sse?session={SID}", 200, inv).with("Last-Event-ID: 99999999999999999999999"),
		get("sse/last-event-id beyond sent", "/parley/sse?session={SID}", 200, inv).with("Last-Event-ID: 7"),
		get("sse/bad lastEventId parameter", "/parley/sse?session={SID}&lastEventId=x", 200, inv),
		get("sse/foreign origin", "/parley/sse?session={SID}", 200, perm).with("Origin: http://evil.example"),
		get("sse/https origin over http", "/parley/sse?session={SID}", 200, perm).with("Origin: https://{HOST}"),
		get("sse/null origin", "/parley/sse?session={SID}", 200, perm).with("Origin: null"),
		get("sse/cross-site", "/parley/sse?session={SID}", 200, perm).with("Sec-Fetch-Site: cross-site"),
		get("sse/tampered id cookie", "/parley/sse?session={SID}", 200, perm).with("Cookie: {IDNAME}={TAMPERED}"),
		get("sse/two session parameters", "/parley/sse?session={OTHER}&session={SID}", 200, perm),

		// Bye.
		post("bye/live session", "/parley/bye", `{"session":"{SID}"}`, 204, ok),
		post("bye/as a beacon", "/parley/bye", `{"session":"{SID}"}`, 204, ok).with("Content-Type: text/plain;charset=UTF-8", "X-Parley:"),
		post("bye/stolen session is not ended", "/parley/bye", `{"session":"{OTHER}"}`, 204, ok),
		post("bye/ended session", "/parley/bye", `{"session":"{GONE}"}`, 204, ok),
		post("bye/empty body", "/parley/bye", ``, 400, inv),
		post("bye/no session", "/parley/bye", `{}`, 400, inv),
		post("bye/session number", "/parley/bye", `{"session":1}`, 400, inv),
		post("bye/truncated", "/parley/bye", `{"session":"`, 400, inv),
		post("bye/body over its limit", "/parley/bye", `{"session":"{SID}","pad":"`+strings.Repeat("x", 8192)+`"}`, 400, inv),
		post("bye/foreign origin", "/parley/bye", `{"session":"{SID}"}`, 403, perm).with("Origin: http://evil.example"),
		post("bye/https origin over http", "/parley/bye", `{"session":"{SID}"}`, 403, perm).with("Origin: https://{HOST}"),
		post("bye/cross-site", "/parley/bye", `{"session":"{SID}"}`, 403, perm).with("Origin:", "Sec-Fetch-Site: cross-site"),

		// Files: engine.js, generated modules, downloads.
		get("file/engine.js", "/parley/engine.js", 200, notOurs),
		verb("file/engine.js head", http.MethodHead, "/parley/engine.js", 200, notOurs),
		get("file/engine.js bad if-none-match", "/parley/engine.js", 200, notOurs).with(`If-None-Match: "` + strings.Repeat("x", 4000) + `"`),
		get("file/engine.js range", "/parley/engine.js", 200, notOurs).with("Range: bytes=-1"),
		get("file/module", "/parley/interface/Chat.js", 200, notOurs),
		get("file/module types", "/parley/interface/Chat.d.ts", 200, notOurs),
		get("file/module wrong case", "/parley/interface/chat.js", 404, nf),
		get("file/module without extension", "/parley/interface/Chat", 404, nf),
		get("file/module of builtin", "/parley/interface/$parley.js", 404, nf),
		get("file/module unknown", "/parley/interface/Nope.js", 404, nf),
		get("file/module with trailing slash", "/parley/interface/Chat.js/", 404, nf),
		get("file/module with nul", "/parley/interface/Chat.js%00", 404, nf),
		get("file/module backslash traversal", "/parley/interface/..%5c..%5cengine.js", 404, nf),
		get("file/module dot-dot traversal", "/parley/interface/../../etc/passwd", 301, notOurs),
		get("file/module encoded traversal", "/parley/interface/%2e%2e/%2e%2e/etc/passwd", 301, notOurs),
		get("file/module double slash", "/parley/interface//Chat.js", 301, notOurs),
		get("file/download unknown", "/parley/download/AAAAAAAAAAAAAAAAAAAAAAAAAA", 404, nf),
		get("file/download empty id", "/parley/download/", 404, nf),
		get("file/download long id", "/parley/download/"+strings.Repeat("A", 10000), 404, nf),
		get("file/download nul", "/parley/download/%00", 404, nf),
		get("file/download encoded slash", "/parley/download/..%2f..%2fengine.js", 301, notOurs),
		get("file/download traversal", "/parley/download/../engine.js", 301, notOurs),
		verb("file/download head", http.MethodHead, "/parley/download/AAAAAAAAAAAAAAAAAAAAAAAAAA", 405, notOurs),

		// The debug page: served to loopback, never with whole session ids.
		get("debug/page", "/parley/", 200, notOurs).without("{SID}"),
		get("debug/page through a proxy", "/parley/", 403, perm).with("X-Forwarded-For: 203.0.113.7").without("{SID}"),
		get("debug/script", "/parley/debug.js", 200, notOurs),
		get("debug/style", "/parley/debug.css", 200, notOurs),

		// Unknown paths.
		get("unknown/under prefix", "/parley/nope", 404, nf),
		post("unknown/post under prefix", "/parley/nope", historyReq, 404, nf),
		post("unknown/call with slash", "/parley/call/", historyReq, 404, nf),
		post("unknown/call in upper case", "/parley/CALL", historyReq, 404, nf),
		post("unknown/below session", "/parley/session/x", `{"page":"/"}`, 404, nf),
		get("unknown/below sse", "/parley/sse/x?session={SID}", 404, nf),
		get("unknown/invalid escape", "/parley/%ff", 404, nf),
		get("unknown/site path", "/no/such/page", 404, notOurs),

		// Wrong methods on known paths.
		verb("method/get call", http.MethodGet, "/parley/call", 405, unimp),
		verb("method/put call", http.MethodPut, "/parley/call", 405, unimp),
		verb("method/delete call", http.MethodDelete, "/parley/call", 405, unimp),
		verb("method/patch call", http.MethodPatch, "/parley/call", 405, unimp),
		verb("method/head call", http.MethodHead, "/parley/call", 405, notOurs).wantHeader("Allow: POST, OPTIONS"),
		verb("method/get session", http.MethodGet, "/parley/session", 405, unimp),
		verb("method/get poll", http.MethodGet, "/parley/poll", 405, unimp),
		verb("method/put poll", http.MethodPut, "/parley/poll", 405, unimp),
		verb("method/get ack", http.MethodGet, "/parley/ack", 405, unimp),
		verb("method/get bye", http.MethodGet, "/parley/bye", 405, unimp),
		verb("method/post sse", http.MethodPost, "/parley/sse?session={SID}", 405, unimp),
		verb("method/delete sse", http.MethodDelete, "/parley/sse?session={SID}", 405, unimp),
		verb("method/post engine.js", http.MethodPost, "/parley/engine.js", 405, unimp),
		verb("method/put module", http.MethodPut, "/parley/interface/Chat.js", 405, unimp),
		verb("method/post download", http.MethodPost, "/parley/download/AAAAAAAAAAAAAAAAAAAAAAAAAA", 405, unimp),
		verb("method/post debug page", http.MethodPost, "/parley/", 405, unimp),
		verb("method/trace call", http.MethodTrace, "/parley/call", 405, unimp),
		verb("method/custom verb", "BREW", "/parley/call", 405, unimp),

		// CORS preflights and cross-origin calls.
		verb("cors/preflight from unlisted origin", http.MethodOptions, "/parley/call", 403, perm).with("Origin: http://evil.example", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type, x-parley"),
		verb("cors/preflight with no origins listed", http.MethodOptions, "/parley/call", 403, perm).with("Origin: "+listedOrigin, "Access-Control-Request-Method: POST"),
		verb("cors/preflight from listed origin", http.MethodOptions, "/parley/call", 204, notOurs).with("Origin: "+listedOrigin, "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type, x-parley").onCORS().wantHeader("Access-Control-Allow-Origin: "+listedOrigin, "Access-Control-Allow-Credentials: true"),
		verb("cors/preflight from listed origin to poll", http.MethodOptions, "/parley/poll", 204, notOurs).with("Origin: "+listedOrigin, "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type, x-parley").onCORS().wantHeader("Access-Control-Allow-Origin: " + listedOrigin),
		verb("cors/preflight from unlisted origin to listing server", http.MethodOptions, "/parley/call", 403, perm).with("Origin: http://evil.example", "Access-Control-Request-Method: POST").onCORS(),
		verb("cors/preflight from listed origin over https", http.MethodOptions, "/parley/call", 403, perm).with("Origin: https://listed.example", "Access-Control-Request-Method: POST").onCORS(),
		post("cors/call from listed origin", "/parley/call", historyReq, 200, ok).with("Origin: "+listedOrigin, "Sec-Fetch-Site: cross-site").onCORS().wantHeader("Access-Control-Allow-Origin: "+listedOrigin, "Access-Control-Allow-Credentials: true"),
		post("cors/call from unlisted origin to listing server", "/parley/call", historyReq, 403, perm).with("Origin: http://evil.example").onCORS(),
		post("cors/call from listed origin with a path", "/parley/call", historyReq, 403, perm).with("Origin: " + listedOrigin + ".evil.example").onCORS(),

		// Raw bytes: pipelining, cut requests, slow and huge headers.
		pipelined("raw/pipelined sse twice", 200, ok, sse, sse),
		pipelined("raw/pipelined long-polls", 200, ok, longPoll, longPoll),
		pipelined("raw/pipelined polls now", 200, ok, pollNow, pollNow),
		pipelined("raw/pipelined long-poll then call", 200, ok, longPoll, histCall),
		pipelined("raw/pipelined sse then call", 200, ok, sse, histCall),
		pipelined("raw/pipelined sse then long-poll", 200, ok, sse, longPoll),
		pipelined("raw/pipelined calls", 200, ok, histCall, histCall, histCall),
		pipelined("raw/pipelined acks", 200, ok, ackZero, ackZero),
		pipelined("raw/pipelined sessions", 200, ok, openPage, openPage),
		pipelined("raw/pipelined bye then sse", 204, ok, post("", "/parley/bye", `{"session":"{SID}"}`, 0, ""), sse),
		pipelined("raw/pipelined engine.js", 200, notOurs, slices.Repeat([]hostile{get("", "/parley/engine.js", 0, "")}, 50)...),
		pipelined("raw/pipelined garbage after sse", 200, ok, sse, raw("", "\x00\x01garbage\r\n\r\n", 0, "")),
		pipelined("raw/pipelined garbage after long-poll", 200, ok, longPoll, raw("", "\x00\x01garbage\r\n\r\n", 0, "")),
		raw("raw/call body cut short", "POST /parley/call HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\nContent-Type: application/json\r\nX-Parley: 1\r\nContent-Length: 100\r\n\r\n{\"calls\":[", 400, inv).closeWrite(),
		raw("raw/poll body cut short", "POST /parley/poll HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\nContent-Type: application/json\r\nX-Parley: 1\r\nContent-Length: 100\r\n\r\n{\"session\":\"{SID}\"", 400, inv).closeWrite(),
		raw("raw/multipart body cut short", "POST /parley/call HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\nContent-Type: multipart/form-data; boundary=zzz\r\nX-Parley: 1\r\nContent-Length: 1000\r\n\r\n--zzz\r\nContent-Disposition: form-data; name=\"envelope\"\r\n\r\n{", 400, inv).closeWrite(),
		raw("raw/chunked body cut short", "POST /parley/call HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\nContent-Type: application/json\r\nX-Parley: 1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"calls\":[", 400, inv).closeWrite(),
		raw("raw/bad chunk size", "POST /parley/call HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\nContent-Type: application/json\r\nX-Parley: 1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400, inv),
		raw("raw/chunked call", "POST /parley/call HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\nContent-Type: application/json\r\nX-Parley: 1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"+fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(historyReq), historyReq), 200, ok),
		raw("raw/expect continue", "POST /parley/call HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\nContent-Type: application/json\r\nX-Parley: 1\r\nExpect: 100-continue\r\nConnection: close\r\n"+fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(historyReq), historyReq), 200, ok),
		raw("raw/headers cut short", "GET /parley/engine.js HTTP/1.1\r\nHost: {HOST}\r\nX-Half: ", 400, notOurs).closeWrite(),
		raw("raw/slowloris headers", "GET /parley/engine.js HTTP/1.1\r\nHost: {HOST}\r\nX-Slow: a", 0, notOurs),
		raw("raw/slowloris request line", "POST /parley/call HTT", 400, notOurs),
		raw("raw/slowloris sse", "GET /parley/sse?session={SID} HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\n", 0, notOurs),
		raw("raw/huge header", "GET /parley/engine.js HTTP/1.1\r\nHost: {HOST}\r\nX-Huge: "+strings.Repeat("h", 100<<10)+"\r\n\r\n", 431, notOurs),
		raw("raw/many headers", "GET /parley/engine.js HTTP/1.1\r\nHost: {HOST}\r\n"+strings.Repeat("X-Many: mmmmmmmmmmmmmmmm\r\n", 5000)+"\r\n", 431, notOurs),
		raw("raw/huge cookie", "POST /parley/call HTTP/1.1\r\nHost: {HOST}\r\nCookie: "+strings.Repeat("c=1; ", 20000)+"\r\n\r\n", 431, notOurs),
		raw("raw/garbage request line", "GARBAGE\r\n\r\n", 400, notOurs),
		raw("raw/binary noise", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, notOurs),
		raw("raw/no host", "GET /parley/engine.js HTTP/1.1\r\n\r\n", 400, notOurs),
		raw("raw/http/1.0 without host", "GET /parley/engine.js HTTP/1.0\r\n\r\n", 200, notOurs),
		raw("raw/length and chunked", "POST /parley/call HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nX-Parley: 1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, notOurs),
		raw("raw/two content lengths", "POST /parley/call HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nX-Parley: 1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400, notOurs),
		raw("raw/negative content length", "POST /parley/call HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nX-Parley: 1\r\nContent-Length: -1\r\n\r\n{}", 400, notOurs),
		raw("raw/absolute-form target", "GET http://{HOST}/parley/engine.js HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n", 200, notOurs),
		raw("raw/asterisk target", "OPTIONS * HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n", 200, notOurs),
	}

	// Every JSON POST endpoint, against the same CSRF breaches and the
	// same malformed bodies.
	for _, ep := range postEndpoints {
		p := ep.path
		rows = append(rows,
			post("csrf"+p+"/no content type", p, ep.body, 403, perm).with("Content-Type:"),
			post("csrf"+p+"/text/plain", p, ep.body, 403, perm).with("Content-Type: text/plain"),
			post("csrf"+p+"/application/jsonx", p, ep.body, 403, perm).with("Content-Type: application/jsonx"),
			post("csrf"+p+"/application/json-seq", p, ep.body, 403, perm).with("Content-Type: application/json-seq"),
			post("csrf"+p+"/json with junk", p, ep.body, 403, perm).with("Content-Type: application/json garbage"),
			post("csrf"+p+"/no x-parley", p, ep.body, 403, perm).with("X-Parley:"),
			post("csrf"+p+"/foreign origin", p, ep.body, 403, perm).with("Origin: http://evil.example"),
			post("csrf"+p+"/https origin over http", p, ep.body, 403, perm).with("Origin: https://{HOST}"),
			post("csrf"+p+"/other port", p, ep.body, 403, perm).with("Origin: http://127.0.0.1:1"),
			post("csrf"+p+"/null origin", p, ep.body, 403, perm).with("Origin: null"),
			post("csrf"+p+"/malformed origin", p, ep.body, 403, perm).with("Origin: ::::"),
			post("csrf"+p+"/cross-site", p, ep.body, 403, perm).with("Origin:", "Sec-Fetch-Site: cross-site"),
			post("csrf"+p+"/same-site", p, ep.body, 403, perm).with("Origin:", "Sec-Fetch-Site: same-site"),
		)
		for _, m := range malformed {
			rows = append(rows, post("json"+p+"/"+m.name, p, m.body, 400, inv))
		}
		rows = append(rows,
			post("json"+p+"/deep nesting", p, `{"x":`+nested("[", "]", 20000)+`}`, 429, exh),
			post("json"+p+"/deep object nesting", p, `{"x":`+strings.Repeat(`{"a":`, 5000)+`1`+strings.Repeat(`}`, 5000)+`}`, 429, exh),
		)
	}
	return rows
}

func TestHostileCatalogue(t *testing.T) {
	e := newEnv(t)
	rows := catalogue()
	require.GreaterOrEqual(t, len(rows), 200)
	names := map[string]bool{}
	for _, h := range rows {
		require.False(t, names[h.name], "two rows named %q", h.name)
		names[h.name] = true
	}
	for _, h := range rows {
		t.Run(h.name, func(t *testing.T) {
			e.run(t, h)
			e.stillServes(t)
		})
	}
}

// env is a server built like examples/chat, a second one that lists
// listedOrigin, and two browsers.
type env struct {
	chat, cors *httptest.Server
	a, b       *browser
	other      string // a live session of b
	gone       string // an ended session of a
}

func newEnv(t *testing.T) *env {
	app := chat.NewApp(reverse.WithTransports(reverse.Transports{Hold: time.Second}))
	e := &env{chat: serve(t, app.Handler, app.Hub)}

	hub := reverse.NewHub(reverse.WithTransports(reverse.Transports{Hold: time.Second}))
	srv := rpc.NewServer(rpc.WithHub(hub), rpc.WithAllowedOrigins(listedOrigin))
	chat.RegisterChat(srv, chat.NewRoom(chat.NewChatPageProxy(hub.Page("/"))))
	mux := http.NewServeMux()
	mux.Handle("/parley/", srv)
	e.cors = serve(t, mux, hub)

	e.a, e.b = newBrowser(t, e.chat.URL), newBrowser(t, e.chat.URL)
	e.other = e.b.open(t)
	e.gone = e.a.open(t)
	e.a.bye(t, e.gone)
	return e
}

// serve starts h on a real TCP listener with the limits the examples'
// http.Server sets (examples/internal/site.Server), its ReadHeaderTimeout
// shortened, and stops it and hub when the test ends.
func serve(t *testing.T, h http.Handler, hub *reverse.Hub) *httptest.Server {
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ReadHeaderTimeout = readHeaderTimeout
	ts.Config.IdleTimeout = 2 * time.Minute
	ts.Config.MaxHeaderBytes = 64 << 10
	ts.Start()
	t.Cleanup(func() {
		hub.Close()
		ts.Close()
	})
	return ts
}

// browser is a client with a cookie jar, as a page's browser is.
type browser struct {
	base string
	tr   *http.Transport
	hc   *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{base: base, tr: tr, hc: &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second}}
}

// post sends body to path as the reference client does and decodes the
// JSON reply into a map.
func (b *browser) post(t *testing.T, path, body string) (int, map[string]any) {
	t.Helper()
	rq, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(body))
	require.NoError(t, err)
	rq.Header.Set("Content-Type", "application/json")
	rq.Header.Set("X-Parley", "1")
	rq.Header.Set("Origin", b.base)
	res, err := b.hc.Do(rq)
	require.NoError(t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(data) > 0 {
		require.NoError(t, json.Unmarshal(data, &out), "reply %s", data)
	}
	return res.StatusCode, out
}

// open opens a script session of page "/" and returns its id.
func (b *browser) open(t *testing.T) string {
	t.Helper()
	status, out := b.post(t, "/parley/session", `{"page":"/"}`)
	require.Equal(t, http.StatusOK, status, "opening a session: %v", out)
	id, _ := out["session"].(string)
	require.NotEmpty(t, id)
	return id
}

// bye ends the session id.
func (b *browser) bye(t *testing.T, id string) {
	t.Helper()
	status, _ := b.post(t, "/parley/bye", `{"session":"`+id+`"}`)
	require.Equal(t, http.StatusNoContent, status)
}

// cookies returns the Cookie header the browser sends, and the name and
// value of its id cookie.
func (b *browser) cookies(t *testing.T) (header, idName, idValue string) {
	u, err := url.Parse(b.base)
	require.NoError(t, err)
	var parts []string
	for _, c := range b.hc.Jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
		if strings.HasSuffix(c.Name, "_id") {
			idName, idValue = c.Name, c.Value
		}
	}
	require.NotEmpty(t, idName, "the browser has no id cookie")
	return strings.Join(parts, "; "), idName, idValue
}

// stillServes checks that the server answers a normal call, and that
// the other browser's session is still alive.
func (e *env) stillServes(t *testing.T) {
	t.Helper()
	status, out := e.a.post(t, "/parley/call", historyReq)
	require.Equal(t, http.StatusOK, status, "a normal call after the row: %v", out)
	results, _ := out["results"].([]any)
	require.Len(t, results, 1)
	require.Contains(t, results[0], "result", "a normal call after the row: %v", out)

	status, out = e.b.post(t, "/parley/poll", `{"session":"`+e.other+`","wait":false}`)
	require.Equal(t, http.StatusOK, status, "the other browser's poll after the row: %v", out)
	require.NotContains(t, out, "reset", "the other browser's session ended")
}

// run sends h over a new TCP connection and checks the reply.
func (e *env) run(t *testing.T, h hostile) {
	target := e.chat
	if h.cors {
		target = e.cors
	}
	host := target.Listener.Addr().String()
	cookie, idName, idValue := e.a.cookies(t)
	fill := map[string]string{
		"{HOST}": host, "{COOKIE}": cookie, "{IDNAME}": idName, "{IDVAL}": idValue,
		"{TAMPERED}": tamper(idValue), "{OTHER}": e.other, "{GONE}": e.gone,
	}
	if mentions(h, "{SID}") {
		sid := e.a.open(t)
		t.Cleanup(func() { e.a.post(t, "/parley/bye", `{"session":"`+sid+`"}`) })
		fill["{SID}"] = sid
	}
	expand := func(s string) string {
		for k, v := range fill {
			s = strings.ReplaceAll(s, k, v)
		}
		return s
	}

	method := h.method
	var wire string
	switch {
	case h.raw != "":
		wire = expand(h.raw)
		method, _, _ = strings.Cut(wire, " ")
	case h.pipe != nil:
		method = h.pipe[0].method
		for _, p := range h.pipe {
			if p.raw != "" {
				wire += p.raw
			} else {
				wire += e.request(p, expand, true)
			}
		}
	default:
		wire = e.request(h, expand, false)
	}

	conn, err := net.Dial("tcp", host)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	// Only to detect a hang: every reply is expected well before it.
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = io.WriteString(conn, wire)
	if err != nil && h.status != 0 {
		// The server may answer and close before reading all of a large
		// request; the reply is still there to read.
		t.Logf("writing the request: %v", err)
	}
	if h.halfClose {
		require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	}

	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, &http.Request{Method: method})
	for err == nil && res.StatusCode == http.StatusContinue {
		res, err = http.ReadResponse(br, &http.Request{Method: method})
	}
	if h.status == 0 {
		require.Error(t, err, "the server replied %v", res)
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server did not close the connection: %v", err)
		return
	}
	require.NoError(t, err, "reading the reply")
	defer res.Body.Close()
	body, code := readReply(t, res)
	require.Equal(t, h.status, res.StatusCode, "status; body %.300s", body)
	for _, hv := range h.wantHdr {
		name, value, _ := strings.Cut(hv, ":")
		require.Equal(t, strings.TrimSpace(value), res.Header.Get(name), "header %s", name)
	}
	if h.absent != "" {
		require.NotContains(t, body, expand(h.absent))
	}
	switch h.code {
	case notOurs:
	default:
		require.Equal(t, h.code, strings.TrimPrefix(code, "error:"), "code; body %.300s", body)
	}
}

// request writes h as HTTP/1.1 with the main browser's default headers,
// asking the server to close the connection after it unless keepAlive.
func (e *env) request(h hostile, expand func(string) string, keepAlive bool) string {
	hdr := textproto.MIMEHeader{}
	hdr.Set("Host", "{HOST}")
	hdr.Set("Cookie", "{COOKIE}")
	if !keepAlive {
		hdr.Set("Connection", "close")
	}
	if h.method == http.MethodPost {
		hdr.Set("Content-Type", "application/json")
		hdr.Set("X-Parley", "1")
		hdr.Set("Origin", "http://{HOST}")
	}
	for _, kv := range h.hdr {
		name, value, _ := strings.Cut(kv, ":")
		if value = strings.TrimSpace(value); value == "" {
			hdr.Del(name)
		} else {
			hdr.Set(name, value)
		}
	}
	body := expand(h.body)
	if hdr.Get("Content-Length") == "" && (h.method == http.MethodPost || body != "") {
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", h.method, expand(h.path))
	for name, values := range hdr {
		for _, v := range values {
			fmt.Fprintf(&b, "%s: %s\r\n", name, expand(v))
		}
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

// readReply reads the reply's body, or an SSE stream's first event, and
// says what it carries: "error:CODE" for a whole request's error, the
// first failed call's code, "reset:REASON", or "" for none of these.
func readReply(t *testing.T, res *http.Response) (string, string) {
	t.Helper()
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		return readFirstEvent(t, res.Body)
	}
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err, "reading the body")
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		return string(data), ""
	}
	var reply struct {
		Error   *rpc.Error `json:"error"`
		Results []struct {
			Error *rpc.Error `json:"error"`
		} `json:"results"`
		Reset *reverse.Reset `json:"reset"`
	}
	if json.Unmarshal(data, &reply) != nil {
		return string(data), "not JSON"
	}
	switch {
	case reply.Error != nil:
		return string(data), "error:" + string(reply.Error.Code)
	case reply.Reset != nil:
		return string(data), "reset:" + reply.Reset.Reason
	}
	for _, r := range reply.Results {
		if r.Error != nil {
			return string(data), string(r.Error.Code)
		}
	}
	return string(data), ""
}

// readFirstEvent reads an SSE stream up to its first event: "" for open,
// "reset:REASON" for a reset, "error:CODE" for an error.
func readFirstEvent(t *testing.T, r io.Reader) (string, string) {
	t.Helper()
	sc := bufio.NewScanner(r)
	var text strings.Builder
	event := ""
	for sc.Scan() {
		line := sc.Text()
		text.WriteString(line + "\n")
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:") && event == "reset":
			var rs reverse.Reset
			_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data:")), &rs)
			return text.String(), "reset:" + rs.Reason
		case strings.HasPrefix(line, "data:") && event == "error":
			var e rpc.Error
			_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data:")), &e)
			return text.String(), "error:" + string(e.Code)
		case line == "" && event == "open":
			return text.String(), ""
		case line == "" && event != "":
			return text.String(), "event " + event
		}
	}
	t.Fatalf("the stream ended before its first event: %v; read %q", sc.Err(), text.String())
	return "", ""
}

// mentions reports whether h, or a request it pipelines, holds placeholder.
func mentions(h hostile, placeholder string) bool {
	if strings.Contains(h.path+h.body+h.raw+strings.Join(h.hdr, "\n")+h.absent, placeholder) {
		return true
	}
	return slices.ContainsFunc(h.pipe, func(p hostile) bool { return mentions(p, placeholder) })
}

// tamper changes one character of v, keeping it the same length.
func tamper(v string) string {
	if v == "" {
		return "x"
	}
	b := []byte(v)
	if b[len(b)/2] == 'A' {
		b[len(b)/2] = 'B'
	} else {
		b[len(b)/2] = 'A'
	}
	return string(b)
}
