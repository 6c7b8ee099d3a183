// Package parley is Direct Web Remoting and Reverse Ajax for Go. This
// package holds no code: it documents the module and where to start.
//
// The browser calls Go methods through generated JavaScript stubs that
// return Promises, with TypeScript declarations. Go code calls JavaScript
// functions on one page, on every page showing a URL, or on any group of
// pages; those calls reach the pages by SSE streaming, long-poll, polling
// or piggybacked on call replies, exactly once and in order.
//
// # Packages
//
//   - [github.com/parley-go/parley/rpc]: the browser-to-server half. A
//     Server is the http.Handler to mount under "/parley/": it serves the
//     runtime and the generated modules, runs call batches, and checks
//     CSRF, limits and access. Start here.
//   - [github.com/parley-go/parley/reverse]: the server-to-browser half. A
//     Hub holds the pages' script sessions; its Targets call functions on
//     pages, wait for their results (Invoke), publish to topics and change
//     the DOM.
//   - [github.com/parley-go/parley/rpc/client]: a Go client of a Parley
//     server, for tests and programs that talk to one as a page does.
//   - [github.com/parley-go/parley/cmd/parleygen]: the generator, run by
//     go generate; [github.com/parley-go/parley/codegen] is its logic.
//   - [github.com/parley-go/parley/rpc/rpcgen]: what the generated code
//     calls, and nothing else does.
//   - [github.com/parley-go/parley/jsruntime]: engine.js, the browser
//     runtime, embedded.
//
// The examples under examples/ are runnable apps (go run ./examples/chat).
// PROTOCOL.md describes the wire protocol; README.md is the guide.
//
// # Example
//
// Declare a service the browser calls, and a client the server calls:
//
//	//go:generate go tool parleygen
//
//	// Chat is exposed to browsers as the module /parley/interface/Chat.js.
//	//
//	//parley:service
//	type Chat interface {
//		// Send posts text to the room and returns the message id.
//		Send(ctx context.Context, text string) (int64, error)
//	}
//
//	// ChatPage is implemented by every chat page.
//	//
//	//parley:client
//	type ChatPage interface {
//		AddMessage(m Message)
//	}
//
// go generate writes RegisterChat and ChatPageProxy. Serve them:
//
//	hub := reverse.NewHub()
//	srv := rpc.NewServer(rpc.WithHub(hub))
//	RegisterChat(srv, room) // room implements Chat
//	mux := http.NewServeMux()
//	mux.Handle("/parley/", srv)
//
//	// Anywhere in server code: every page showing /chat gets the message.
//	NewChatPageProxy(hub.Page("/chat")).AddMessage(msg)
//
// and use them from the page:
//
//	import parley from "/parley/engine.js";
//	import { Chat } from "/parley/interface/Chat.js";
//	parley.expose("ChatPage", { addMessage(m) { ... } });
//	await parley.start();
//	const id = await Chat.send("hello");
package parley
