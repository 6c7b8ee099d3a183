package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/parley-go/parley/reverse"
)

// defaultMaxDepth is how deeply a request body may nest by default.
const defaultMaxDepth = 64

// maxMaxDepth is the largest nesting-depth limit: the JSON decoder's own.
const maxMaxDepth = 10000

// minMaxDepth is the smallest nesting-depth limit that still lets a call
// carry arguments: the envelope, calls, one call and its argument list.
const minMaxDepth = 4

// maxTimeoutMillis is the longest deadline a call's timeout gives the
// method, 2^31−1 ms (about 24.8 days): the longest a browser's timer
// waits. Longer timeouts are clamped to it.
const maxTimeoutMillis = math.MaxInt32

// envDecoder decodes request bodies with jsontext, which rejects invalid
// UTF-8 and duplicate object member names at any depth. The arguments
// and ids stay slices of the body, not copies, and known service and
// method names are taken from the registry, not allocated.
type envDecoder struct {
	rd       bytes.Buffer // the body, read by dec in place
	dec      jsontext.Decoder
	body     []byte
	srv      *Server
	maxDepth int
}

var envDecoders = sync.Pool{New: func() any { return new(envDecoder) }}

// spareSlices back the calls and arguments of a small request, so that
// decoding one allocates none.
type spareSlices struct {
	calls [1]wireCall
	args  [4]json.RawMessage
}

// decodeRequest decodes a POST body into req. body must stay unchanged
// while req is in use. It fails with invalid_argument for a body that is
// not JSON (including invalid UTF-8 and repeated member names) or has a
// field of the wrong type, and with resource_exhausted for one nested
// deeper than the server allows or with too many calls.
func (s *Server) decodeRequest(body []byte, req *request, spare *spareSlices) *Error {
	d := envDecoders.Get().(*envDecoder)
	d.rd = *bytes.NewBuffer(body)
	d.dec.Reset(&d.rd)
	d.body, d.srv, d.maxDepth = body, s, s.maxDepth
	s.mu.RLock()
	err := d.request(req, spare)
	s.mu.RUnlock()
	if err == nil {
		switch _, end := d.dec.ReadToken(); {
		case end == nil:
			err = NewError(CodeInvalidArgument, "request body is not valid JSON: there is more after the request object")
		case end != io.EOF:
			err = d.syntaxError(end)
		}
	}
	// Drop the body so that the pooled decoder does not keep it alive.
	d.rd = bytes.Buffer{}
	d.dec.Reset(&d.rd)
	d.body, d.srv = nil, nil
	envDecoders.Put(d)
	if err != nil {
		*req = request{}
	}
	return err
}

// syntaxError describes err, an error of the JSON decoder.
func (d *envDecoder) syntaxError(err error) *Error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return NewError(CodeInvalidArgument, "request body is not valid JSON: it ends too early")
	case errors.Is(err, errTooDeep):
		return Errorf(CodeResourceExhausted, "request body nests deeper than %d levels", d.maxDepth)
	}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return NewError(CodeInvalidArgument, "request body is not valid JSON: "+strings.TrimPrefix(se.Error(), "jsontext: "))
	}
	return NewError(CodeInvalidArgument, "request body is not valid JSON")
}

// errTooDeep is returned by read past the nesting-depth limit.
var errTooDeep = errors.New("too deep")

// read reads the next token, refusing one that nests too deep.
func (d *envDecoder) read() (jsontext.Token, *Error) {
	tok, err := d.dec.ReadToken()
	if err == nil && d.dec.StackDepth() > d.maxDepth {
		err = errTooDeep
	}
	if err != nil {
		return tok, d.syntaxError(err)
	}
	return tok, nil
}

