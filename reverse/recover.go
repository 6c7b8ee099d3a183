package reverse

import "runtime/debug"

// safely runs fn and recovers from a panic in it: the panic is logged
// with its stack through the hub's logger, and the server stays up. Every
// goroutine of the hub that writes to pages or runs the application's
// listeners runs through it.
func (h *Hub) safely(what string, fn func()) {
	defer func() {
		if v := recover(); v != nil {
			h.log.Error("parley: panic in "+what, "panic", v, "stack", string(debug.Stack()))
		}
	}()
	fn()
}

// goSafely runs fn through safely on a goroutine of its own.
func (h *Hub) goSafely(what string, fn func()) { go h.safely(what, fn) }
