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
// Every delivery, and every change to a session, goes through a
// Backplane as a serialisable Envelope: an entry of one log that every hub
// reads in the same order. The default backplane is in memory; hubs in
// several processes behind a load balancer, with no sticky sessions, share
// one on a message bus (natsbp, redisbp) and then share every session:
// any hub serves any request of any page, a page's session moves to the
// hub that holds its connection (Hub.Hold), and the pages of a hub that
// dies come back to another, which rebuilds their outboxes from the log.
// cluster.go and PROTOCOL.md ("Clusters") say what lives where, what each
// operation costs and what happens on each failure.
//
// Every session has an outbox. Each message gets the next per-session
// sequence number; the page acknowledges the highest one it has run, and
// the outbox keeps everything after that until it is acknowledged, so a
// message whose reply was lost is sent again and the page drops the
// duplicate. The outbox is bounded: when it overflows, the session ends and
// the page is told it has a gap, never left to miss messages silently.
//
// Concurrency: a Hub, its Sessions and its Targets are safe for concurrent
// use by any number of goroutines. Every call, from any goroutine of any
// hub on the backplane, is an entry of the backplane's log and reaches
// its pages in the log's order, so no two pages see two calls in different
// orders: calls made one after the other are in that order, and calls
// made at the same time, from two goroutines or two hubs, in the order the
// log took them. The OnSessionStart and
// OnSessionEnd listeners run outside every lock of the hub, in order for
// each session and once each, so they may call targets. A panic in a
// listener, or in a goroutine that writes to pages, is recovered and
// logged with its stack through the hub's logger; the server stays up.
package reverse
