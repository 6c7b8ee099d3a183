package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
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

// Args are the JSON-encoded arguments of one call. They are valid only
// until the method returns: decode them before, not in a goroutine that
// outlives the call.
type Args struct {
	raw    []json.RawMessage
	params []string
	files  map[string][]*multipart.FileHeader
}

// Len returns the number of arguments.
func (a Args) Len() int { return len(a.raw) }

// Decode decodes argument i into v, which must be a pointer. A value of the
// wrong type fails with an invalid_argument error that names the parameter.
// A *Upload or **Upload v takes the file the page sent as that argument.
// Decode does not check enums or the range of integers: generated code
// does, knowing the types.
func (a Args) Decode(i int, v any) error {
	if i >= len(a.raw) {
		return Errorf(CodeInvalidArgument, "missing argument %s", a.name(i))
	}
	raw := a.raw[i]
	switch u := v.(type) {
	case *Upload:
		return a.upload(i, u)
	case **Upload:
		if string(raw) == "null" {
			*u = nil
			return nil
		}
		*u = new(Upload)
		return a.upload(i, *u)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return Errorf(CodeInvalidArgument, "argument %s: %s", a.name(i), describeJSONError(err))
	}
	return nil
}

// name names parameter i in errors.
func (a Args) name(i int) string {
	if i < len(a.params) {
		return a.params[i]
	}
	return fmt.Sprintf("#%d", i+1)
}

// upload fills u with the file sent as argument i.
func (a Args) upload(i int, u *Upload) error {
	var ref uploadRef
	if err := json.Unmarshal(a.raw[i], &ref); err != nil || ref.Part == "" {
		return Errorf(CodeInvalidArgument, "argument %s: expected a file (a Blob or File)", a.name(i))
	}
	fhs := a.files[ref.Part]
	if len(fhs) != 1 {
		return Errorf(CodeInvalidArgument, "argument %s: the request has no file part %q", a.name(i), ref.Part)
	}
	fh := fhs[0]
	*u = Upload{Name: fh.Filename, ContentType: fh.Header.Get("Content-Type"), Size: fh.Size, fh: fh}
	return nil
}

// describeJSONError turns a decoding error into a message without Go type
// paths, which would reveal the server's internals.
func describeJSONError(err error) string {
	if errors.Is(err, errNestedUpload) {
		return errNestedUpload.Error()
	}
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
	files   map[string]asset // "NAME.js", "NAME.d.ts", and hashedModule
	// hashedModule names the module's content-hashed file, such as
	// "Chat.0123456789abcdef.js"; empty without a module.
	hashedModule string
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
		svc.hashedModule = s.addModule(svc.files, d.Name, d.Module)
	}
	if d.Types != "" {
		svc.files[d.Name+".d.ts"] = newAsset([]byte(d.Types), tsType)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.services[d.Name] != nil {
		panic(fmt.Sprintf("rpc: service %s registered twice", d.Name))
	}
	s.services[d.Name] = svc
}
