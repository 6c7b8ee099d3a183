// Package jsruntime holds the browser half of Parley: engine.js, a
// hand-written ES2020 module with no build step, embedded here so the rpc
// server can serve it from memory.
package jsruntime

import _ "embed"

// Engine is the source of engine.js, served at /parley/engine.js.
//
//go:embed engine.js
var Engine []byte
