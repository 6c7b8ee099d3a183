package rpc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
)

// ServiceDesc describes a service to Register. Generated RegisterNAME
// functions build one; hand-written services may too.
type ServiceDesc struct {
	// Name is the service's name in JS, such as "Chat".
	Name string
	// Doc is the service's documentation, shown on the debug page.
	Doc string
	// Methods are the service's methods.
	Methods []MethodDesc
	// Module is the ES module served at interface/NAME.js. Empty: none.
	Module string
	// Types is the TypeScript declaration file served at interface/NAME.d.ts.
	// Empty: none.
	Types string
}

// MethodDesc describes one method of a service.
type MethodDesc struct {
	// Name is the method's name in JS, lowerCamelCase, such as "send".
	Name string
	// Doc is the method's documentation, shown on the debug page.
	Doc string
	// Signature is the method's TypeScript signature, such as
	// "send(text: string): Promise<number>", shown on the debug page.
	Signature string
	// Params names the parameters in order, not counting a context. A call
	// must carry exactly this many arguments.
	Params []string
	// Handler decodes the arguments into their types and calls the
	// implementation. Its result is encoded as JSON; nil means null.
	Handler func(ctx context.Context, args Args) (any, error)
	// Access is what the caller must be to call the method. The zero
	// value lets anyone call it.
	Access Access
}

// Access is what a method requires of its caller. Generated code fills it
// from //parley:auth directives in the interface's doc comments; the
// server checks it before the method runs.
type Access struct {
	// Login requires an authenticated user.
	Login bool
	// Roles, when not empty, requires a user with at least one of them
	// (and so implies Login).
	Roles []string
}

// Args are the JSON-encoded arguments of one call.
type Args struct {
	raw    []json.RawMessage
	params []string
}

// Len returns the number of arguments.
func (a Args) Len() int { return len(a.raw) }

// Decode decodes argument i into v, which must be a pointer. A value of the
// wrong type fails with an invalid_argument error that names the parameter.
func (a Args) Decode(i int, v any) error {
	name := fmt.Sprintf("#%d", i+1)
	if i < len(a.params) {
		name = a.params[i]
	}
	if i >= len(a.raw) {
		return Errorf(CodeInvalidArgument, "missing argument %s", name)
	}
	if err := json.Unmarshal(a.raw[i], v); err != nil {
		return Errorf(CodeInvalidArgument, "argument %s: %s", name, describeJSONError(err))
	}
	return nil
}

// describeJSONError turns a decoding error into a message without Go type
// paths, which would reveal the server's internals.
func describeJSONError(err error) string {
	switch e := err.(type) {
	case *json.UnmarshalTypeError:
		if e.Field != "" {
			return fmt.Sprintf("field %s: cannot take a JSON %s", e.Field, e.Value)
		}
		return fmt.Sprintf("cannot take a JSON %s", e.Value)
	case *json.SyntaxError:
		return "malformed JSON"
	}
	return "cannot decode"
}

// service is a registered service with its served files.
type service struct {
	desc    ServiceDesc
	methods map[string]*MethodDesc
	files   map[string]asset // "NAME.js", "NAME.d.ts"
}

// asset is a file served from memory with a content-hash ETag.
type asset struct {
	body        []byte
	etag        string
	contentType string
}

func newAsset(body []byte, contentType string) asset {
	sum := sha256.Sum256(body)
	return asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, contentType: contentType}
}

var jsName = regexp.MustCompile(`^[\p{L}_$][\p{L}\p{N}_$]*$`)

// Register adds a service. It panics if the description is invalid or the
// name is taken: both are programming errors found at start-up.
func (s *Server) Register(d ServiceDesc) {
	if !jsName.MatchString(d.Name) {
		panic(fmt.Sprintf("rpc: invalid service name %q", d.Name))
	}
	svc := &service{desc: d, methods: map[string]*MethodDesc{}, files: map[string]asset{}}
	for i := range d.Methods {
		m := &d.Methods[i]
		if !jsName.MatchString(m.Name) || m.Handler == nil {
			panic(fmt.Sprintf("rpc: invalid method %q in service %s", m.Name, d.Name))
		}
		if svc.methods[m.Name] != nil {
			panic(fmt.Sprintf("rpc: method %s.%s registered twice", d.Name, m.Name))
		}
		svc.methods[m.Name] = m
	}
	if d.Module != "" {
		svc.files[d.Name+".js"] = newAsset([]byte(d.Module), "text/javascript; charset=utf-8")
	}
	if d.Types != "" {
		svc.files[d.Name+".d.ts"] = newAsset([]byte(d.Types), "application/typescript; charset=utf-8")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.services[d.Name] != nil {
		panic(fmt.Sprintf("rpc: service %s registered twice", d.Name))
	}
	s.services[d.Name] = svc
}
