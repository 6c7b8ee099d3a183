package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"

	"github.com/parley-go/parley/reverse"
)

// Call is what a service method can learn of the call it is serving.
// Get it with CallFrom.
type Call struct {
	// Service and Method are the JS names of what was called.
	Service, Method string
	// Request is the HTTP request that carried the call. Its body has been read.
	Request *http.Request
	// ScriptSession is the calling page's script session, or nil when the
	// page has none (no hub, or the page has not started reverse Ajax).
	ScriptSession *reverse.Session
	// HTTPSessionID is the random id of the caller's browser, from its id
	// cookie: the id script sessions are bound to.
	HTTPSessionID string

	x *exchange
}

type callKey struct{}

// CallFrom returns the call being served by ctx, or nil outside a call.
func CallFrom(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	return c
}

// SessionValue returns the value stored under key in the caller's HTTP
// session (gorilla/sessions), or nil.
func (c *Call) SessionValue(key string) any {
	c.x.sessMu.Lock()
	defer c.x.sessMu.Unlock()
	return c.x.sessionLocked().Values[key]
}

// SetSessionValue stores value under key in the caller's HTTP session. The
// session is saved with the reply, so the value must be encodable by the
// session store (gob for the default cookie store).
func (c *Call) SetSessionValue(key string, value any) {
	c.x.sessMu.Lock()
	defer c.x.sessMu.Unlock()
	c.x.sessionLocked().Values[key] = value
	c.x.dirty = true
}

// DeleteSessionValue removes key from the caller's HTTP session.
func (c *Call) DeleteSessionValue(key string) {
	c.x.sessMu.Lock()
	defer c.x.sessMu.Unlock()
	delete(c.x.sessionLocked().Values, key)
	c.x.dirty = true
}

// wireCall is one call in a batch.
type wireCall struct {
	ID      json.RawMessage   `json:"id"`
	Service string            `json:"service"`
	Method  string            `json:"method"`
	Args    []json.RawMessage `json:"args"`
}

// wireResult is the outcome of one call, matched to it by id.
type wireResult struct {
	ID     json.RawMessage `json:"id"`
	Result any             `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// callReply is the reply to a batch: the results in call order plus what
// the page's session has pending.
type callReply struct {
	Results []wireResult `json:"results"`
	reverse.Delivery
}

func (s *Server) serveCall(w http.ResponseWriter, r *http.Request, x *exchange) {
	calls := x.req.Calls
	if calls == nil {
		writeError(w, NewError(CodeInvalidArgument, "calls must be an array of {id, service, method, args}"))
		return
	}
	if len(calls) > s.maxBatch {
		writeError(w, Errorf(CodeResourceExhausted, "%d calls in one batch; the limit is %d", len(calls), s.maxBatch))
		return
	}
	var script *reverse.Session
	var reset *reverse.Reset
	if x.req.Session != "" && s.hub != nil {
		var err *Error
		script, reset, err = s.lookup(x)
		if err != nil {
			writeError(w, err)
			return
		}
	}

	reply := callReply{Results: make([]wireResult, len(calls))}
	var wg sync.WaitGroup
	for i := range calls {
		run := func() { reply.Results[i] = s.invoke(r, x, script, &calls[i]) }
		if len(calls) == 1 {
			run()
			break
		}
		wg.Go(run)
	}
	wg.Wait()

	switch {
	case reset != nil:
		reply.Reset = reset
	case script != nil:
		reply.Delivery = script.Pending(x.req.Ack)
	}
	s.saveSession(w, x)
	writeJSON(w, http.StatusOK, reply)
}

// invoke runs one call and never panics: a panic in the method becomes an
// internal error for this call alone, with the stack logged.
func (s *Server) invoke(r *http.Request, x *exchange, script *reverse.Session, wc *wireCall) (res wireResult) {
	res.ID = wc.ID
	if len(wc.ID) == 0 {
		res.ID = json.RawMessage("null")
	}
	s.mu.RLock()
	svc := s.services[wc.Service]
	s.mu.RUnlock()
	var m *MethodDesc
	if svc != nil {
		m = svc.methods[wc.Method]
	}
	if m == nil {
		res.Error = Errorf(CodeUnimplemented, "no method %s.%s", wc.Service, wc.Method)
		return res
	}
	if len(wc.Args) != len(m.Params) {
		res.Error = Errorf(CodeInvalidArgument, "%s.%s takes %d arguments, got %d", wc.Service, wc.Method, len(m.Params), len(wc.Args))
		return res
	}
	call := &Call{
		Service: wc.Service, Method: wc.Method,
		Request: r, ScriptSession: script, HTTPSessionID: x.httpID,
		x: x,
	}
	ctx := context.WithValue(r.Context(), callKey{}, call)
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("parley: panic in service method", "method", wc.Service+"."+wc.Method,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			res.Result, res.Error = nil, NewError(CodeInternal, "internal error")
		}
	}()
	out, err := m.Handler(ctx, Args{raw: wc.Args, params: m.Params})
	if err != nil {
		e, known := asError(err)
		if !known {
			s.log.Error("parley: service method failed", "method", wc.Service+"."+wc.Method, "err", err)
		}
		res.Error = e
		return res
	}
	res.Result = out
	if out == nil {
		res.Result = json.RawMessage("null")
	}
	return res
}
