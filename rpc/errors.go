package rpc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Code is an error code from the closed set below. Each maps to one HTTP
// status, used when an error fails a whole request.
type Code string

// The error codes. The set is closed: a browser never sees another.
const (
	CodeCanceled           Code = "canceled"            // the caller gave up
	CodeUnknown            Code = "unknown"             // an error of unknown kind
	CodeInvalidArgument    Code = "invalid_argument"    // the arguments are wrong, whatever the state
	CodeDeadlineExceeded   Code = "deadline_exceeded"   // the call ran out of time
	CodeNotFound           Code = "not_found"           // a named thing does not exist
	CodeAlreadyExists      Code = "already_exists"      // what was to be created exists
	CodePermissionDenied   Code = "permission_denied"   // the caller may not do this
	CodeResourceExhausted  Code = "resource_exhausted"  // a limit or quota was reached
	CodeFailedPrecondition Code = "failed_precondition" // the state does not allow this now
	CodeAborted            Code = "aborted"             // a conflict, such as a concurrent change
	CodeOutOfRange         Code = "out_of_range"        // past the valid range
	CodeUnimplemented      Code = "unimplemented"       // no such service or method
	CodeInternal           Code = "internal"            // a server fault; details are logged, not sent
	CodeUnavailable        Code = "unavailable"         // the server or network cannot serve now
	CodeDataLoss           Code = "data_loss"           // unrecoverable loss or corruption
	CodeUnauthenticated    Code = "unauthenticated"     // the caller is not logged in
)

var codeStatus = map[Code]int{
	CodeCanceled:           499,
	CodeUnknown:            http.StatusInternalServerError,
	CodeInvalidArgument:    http.StatusBadRequest,
	CodeDeadlineExceeded:   http.StatusGatewayTimeout,
	CodeNotFound:           http.StatusNotFound,
	CodeAlreadyExists:      http.StatusConflict,
	CodePermissionDenied:   http.StatusForbidden,
	CodeResourceExhausted:  http.StatusTooManyRequests,
	CodeFailedPrecondition: http.StatusPreconditionFailed,
	CodeAborted:            http.StatusConflict,
	CodeOutOfRange:         http.StatusBadRequest,
	CodeUnimplemented:      http.StatusNotImplemented,
	CodeInternal:           http.StatusInternalServerError,
	CodeUnavailable:        http.StatusServiceUnavailable,
	CodeDataLoss:           http.StatusInternalServerError,
	CodeUnauthenticated:    http.StatusUnauthorized,
}

// HTTPStatus returns the HTTP status a request failed with code gets.
// A code outside the set maps to 500.
func (c Code) HTTPStatus() int {
	if s, ok := codeStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is the one error shape that reaches the browser:
// {"code":…,"message":…,"details":…}.
type Error struct {
	// Code is one of the Code constants.
	Code Code `json:"code"`
	// Message is meant for the developer; it is sent as is.
	Message string `json:"message"`
	// Details is any JSON-encodable value the page may inspect.
	Details any `json:"details,omitempty"`
}

// NewError returns an error with code and message, to be returned from a
// service method and delivered to the browser as is.
func NewError(code Code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Errorf is NewError with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetails returns a copy of e carrying details.
func (e *Error) WithDetails(details any) *Error {
	c := *e
	c.Details = details
	return &c
}

// Error implements error.
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// ErrorCode returns e's code: *Error is a CodedError.
func (e *Error) ErrorCode() Code { return e.Code }

// ErrorDetails returns e's details.
func (e *Error) ErrorDetails() any { return e.Details }

// CodedError is an error that reaches the browser with its own code and
// message (its Error()): declare an error type with an ErrorCode method,
// and, to send details too, an ErrorDetails method returning any
// JSON-encodable value. *Error is one. The code must be one of the Code
// constants; an error with another code is sent as a bare internal error
// and logged.
type CodedError interface {
	error
	ErrorCode() Code
}

// asError maps any error to what the browser may see: a CodedError found
// with errors.As is sent with its code, message and details; context
// errors become canceled or deadline_exceeded; anything else becomes a
// bare internal error and ok is false, so the caller logs the original.
func (s *Server) asError(err error) (e *Error, ok bool) {
	var ce CodedError
	switch {
	case errors.As(err, &e):
	case errors.As(err, &ce):
		e = &Error{Code: ce.ErrorCode(), Message: ce.Error()}
		if d, ok := ce.(interface{ ErrorDetails() any }); ok {
			e.Details = d.ErrorDetails()
		}
	case errors.Is(err, context.Canceled):
		return NewError(CodeCanceled, "call canceled"), true
	case errors.Is(err, context.DeadlineExceeded):
		return NewError(CodeDeadlineExceeded, "call ran out of time"), true
	default:
		return NewError(CodeInternal, "internal error"), false
	}
	if _, valid := codeStatus[e.Code]; !valid {
		s.log.Error("parley: error with a code outside the closed set", "code", e.Code, "err", err)
		return NewError(CodeInternal, "internal error"), true
	}
	return e, true
}