// raw reads the next value whole and returns its text, a slice of the body.
func (d *envDecoder) raw() ([]byte, *Error) {
	if k := d.dec.PeekKind(); k != '{' && k != '[' {
		v, err := d.dec.ReadValue()
		if err != nil {
			return nil, d.syntaxError(err)
		}
		end := d.dec.InputOffset()
		return d.body[end-int64(len(v)) : end], nil
	}
	if nestsDeeper(d.body[d.dec.InputOffset():], d.maxDepth-d.dec.StackDepth()) {
		return nil, d.syntaxError(errTooDeep)
	}
	v, err := d.dec.ReadValue()
	if err != nil {
		return nil, d.syntaxError(err)
	}
	end := d.dec.InputOffset()
	return d.body[end-int64(len(v)) : end], nil
}

// nestsDeeper reports whether the array or object that b starts with
// (after any white space) nests more than limit levels deep, counting
// its own brackets outside strings. It does not check that b is JSON:
// the decoder does that as it reads the value, once this bound is known
// to keep it shallow.
func nestsDeeper(b []byte, limit int) bool {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			if depth++; depth > limit {
				return true
			}
		case ']', '}':
			if depth--; depth <= 0 {
				return false
			}
		}
	}
	return false
}

// field names a field of the request in errors: call is the index of
// the call it belongs to, or -1 for a field of the envelope itself.
type field struct {
	call int
	name string
}

// String names f as the error messages do: "ack", "calls[2].args".
func (f field) String() string {
	switch {
	case f.call < 0:
		return f.name
	case f.name == "":
		return "calls[" + strconv.Itoa(f.call) + "]"
	}
	return "calls[" + strconv.Itoa(f.call) + "]." + f.name
}

// typeError refuses f, which is not what it must be.
func typeError(f field, must string) *Error {
	return Errorf(CodeInvalidArgument, "field %s must be %s", f, must)
}

// null consumes a null, if one is next, and reports whether it did.
func (d *envDecoder) null() (bool, *Error) {
	if d.dec.PeekKind() != 'n' {
		return false, nil
	}
	_, err := d.read()
	return err == nil, err
}

// open reads the '{' or '[' that must come next, or refuses f, which is
// not what it must be.
func (d *envDecoder) open(kind jsontext.Kind, f field, must string) *Error {
	if d.dec.PeekKind() != kind {
		if _, err := d.raw(); err != nil {
			return err
		}
		return typeError(f, must)
	}
	_, err := d.read()
	return err
}

// str reads a string and returns its contents: a slice of the body when
// the string has no escapes, a copy otherwise.
func (d *envDecoder) str(f field) ([]byte, *Error) {
	kind := d.dec.PeekKind()
	v, err := d.raw()
	switch {
	case err != nil:
		return nil, err
	case kind != '"':
		return nil, typeError(f, "a string")
	case bytes.IndexByte(v, '\\') < 0:
		return v[1 : len(v)-1], nil
	}
	s, uerr := jsontext.AppendUnquote(nil, v)
	if uerr != nil {
		return nil, d.syntaxError(uerr)
	}
	return s, nil
}

// number reads a number and returns its text.
func (d *envDecoder) number(f field, must string) (string, *Error) {
	if d.dec.PeekKind() != '0' {
		if _, err := d.raw(); err != nil {
			return "", err
		}
		return "", typeError(f, must)
	}
	tok, err := d.read()
	if err != nil {
		return "", err
	}
	return tok.String(), nil
}

// boolean reads true or false.
func (d *envDecoder) boolean(f field) (bool, *Error) {
	switch d.dec.PeekKind() {
	case 't', 'f':
		tok, err := d.read()
		return err == nil && tok.Bool(), err
	}
	if _, err := d.raw(); err != nil {
		return false, err
	}
	return false, typeError(f, "true or false")
}

