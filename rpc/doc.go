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
// Concurrency: a Server is safe for concurrent use. The calls of one batch
// run concurrently, each in its own goroutine, so a service implementation
// must be safe for concurrent use. Register services before serving.
package rpc
