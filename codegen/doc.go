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
// results are limited to types whose JSON encoding TypeScript can
// describe; anything else is refused with an Error at its line.
//
// Generate is a pure function from a loaded package to files: it does no
// I/O, and its output depends only on the package, in declaration order.
// The command parleygen does the loading and writing. Generate and
// LowerCamel are safe for concurrent use.
package codegen