// members calls member with the name of each member of the object just
// opened, which must read its value, stopping at the first error. A
// member whose value is null is skipped, as if absent.
func (d *envDecoder) members(member func(name []byte) *Error) *Error {
	for d.dec.PeekKind() != '}' {
		name, err := d.str(field{})
		if err != nil {
			return err
		}
		null, err := d.null()
		if err != nil {
			return err
		}
		if null {
			continue
		}
		if err := member(name); err != nil {
			return err
		}
	}
	_, err := d.read()
	return err
}

// request decodes the envelope. An unknown field is skipped, but must
// still be valid JSON.
func (d *envDecoder) request(req *request, spare *spareSlices) *Error {
	if d.dec.PeekKind() != '{' {
		if _, err := d.raw(); err != nil {
			return err
		}
		return NewError(CodeInvalidArgument, "request body must be a JSON object")
	}
	if _, err := d.read(); err != nil {
		return err
	}
	return d.members(func(name []byte) *Error {
		switch string(name) {
		case "session":
			v, err := d.str(field{-1, "session"})
			req.Session = string(v)
			return err
		case "page":
			v, err := d.str(field{-1, "page"})
			req.Page = string(v)
			return err
		case "transport":
			_, err := d.str(field{-1, "transport"})
			return err
		case "ack":
			const must = "an integer from 0 to 18446744073709551615"
			text, err := d.number(field{-1, "ack"}, must)
			if err != nil {
				return err
			}
			n, perr := strconv.ParseUint(text, 10, 64)
			if perr != nil {
				return typeError(field{-1, "ack"}, must)
			}
			req.Ack = n
			return nil
		case "ordered":
			v, err := d.boolean(field{-1, "ordered"})
			req.Ordered = v
			return err
		case "wait":
			v, err := d.boolean(field{-1, "wait"})
			req.Wait = &v
			return err
		case "cookie":
			v, err := d.boolean(field{-1, "cookie"})
			req.Cookie = v
			return err
		case "pull":
			v, err := d.boolean(field{-1, "pull"})
			req.Pull = v
			return err
		case "calls":
			return d.calls(req, spare)
		case "sessions":
			return d.sessions(req)
		}
		_, err := d.raw()
		return err
	})
}

// sessions decodes the sessions of a multiplexed request: an object of
// session id → ack, at most reverse.MaxMuxSessions members. Repeated ids
// are refused as every repeated member name is.
func (d *envDecoder) sessions(req *request) *Error {
	f := field{-1, "sessions"}
	if err := d.open('{', f, "an object of session id to ack"); err != nil {
		return err
	}
	req.Sessions = map[string]uint64{}
	return d.members(func(name []byte) *Error {
		if len(req.Sessions) == reverse.MaxMuxSessions {
			return Errorf(CodeInvalidArgument, "field sessions names more than %d sessions", reverse.MaxMuxSessions)
		}
		const must = "an integer from 0 to 18446744073709551615"
		text, err := d.number(field{-1, "sessions[" + strconv.Quote(string(name)) + "]"}, must)
		if err != nil {
			return err
		}
		n, perr := strconv.ParseUint(text, 10, 64)
		if perr != nil {
			return typeError(field{-1, "sessions[" + strconv.Quote(string(name)) + "]"}, must)
		}
		req.Sessions[string(name)] = n
		return nil
	})
}

// calls decodes the array of calls.
func (d *envDecoder) calls(req *request, spare *spareSlices) *Error {
	if err := d.open('[', field{-1, "calls"}, "an array of calls"); err != nil {
		return err
	}
	req.Calls = spare.calls[:0]
	depth := d.dec.StackDepth()
	for {
		switch d.dec.PeekKind() {
		case ']':
			_, err := d.read()
			return err
		case '{':
			if len(req.Calls) == d.srv.maxBatch {
				return d.tooManyCalls()
			}
		}
		req.Calls = append(req.Calls, wireCall{})
		var args []json.RawMessage
		if len(req.Calls) == 1 {
			args = spare.args[:0]
		}
		if err := d.call(len(req.Calls)-1, &req.Calls[len(req.Calls)-1], args); err != nil {
			return d.badCall(err, depth, len(req.Calls))
		}
	}
}

