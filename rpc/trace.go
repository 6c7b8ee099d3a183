package rpc

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// sessionPrefixLen is how many characters of a script session id a log
// line carries: enough to tell a page's calls apart, far too few to
// stand for the session.
const sessionPrefixLen = 6

// SlogInterceptor returns an interceptor that logs every call through l
// once it returns, with the attributes service, method, duration, code
// ("ok" or the error code the page receives) and, when the page has a
// script session, session: the first six characters of its id. A call
// that succeeded is logged at slog.LevelInfo, one that failed at
// slog.LevelWarn, and one that failed with CodeInternal at
// slog.LevelError. The message is "parley call".
//
// Being an interceptor, it sees the calls that reach a registered method,
// access checks included, and a panic in the method (logged as
// internal); an Observer (Server.Observe) also sees the
// calls that name no method or have the wrong number of arguments.
func SlogInterceptor(l *slog.Logger) Interceptor {
	return func(ctx context.Context, call *Call, next func(context.Context) (any, error)) (out any, err error) {
		start := time.Now()
		defer func() {
			p := recover()
			code, level := outcome(err, p != nil)
			if l.Enabled(ctx, level) {
				l.LogAttrs(ctx, level, "parley call", callAttrs(call, start, code)...)
			}
			if p != nil {
				panic(p) // for the server, which recovers it
			}
		}()
		return next(ctx)
	}
}

// outcome returns the code a call that ended with err, or in a panic,
// is logged with, and the level.
func outcome(err error, panicked bool) (string, slog.Level) {
	switch {
	case panicked:
		return string(CodeInternal), slog.LevelError
	case err == nil:
		return "ok", slog.LevelInfo
	}
	c := codeOf(err)
	if c == CodeInternal {
		return string(c), slog.LevelError
	}
	return string(c), slog.LevelWarn
}

// callAttrs are the attributes SlogInterceptor logs for call.
func callAttrs(call *Call, start time.Time, code string) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("service", call.Service),
		slog.String("method", call.Method),
		slog.Duration("duration", time.Since(start)),
		slog.String("code", code),
	}
	if s := call.ScriptSession; s != nil {
		id := s.ID()
		attrs = append(attrs, slog.String("session", id[:min(len(id), sessionPrefixLen)]))
	}
	return attrs
}

// codeOf returns the code the page receives for err, as Server.asError
// maps it.
func codeOf(err error) Code {
	var ce CodedError
	switch {
	case errors.As(err, &ce):
		if _, valid := codeStatus[ce.ErrorCode()]; valid {
			return ce.ErrorCode()
		}
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return CodeDeadlineExceeded
	}
	return CodeInternal
}
