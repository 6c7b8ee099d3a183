// Package reverse is the server-to-browser half of Parley: reverse Ajax.
//
// A Hub keeps one script Session per open page. Server code reaches pages
// through a Target — every page showing a URL (Hub.Page), one page
// (Hub.Session), every page of a browser (Hub.HTTPSession), of a user
// (Hub.User) or of a group (Hub.Group), every page (Hub.All), or the pages
// whose sessions pass a filter (Hub.Where) — and calls browser functions on
// them, untyped with Target.Call or through typed proxies generated from
// //parley:client interfaces. Target.Invoke waits for what the functions
// return, Hub.Publish sends to the pages subscribed to a topic, and
// Target.DOM changes the pages' DOM by helpers the runtime applies.
//
// Every delivery goes through a Backplane as a serialisable Envelope, so
// that hubs in several processes can share one; each hub delivers to the
// sessions it holds. The default backplane is in memory.
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
// goroutines reach every page in the same order. Across hubs joined by a
// Backplane, each hub's calls keep that order, but the calls of two hubs
// may interleave differently on different pages. The OnSessionStart and
// OnSessionEnd listeners run outside every lock of the hub, in order for
// each session and once each, so they may call targets. A panic in a
// listener, or in a goroutine that writes to pages, is recovered and
// logged with its stack through the hub's logger; the server stays up.
package reverse
