package rpc

import (
	"context"
	"slices"
	"strings"
)

// Interceptor wraps every call: it runs before the method with the call's
// context and description, and calls next to go on (or not, to refuse
// the call). Interceptors compose in the order they were added, the first
// outermost; the access check and the method run inside the innermost.
type Interceptor func(ctx context.Context, call *Call, next func(context.Context) (any, error)) (any, error)

// WithInterceptor adds an interceptor around every call. Several may be
// added; they run in the order given.
func WithInterceptor(in Interceptor) Option {
	return func(s *Server) { s.interceptors = append(s.interceptors, in) }
}

// Principal is who a caller is: a user and the user's roles.
type Principal struct {
	// User identifies the user, such as a user id or name.
	User string
	// Roles are the user's roles, matched against MethodDesc.Access.Roles.
	Roles []string
}

// HasRole reports whether p has role.
func (p *Principal) HasRole(role string) bool { return p != nil && slices.Contains(p.Roles, role) }

// Authorizer tells who the caller of a call is, from its request or HTTP
// session (Call.Request, Call.SessionValue). The server asks it before
// running a method whose MethodDesc.Access requires something, and when
// code calls Call.Principal.
type Authorizer interface {
	// Identify returns the caller, or nil when nobody is logged in. An
	// *Error (or CodedError) it returns reaches the page as is; any other
	// error fails the call as internal and is logged.
	Identify(call *Call) (*Principal, error)
}

// AuthorizerFunc is a function that is an Authorizer.
type AuthorizerFunc func(call *Call) (*Principal, error)

// Identify implements Authorizer.
func (f AuthorizerFunc) Identify(call *Call) (*Principal, error) { return f(call) }

// WithAuthorizer sets who tells the server the caller of each call, so it
// can enforce MethodDesc.Access: a method that requires a login refuses
// callers who are not logged in with unauthenticated, and one that
// requires roles refuses callers with none of them with permission_denied.
// Without an Authorizer, methods that require access are refused with
// unauthenticated, and each refusal is logged as a configuration error.
func WithAuthorizer(a Authorizer) Option { return func(s *Server) { s.authorizer = a } }

// checkAccess enforces the access the called method requires.
func (s *Server) checkAccess(call *Call) error {
	if s.authorizer == nil {
		s.log.Error("parley: configuration error: the method requires access but the server has no Authorizer (rpc.WithAuthorizer)",
			"method", call.Service+"."+call.Method)
		return NewError(CodeUnauthenticated, "login required")
	}
	p, err := call.Principal()
	if err != nil {
		return err
	}
	if p == nil {
		return NewError(CodeUnauthenticated, "login required")
	}
	roles := call.Desc.Access.Roles
	if len(roles) == 0 || slices.ContainsFunc(roles, p.HasRole) {
		return nil
	}
	return Errorf(CodePermissionDenied, "%s.%s requires the role %s", call.Service, call.Method, strings.Join(roles, " or "))
}
