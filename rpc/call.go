package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gorilla/sessions"

	"github.com/parley-go/parley/reverse"
)

// Call is what a service method, an interceptor or an authorizer can
// learn of the call being served. Get it with CallFrom.
type Call struct {
	// Service and Method are the JS names of what was called.
	Service, Method string
	// Request is the HTTP request that carried the call. Its body has been
	// read. The calls of a batch share it: treat it as read-only.
	Request *http.Request
	// ScriptSession is the calling page's script session, or nil when the
	// page has none (no hub, or the page has not started reverse Ajax).
	ScriptSession *reverse.Session
	// HTTPSessionID is the random id of the caller's browser, from its id
	// cookie: the id script sessions are bound to.
	HTTPSessionID string
	// Desc describes the method called.
	Desc *MethodDesc

	x   *exchange
	ctx callContext

	identify  sync.Once
	principal *Principal
	idErr     error
}

// callContext is the context a call runs in: its parent plus the Call,
// kept inside the Call so that serving a call allocates one object.
type callContext struct {
	context.Context
	call *Call
}

// Value implements context.Context.
func (c *callContext) Value(key any) any {
	if _, ok := key.(callKey); ok {
		return c.call
	}
	return c.Context.Value(key)
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

// UpdateSession runs fn with the caller's HTTP session (gorilla/sessions),
// for what the value methods do not cover, such as its Options or
// AddFlash. fn runs under the lock that the other calls of the batch
// also take: keep it short and do not keep the session past it. The
// session is saved with the reply.
func (c *Call) UpdateSession(fn func(*sessions.Session)) {
	c.x.sessMu.Lock()
	defer c.x.sessMu.Unlock()
	fn(c.x.sessionLocked())
	c.x.dirty = true
}

// Principal returns who the caller is, as the server's Authorizer tells:
// nil when nobody is logged in or the server has no Authorizer. The
// Authorizer is asked once per call.
func (c *Call) Principal() (*Principal, error) {
	auth := c.x.srv.authorizer
	if auth == nil {
		return nil, nil
	}
	c.identify.Do(func() { c.principal, c.idErr = auth.Identify(c) })
	return c.principal, c.idErr
}

// wireCall is one call in a batch.
type wireCall struct {
	ID      json.RawMessage   `json:"id"`
	Service string            `json:"service"`
	Method  string            `json:"method"`
	Args    []json.RawMessage `json:"args"`
	// Timeout, in milliseconds, is how long the page waits for the
	// result; the method's context gets that deadline, at most
	// maxTimeoutMillis. 0 or less: no deadline.
	Timeout int64 `json:"timeout"`

	desc *MethodDesc // the method called, when resolved while decoding
}

// wireResult is the outcome of one call: its JSON-encoded result, or an
// error.
type wireResult struct {
	result *encBuf
	err    *Error
}

func (s *Server) serveCall(w http.ResponseWriter, r *http.Request, x *exchange) {
	calls := x.req.Calls
	if calls == nil {
		s.refuse(w, NewError(CodeInvalidArgument, "calls must be an array of {id, service, method, args}"))
		return
	}
	var script *reverse.Session
	var reset *reverse.Reset
	if x.req.Session != "" && s.hub != nil {
		var err *Error
		script, reset, err = s.lookup(x)
		if err != nil {
			s.refuse(w, err)
			return
		}
	}

	reply := getBuf()
	b := s.runBatch(append(reply.b[:0], '{'), r, x, script)

	var d reverse.Delivery
	switch {
	case reset != nil:
		d.Reset = reset
	case script != nil && x.req.Pull:
		d = script.Pull(x.req.Ack)
	case script != nil:
		d = script.Pending(x.req.Ack)
	}
	s.saveSession(w, x)
	if script != nil && len(w.Header()["Set-Cookie"]) > 0 {
		// A socket the page holds opened with the cookies of before:
		// the page opens another (PROTOCOL.md, "WebSocket").
		b = append(b, `,"cookie":true`...)
	}

	if d.Messages != nil || d.Reset != nil || d.Advice != nil {
		pending := d
		if more, err := json.Marshal(&pending); err == nil && len(more) > 2 {
			b = append(b, ',')
			b = append(b, more[1:len(more)-1]...)
		} else if err != nil {
			s.log.Error("parley: encoding reverse calls", "err", err)
		}
	}
	b = append(b, '}')
	writeJSONBytes(w, http.StatusOK, b)
	reply.b = b
	putBuf(reply)
}

// runBatch runs the calls of x's batch for script's page, concurrently
// unless the batch is ordered, and appends their outcomes to b as the
// member "results":[...] of a reply.
func (s *Server) runBatch(b []byte, r *http.Request, x *exchange, script *reverse.Session) []byte {
	calls := x.req.Calls
	var single wireResult // the outcome of a batch of one, which needs no slice
	var res []wireResult
	switch {
	case len(calls) == 1:
		single = s.invoke(r, x, script, &calls[0])
	case x.req.Ordered:
		res = make([]wireResult, len(calls))
		for i := range calls {
			res[i] = s.invoke(r, x, script, &calls[i])
		}
	default:
		res = make([]wireResult, len(calls))
		s.invokeConcurrently(r, x, script, calls, res)
	}

	b = append(b, `"results":[`...)
	for i := range calls {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		if id := calls[i].ID; len(id) > 0 {
			b = append(b, id...)
		} else {
			b = append(b, "null"...)
		}
		out := &single
		if res != nil {
			out = &res[i]
		}
		if out.err != nil {
			b = append(b, `,"error":`...)
			b = s.appendError(b, out.err)
		} else {
			b = append(b, `,"result":`...)
			b = append(b, out.result.Bytes()...)
			putEncBuf(out.result)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// invokeConcurrently runs the calls of a batch at once, each in its own
// goroutine, and puts their outcomes in res.
func (s *Server) invokeConcurrently(r *http.Request, x *exchange, script *reverse.Session, calls []wireCall, res []wireResult) {
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() { res[i] = s.invoke(r, x, script, &calls[i]) })
	}
	wg.Wait()
}

// appendError appends e as JSON. Details that do not encode are dropped
// and logged.
func (s *Server) appendError(b []byte, e *Error) []byte {
	enc, err := json.Marshal(e)
	if err != nil {
		s.log.Error("parley: error details could not be encoded", "code", e.Code, "err", err)
		enc, _ = json.Marshal(&Error{Code: e.Code, Message: e.Message})
	}
	return append(b, enc...)
}

// invoke runs one call and never panics: a panic in the method becomes an
// internal error for this call alone, with the stack logged.
func (s *Server) invoke(r *http.Request, x *exchange, script *reverse.Session, wc *wireCall) (res wireResult) {
	m := wc.desc
	if obs := s.observers.list.Load(); obs != nil {
		start := time.Now()
		defer func() { observeCall(*obs, wc, m, start, res.err) }()
	}
	if m == nil {
		s.mu.RLock()
		if svc := s.services[wc.Service]; svc != nil {
			m = svc.methods[wc.Method]
		}
		s.mu.RUnlock()
	}
	if m == nil {
		res.err = Errorf(CodeUnimplemented, "no method %s.%s", wc.Service, wc.Method)
		return res
	}
	if len(wc.Args) != len(m.Params) {
		res.err = Errorf(CodeInvalidArgument, "%s.%s takes %d arguments, got %d", wc.Service, wc.Method, len(m.Params), len(wc.Args))
		return res
	}
	call := &Call{
		Service: wc.Service, Method: wc.Method, Desc: m,
		Request: r, ScriptSession: script, HTTPSessionID: x.httpID,
		x: x,
	}
	call.ctx = callContext{Context: r.Context(), call: call}
	var ctx context.Context = &call.ctx
	if wc.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(min(wc.Timeout, maxTimeoutMillis))*time.Millisecond)
		defer cancel()
	}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("parley: panic in service method", "method", wc.Service+"."+wc.Method,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			res = wireResult{err: NewError(CodeInternal, "internal error")}
		}
	}()
	args := Args{raw: wc.Args, params: m.Params, files: x.files}
	var out any
	var err error
	if len(s.interceptors) == 0 {
		out, err = s.run(ctx, call, args)
	} else {
		out, err = s.intercept(ctx, call, args)
	}
	if err != nil {
		e, known := s.asError(err)
		if !known {
			s.log.Error("parley: service method failed", "method", wc.Service+"."+wc.Method, "err", err)
		}
		res.err = e
		return res
	}
	if d, ok := out.(*Download); ok && d != nil {
		out = s.downloads.add(s.prefix, x.httpID, d, s.downloadTTL)
	}
	buf := getEncBuf()
	if err := buf.encode(out); err != nil {
		putEncBuf(buf)
		s.log.Error("parley: result could not be encoded", "method", wc.Service+"."+wc.Method, "err", err)
		res.err = NewError(CodeInternal, "internal error")
		return res
	}
	res.result = buf
	return res
}

// intercept runs the call through the server's interceptors, the first
// added outermost.
func (s *Server) intercept(ctx context.Context, call *Call, args Args) (any, error) {
	next := func(ctx context.Context) (any, error) { return s.run(ctx, call, args) }
	for i := len(s.interceptors) - 1; i >= 0; i-- {
		in, inner := s.interceptors[i], next
		next = func(ctx context.Context) (any, error) { return in(ctx, call, inner) }
	}
	return next(ctx)
}

// run checks the caller's access and runs the method.
func (s *Server) run(ctx context.Context, call *Call, args Args) (any, error) {
	if m := call.Desc; m.Access.Login || len(m.Access.Roles) > 0 {
		if err := s.checkAccess(call); err != nil {
			return nil, err
		}
	}
	return call.Desc.Handler(ctx, args)
}
