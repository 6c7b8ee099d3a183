package rpc

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-go/parley/reverse"
)

// Observer is told of every call a Server runs, for metrics and tracing.
// ObserveCall is called on the call's goroutine once its outcome is
// known, from many goroutines at once: it must be quick and safe for
// concurrent use.
type Observer interface {
	// ObserveCall reports one call. service and method are the JS names of
	// the registered method called, or both "" when the call named no
	// registered method (so that names a client made up never reach
	// metrics). code is "" when the call succeeded, otherwise the code of
	// the error the page received. d runs from the call's start to its
	// result being encoded, interceptors and access checks included.
	ObserveCall(service, method string, code Code, d time.Duration)
	// ObserveRefusal reports a whole request refused with code before any
	// call of it ran: a CSRF or origin check, a malformed or oversized
	// body, an unknown endpoint or session.
	ObserveRefusal(code Code)
}

// Observe adds o to the observers of the server, told of every call from
// then on. It may be called at any time.
func (s *Server) Observe(o Observer) {
	s.observers.mu.Lock()
	defer s.observers.mu.Unlock()
	var list []Observer
	if old := s.observers.list.Load(); old != nil {
		list = append(list, *old...)
	}
	list = append(list, o)
	s.observers.list.Store(&list)
}

// Hub returns the hub the server was given with WithHub, or nil.
func (s *Server) Hub() *reverse.Hub { return s.hub }

// observers are a server's observers, read without a lock by every call
// and copied on write.
type observers struct {
	mu   sync.Mutex
	list atomic.Pointer[[]Observer]
}

// observeCall tells obs of the call wc, which named the registered method
// m (nil when it named none), started at start and ended with e (nil on
// success).
func observeCall(obs []Observer, wc *wireCall, m *MethodDesc, start time.Time, e *Error) {
	d := time.Since(start)
	var service, method string
	if m != nil {
		service, method = wc.Service, wc.Method
	}
	var code Code
	if e != nil {
		code = e.Code
	}
	for _, o := range obs {
		o.ObserveCall(service, method, code, d)
	}
}

// refuse fails a whole request with e and its HTTP status, and tells the
// observers.
func (s *Server) refuse(w http.ResponseWriter, e *Error) {
	if obs := s.observers.list.Load(); obs != nil {
		for _, o := range *obs {
			o.ObserveRefusal(e.Code)
		}
	}
	writeError(w, e)
}
