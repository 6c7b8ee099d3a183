package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/parley-go/parley/reverse"
)

// BuiltinService is the name of the service the runtime itself calls on a
// server with a hub: to subscribe its page to topics and to post the
// results of Invoke. Its "$" keeps it apart from the names of generated
// services.
const BuiltinService = "$parley"

// builtinOutcome is what a page posts for an invocation: the value its
// function returned, or the error it threw.
type builtinOutcome struct {
	Value json.RawMessage    `json:"value"`
	Error *reverse.PageError `json:"error"`
}

// registerBuiltin registers BuiltinService on a server with a hub. Its
// methods act on the calling page's script session:
//
//   - subscribe(patterns: string[]) subscribes it to each pattern, once
//     the subscribe authorizer allows every one of them;
//   - unsubscribe(patterns: string[]) removes those subscriptions;
//   - result(invoke: string, outcome: {value} | {error: {name, message}})
//     answers an invocation it received.
func (s *Server) registerBuiltin() {
	if s.hub == nil {
		return
	}
	s.Register(ServiceDesc{
		Name: BuiltinService,
		Doc:  "The runtime's own calls: topic subscriptions and the results of Invoke.",
		Methods: []MethodDesc{
			{Name: "subscribe", Params: []string{"patterns"}, Signature: "subscribe(patterns: string[]): Promise<void>",
				Handler: func(ctx context.Context, args Args) (any, error) {
					script, patterns, err := sessionAndPatterns(ctx, args)
					if err != nil {
						return nil, err
					}
					if err := s.authorizeSubscribe(CallFrom(ctx), script, patterns); err != nil {
						return nil, err
					}
					for _, p := range patterns {
						switch err := script.Subscribe(p); {
						case errors.Is(err, reverse.ErrInvalidTopic):
							return nil, NewError(CodeInvalidArgument, err.Error())
						case errors.Is(err, reverse.ErrTooManySubscriptions):
							return nil, NewError(CodeResourceExhausted, err.Error())
						case err != nil:
							return nil, err
						}
					}
					return nil, nil
				}},
			{Name: "unsubscribe", Params: []string{"patterns"}, Signature: "unsubscribe(patterns: string[]): Promise<void>",
				Handler: func(ctx context.Context, args Args) (any, error) {
					script, patterns, err := sessionAndPatterns(ctx, args)
					if err != nil {
						return nil, err
					}
					for _, p := range patterns {
						script.Unsubscribe(p)
					}
					return nil, nil
				}},
			{Name: "result", Params: []string{"invoke", "outcome"}, Signature: "result(invoke: string, outcome: {value?: unknown, error?: {name?: string, message: string}}): Promise<void>",
				Handler: func(ctx context.Context, args Args) (any, error) {
					script, err := callerSession(ctx)
					if err != nil {
						return nil, err
					}
					var id string
					var out builtinOutcome
					if err := args.Decode(0, &id); err != nil {
						return nil, err
					}
					if err := args.Decode(1, &out); err != nil {
						return nil, err
					}
					if errors.Is(script.Answer(id, out.Value, out.Error), reverse.ErrUnknownInvocation) {
						return nil, NewError(CodeNotFound, "no such invocation is waiting for this page")
					}
					return nil, nil
				}},
		},
	})
}

// SubscribeAuthorizer decides whether the page of the script session
// script, whose caller is who (nil when nobody is logged in or the server
// has no Authorizer), may subscribe to pattern, a well-formed topic or
// pattern (see reverse.Hub.Publish). It returns nil to allow it. An
// *Error (or CodedError) it returns reaches the page as is; any other
// error refuses the subscription with permission_denied.
type SubscribeAuthorizer func(script *reverse.Session, who *Principal, pattern string) error

// WithSubscribeAuthorizer sets who decides which topics pages may
// subscribe to. It is asked for every pattern each time a page subscribes,
// including when the runtime subscribes a new session again after a gap,
// so a refusal takes effect from the page's next session on; a refused
// subscription fails with permission_denied. Subscriptions that server
// code makes with reverse.Session.Subscribe are not asked about.
//
// Default: every pattern is allowed except those whose first segment is a
// wildcard ("/**", "/*/inbox"), which would reach every topic tree of the
// application at once. Topics are broadcasts that any page may receive by
// naming them, so private data never goes to a topic: it goes to
// hub.User or hub.Session. An application whose topics are not all public
// sets an authorizer that allows each page only its own.
func WithSubscribeAuthorizer(a SubscribeAuthorizer) Option {
	return func(s *Server) { s.subAuth = a }
}

// authorizeSubscribe asks the subscribe authorizer about every pattern
// before any is subscribed, so that a refused batch subscribes none.
func (s *Server) authorizeSubscribe(call *Call, script *reverse.Session, patterns []string) error {
	var who *Principal
	if s.subAuth != nil {
		p, err := call.Principal()
		if err != nil {
			return err
		}
		who = p
	}
	for _, p := range patterns {
		if err := reverse.CheckPattern(p); err != nil {
			return NewError(CodeInvalidArgument, err.Error())
		}
		if s.subAuth == nil {
			if first, _, _ := strings.Cut(p[1:], "/"); first == "*" || first == "**" {
				return Errorf(CodePermissionDenied, "subscribing to %q is not allowed: a pattern may not begin with a wildcard", p)
			}
			continue
		}
		switch err := s.subAuth(script, who, p); {
		case err == nil:
		case errors.As(err, new(CodedError)):
			return err
		default:
			return Errorf(CodePermissionDenied, "subscribing to %q is not allowed", p)
		}
	}
	return nil
}

// callerSession returns the calling page's script session, which the
// built-in methods need.
func callerSession(ctx context.Context) (*reverse.Session, error) {
	script := CallFrom(ctx).ScriptSession
	if script == nil {
		return nil, NewError(CodeFailedPrecondition, "the page has no script session")
	}
	return script, nil
}

func sessionAndPatterns(ctx context.Context, args Args) (*reverse.Session, []string, error) {
	script, err := callerSession(ctx)
	if err != nil {
		return nil, nil, err
	}
	var patterns []string
	if err := args.Decode(0, &patterns); err != nil {
		return nil, nil, err
	}
	return script, patterns, nil
}
