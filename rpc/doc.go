// Package rpc is the browser-to-server half of Parley: remoting.
//
// A Server is an http.Handler mounted under a prefix, "/parley/" by
// default. It serves the browser runtime (engine.js), the ES modules and
// TypeScript declarations generated for each registered service, and the
// POSTed call batches. With a reverse.Hub (WithHub) it also opens script
// sessions and holds long-polls, and every call reply carries the page's
// pending reverse calls.
//
// Services are usually registered by generated RegisterNAME functions,
// which decode each argument into its concrete type and call the
// implementation. A method's context gives access to the call through
// CallFrom. Errors reach the browser in one shape, {code, message,
// details}: an *Error as it is, anything else as a bare internal error,
// logged on the server. A panic in a method becomes an internal error for
// that call only.
//
// Around every call run the interceptors (WithInterceptor), then the
// access check of MethodDesc.Access against what the Authorizer
// (WithAuthorizer) says of the caller. A call's context ends when the
// page gives up: its request closes, or the timeout it sent passes.
// Methods take files as Upload parameters and return them as *Download.
// Generated handlers refuse, in arguments and results, integers of Go
// types wider than 53 bits beyond ±(2^53−1), since a JavaScript number
// cannot hold them exactly; floats pass as they are.
//
// Concurrency: a Server is safe for concurrent use. The calls of one batch
// run concurrently, each in its own goroutine, so a service implementation
// must be safe for concurrent use; a batch sent with "ordered" runs its
// calls one after another instead. The HTTP session methods of Call are
// safe across the calls of a batch. Args are valid only until the method
// returns. Register services before serving.
package rpc
