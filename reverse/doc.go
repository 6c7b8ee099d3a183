// Package reverse is the server-to-browser half of Parley: reverse Ajax.
//
// A Hub keeps one script Session per open page. Server code reaches pages
// through a Target — every page showing a URL (Hub.Page), one page
// (Hub.Session) or every page (Hub.All) — and calls browser functions on
// them, untyped with Target.Call or through typed proxies generated from
// //parley:client interfaces.
//
// Every session has an outbox. Each message gets the next per-session
// sequence number; the page acknowledges the highest one it has run, and
// the outbox keeps everything after that until it is acknowledged, so a
// message whose reply was lost is sent again and the page drops the
// duplicate. The outbox is bounded: when it overflows, the session ends and
// the page is told it has a gap, never left to miss messages silently.
//
// Concurrency: a Hub, its Sessions and its Targets are safe for concurrent
// use by any number of goroutines. Calls to one Target from one goroutine
// reach each page in the order they were made, and calls from several
// goroutines reach every page in the same order.
package reverse
