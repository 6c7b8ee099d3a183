// Package jsruntime holds the browser half of Parley: engine.js, a
// hand-written ES2020 module with no build step, and engine.d.ts, its
// TypeScript declarations, embedded here so the rpc server can serve them
// from memory; and the JSON encoding of what a page receives.
package jsruntime

import _ "embed"

// Engine is the source of engine.js, served at /parley/engine.js.
//
//go:embed engine.js
var Engine []byte

// Types is engine.d.ts, the TypeScript declarations of engine.js, served
// at /parley/engine.d.ts. The generated .d.ts files import from it.
//
//go:embed engine.d.ts
var Types []byte
