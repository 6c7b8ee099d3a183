package rpc

import (
	"encoding/json"
	"strconv"
	"strings"
)

// decodeRequest decodes a POST body into req in one pass, without
// reflection: the arguments and ids stay slices of body, not copies, and
// known service and method names are taken from the registry, not
// allocated. body must stay unchanged while req is in use. Anything the
// fast path does not handle (escaped names, unexpected types, invalid
// JSON) is decoded by encoding/json instead, which also gives the error.
func (s *Server) decodeRequest(body []byte, req *request, spare *spareSlices) error {
	if json.Valid(body) {
		s.mu.RLock()
		ok := s.parseRequest(body, req, spare)
		s.mu.RUnlock()
		if ok {
			return nil
		}
		*req = request{}
	}
	return json.Unmarshal(body, req)
}

// spareSlices back the calls and arguments of a small request, so that
// decoding one allocates none.
type spareSlices struct {
	calls [1]wireCall
	args  [4]json.RawMessage
}

// envParser walks JSON text already known to be valid.
type envParser struct {
	b []byte
	i int
}

func (p *envParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek returns the next byte past white space.
func (p *envParser) peek() byte {
	p.ws()
	return p.b[p.i]
}

// str returns the contents of the string at the cursor, or false if it
// has escapes (or is not a string).
func (p *envParser) str() ([]byte, bool) {
	if p.peek() != '"' {
		return nil, false
	}
	start := p.i + 1
	for j := start; ; j++ {
		switch p.b[j] {
		case '\\':
			return nil, false
		case '"':
			p.i = j + 1
			return p.b[start:j], true
		}
	}
}

// value skips the value at the cursor and returns its text.
func (p *envParser) value() []byte {
	p.ws()
	start := p.i
	depth := 0
	for {
		switch c := p.b[p.i]; c {
		case '"':
			p.i = skipJSONString(p.b, p.i+1)
		case '{', '[':
			depth++
			p.i++
		case '}', ']':
			depth--
			p.i++
		default:
			p.i++
			for p.i < len(p.b) && !isJSONDelim(p.b[p.i]) {
				p.i++
			}
		}
		if depth == 0 {
			return p.b[start:p.i]
		}
		for p.i < len(p.b) && (p.b[p.i] == ',' || p.b[p.i] == ':' || p.b[p.i] <= ' ') {
			p.i++
		}
	}
}

func isJSONDelim(c byte) bool {
	switch c {
	case ',', ':', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// skipJSONString returns the index past the string whose contents start
// at i.
func skipJSONString(b []byte, i int) int {
	for {
		switch b[i] {
		case '\\':
			i += 2
		case '"':
			return i + 1
		default:
			i++
		}
	}
}

// object calls field for each member of the object at the cursor; it
// returns false, stopping, when the value is not an object or field does.
func (p *envParser) object(field func(key []byte) bool) bool {
	if p.peek() != '{' {
		return false
	}
	p.i++
	if p.peek() == '}' {
		p.i++
		return true
	}
	for {
		key, ok := p.str()
		if !ok {
			return false
		}
		p.ws()
		p.i++ // ':'
		if !field(key) {
			return false
		}
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return true
		}
	}
}

// array calls elem for each element of the array at the cursor and
// reports whether it was one, with every elem returning true.
func (p *envParser) array(elem func() bool) bool {
	if p.peek() != '[' {
		return false
	}
	p.i++
	if p.peek() == ']' {
		p.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return true
		}
	}
}

// null consumes a null at the cursor, if there is one.
func (p *envParser) null() bool {
	if p.peek() == 'n' {
		p.i += 4
		return true
	}
	return false
}

// boolean reads true or false.
func (p *envParser) boolean() (v, ok bool) {
	switch p.peek() {
	case 't':
		p.i += 4
		return true, true
	case 'f':
		p.i += 5
		return false, true
	}
	return false, false
}

// isKey reports whether key is name; a key that differs only in case,
// which encoding/json would match too, makes the fast path give up.
func isKey(key []byte, name string, giveUp *bool) bool {
	if string(key) == name {
		return true
	}
	if strings.EqualFold(string(key), name) {
		*giveUp = true
	}
	return false
}

// parseRequest is the fast path of decodeRequest. It reports false when
// encoding/json must decide instead.
func (s *Server) parseRequest(body []byte, req *request, spare *spareSlices) bool {
	p := &envParser{b: body}
	giveUp := false
	ok := p.object(func(key []byte) bool {
		switch {
		case isKey(key, "session", &giveUp):
			v, ok := p.str()
			req.Session = string(v)
			return ok
		case isKey(key, "page", &giveUp):
			v, ok := p.str()
			req.Page = string(v)
			return ok
		case isKey(key, "ack", &giveUp):
			n, err := strconv.ParseUint(string(p.value()), 10, 64)
			req.Ack = n
			return err == nil
		case isKey(key, "ordered", &giveUp):
			v, ok := p.boolean()
			req.Ordered = v
			return ok
		case isKey(key, "wait", &giveUp):
			if p.null() {
				req.Wait = nil
				return true
			}
			v, ok := p.boolean()
			req.Wait = &v
			return ok
		case isKey(key, "calls", &giveUp):
			if p.null() {
				req.Calls = nil
				return true
			}
			req.Calls = spare.calls[:0]
			return p.array(func() bool {
				req.Calls = append(req.Calls, wireCall{})
				args := spare.args[:0]
				if len(req.Calls) > 1 {
					args = nil
				}
				return s.parseCall(p, &req.Calls[len(req.Calls)-1], args, &giveUp)
			})
		}
		p.value()
		return !giveUp
	})
	return ok && !giveUp
}

// parseCall reads one call of the batch, resolving its method.
// args, if not nil, is an empty slice to put the arguments in.
func (s *Server) parseCall(p *envParser, wc *wireCall, args []json.RawMessage, giveUp *bool) bool {
	var svcName, methodName []byte
	ok := p.object(func(key []byte) bool {
		switch {
		case isKey(key, "id", giveUp):
			wc.ID = p.value()
			return true
		case isKey(key, "service", giveUp):
			v, ok := p.str()
			svcName = v
			return ok
		case isKey(key, "method", giveUp):
			v, ok := p.str()
			methodName = v
			return ok
		case isKey(key, "timeout", giveUp):
			n, err := strconv.ParseInt(string(p.value()), 10, 64)
			wc.Timeout = n
			return err == nil
		case isKey(key, "args", giveUp):
			if p.null() {
				wc.Args = nil
				return true
			}
			wc.Args = args
			if wc.Args == nil {
				wc.Args = make([]json.RawMessage, 0, 4)
			}
			return p.array(func() bool {
				wc.Args = append(wc.Args, p.value())
				return true
			})
		}
		p.value()
		return !*giveUp
	})
	if !ok {
		return false
	}
	// Names that match take the registry's strings; others are copied.
	if svc := s.services[string(svcName)]; svc != nil {
		wc.Service = svc.desc.Name
		if m := svc.methods[string(methodName)]; m != nil {
			wc.Method = m.Name
			wc.desc = m
			return true
		}
	} else {
		wc.Service = string(svcName)
	}
	wc.Method = string(methodName)
	return true
}
