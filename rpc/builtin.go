package rpc

import (
	"context"
	"encoding/json"
	"errors"

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
//   - subscribe(patterns: string[]) subscribes it to each pattern;
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