// tooManyCalls refuses a batch over the server's limit.
func (d *envDecoder) tooManyCalls() *Error {
	return Errorf(CodeResourceExhausted, "more than %d calls in one batch", d.srv.maxBatch)
}

// badCall returns err, the error of call n-1 of the batch, unless the
// batch has too many calls: the size limit comes first, whatever the
// calls hold. depth is the depth of the array of calls.
func (d *envDecoder) badCall(err *Error, depth, n int) *Error {
	for d.dec.StackDepth() > depth {
		if _, skipErr := d.read(); skipErr != nil {
			return err
		}
	}
	for ; d.dec.PeekKind() != ']'; n++ {
		if n == d.srv.maxBatch {
			return d.tooManyCalls()
		}
		if _, skipErr := d.raw(); skipErr != nil {
			return err
		}
	}
	return err
}

// call decodes call i of the batch and resolves its method. args, if not
// nil, is an empty slice to put the arguments in.
func (d *envDecoder) call(i int, wc *wireCall, args []json.RawMessage) *Error {
	if err := d.open('{', field{i, ""}, "an object {id, service, method, args}"); err != nil {
		return err
	}
	var svcName, methodName []byte
	err := d.members(func(name []byte) *Error {
		var err *Error
		switch string(name) {
		case "id":
			kind := d.dec.PeekKind()
			wc.ID, err = d.raw()
			if err == nil && kind != '"' && kind != '0' {
				err = typeError(field{i, "id"}, "a string or a number")
			}
		case "service":
			svcName, err = d.str(field{i, "service"})
		case "method":
			methodName, err = d.str(field{i, "method"})
		case "timeout":
			wc.Timeout, err = d.timeout(field{i, "timeout"})
		case "args":
			wc.Args, err = d.args(field{i, "args"}, args)
		default:
			_, err = d.raw()
		}
		return err
	})
	switch {
	case err != nil:
		return err
	case svcName == nil:
		return Errorf(CodeInvalidArgument, "field %s is required", field{i, "service"})
	case methodName == nil:
		return Errorf(CodeInvalidArgument, "field %s is required", field{i, "method"})
	}
	// Names that match take the registry's strings; others are copied.
	if svc := d.srv.services[string(svcName)]; svc != nil {
		wc.Service = svc.desc.Name
		if m := svc.methods[string(methodName)]; m != nil {
			wc.Method = m.Name
			wc.desc = m
			return nil
		}
	} else {
		wc.Service = string(svcName)
	}
	wc.Method = string(methodName)
	return nil
}

// timeout reads a call's timeout in milliseconds: a number, 0 or more; 0
// means none. A fraction is rounded up to the next millisecond, and a
// timeout over maxTimeoutMillis (or too large for a float64) is clamped
// to it.
func (d *envDecoder) timeout(f field) (int64, *Error) {
	const must = "a number of milliseconds, 0 or more"
	text, err := d.number(f, must)
	if err != nil {
		return 0, err
	}
	ms, _ := strconv.ParseFloat(text, 64) // valid JSON: out of range gives ±Inf
	if ms < 0 {
		return 0, typeError(f, must)
	}
	return int64(min(math.Ceil(ms), maxTimeoutMillis)), nil
}

// args reads a call's argument list, each kept as its JSON text. args, if
// not nil, is an empty slice to put them in.
func (d *envDecoder) args(f field, args []json.RawMessage) ([]json.RawMessage, *Error) {
	if err := d.open('[', f, "an array"); err != nil {
		return nil, err
	}
	if args == nil {
		args = make([]json.RawMessage, 0, 4)
	}
	for d.dec.PeekKind() != ']' {
		v, err := d.raw()
		if err != nil {
			return nil, err
		}
		args = append(args, v)
	}
	_, err := d.read()
	return args, err
}
