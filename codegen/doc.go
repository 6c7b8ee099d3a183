// Package codegen generates the Go glue, JS modules and TypeScript
// declarations of Parley services and clients.
//
// It reads the interfaces of a package marked with a directive line in
// their doc comment:
//
//   - //parley:service marks Go methods that browsers call. For a service
//     Chat it generates RegisterChat(srv *rpc.Server, impl Chat), which
//     registers the methods with their decoders, the ES module served at
//     /parley/interface/Chat.js and the declarations served at
//     /parley/interface/Chat.d.ts.
//   - //parley:client marks browser functions that Go calls. For a client
//     ChatPage it generates ChatPageProxy, which implements ChatPage by
//     sending reverse calls "ChatPage.method" to a reverse.Target.
//
// Go names become lowerCamelCase in JS (see LowerCamel). Parameters and
// results are limited to types that encoding/json carries both ways and
// whose JSON TypeScript can describe; anything else is refused with an
// Error at its line. The .d.ts files declare every named struct, enum and
// client interface a service reaches, with their doc comments.
//
// A named string or integer type of the package's module with exported
// constants of its type is an enum: a union type and a frozen object in
// JS, and an rpcgen.Enum in Go against which the generated handlers check
// every decoded argument that may hold one, refusing other values with
// invalid_argument.
//
// A //parley:auth line in the doc comment of a service, or of one of its
// methods (which then replaces the service's), fills rpc.MethodDesc.Access:
// "//parley:auth" requires a logged-in user, "//parley:auth role=a,b" one
// with role a or b, and "//parley:auth none", on a method, nothing.
//
// Generate is a pure function from a loaded package to files: it does no
// I/O, and its output depends only on the package, in declaration order.
// The command parleygen does the loading and writing. Generate and
// LowerCamel are safe for concurrent use.
package codegen
