package reverse

import (
	"context"
	"net"
	"net/http"
	"reflect"
)

// The types of the contexts net/http makes for a request, with no
// BaseContext or ConnContext set: two values (the server, the local
// address) and two cancellations (the connection's, the request's) over
// context.Background().
var (
	cancelCtxType     = reflect.TypeOf(cancelableContext())
	valueCtxType      = reflect.TypeOf(context.WithValue(context.Background(), http.ServerContextKey, nil))
	backgroundCtxType = reflect.TypeOf(context.Background())
)

func cancelableContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// baseContext is a context with the values net/http gives a request
// context, and nothing else: one for all the sockets of a listener.
type baseContext struct {
	srv   *http.Server
	local string // the listener's network and address
	ctx   context.Context
}

// socketBase returns what a socket keeps of the context of its upgrade
// request r, for its calls: their values. When the context holds only the
// values net/http put there (the server and the local address), with
// nothing a middleware added, it returns a context with the same values
// that the hub shares among the sockets of one listener: the request's own
// would keep two cancelled contexts and a channel alive for each idle
// socket. Otherwise it returns r's context, whose values the calls see.
func (h *Hub) socketBase(r *http.Request) context.Context {
	ctx := r.Context()
	srv, _ := ctx.Value(http.ServerContextKey).(*http.Server)
	local, _ := ctx.Value(http.LocalAddrContextKey).(net.Addr)
	if srv == nil || local == nil || !onlyServerValues(ctx) {
		return ctx
	}
	key := local.Network() + " " + local.String()
	if b := h.base.Load(); b != nil && b.srv == srv && b.local == key {
		return b.ctx
	}
	b := &baseContext{srv: srv, local: key,
		ctx: context.WithValue(context.WithValue(context.Background(), http.ServerContextKey, srv), http.LocalAddrContextKey, local)}
	h.base.Store(b)
	return b.ctx
}

// onlyServerValues reports whether ctx is made as net/http makes a
// request's context, of exactly two values over cancellations and
// context.Background(). Its caller checks the two values are the server's
// and the local address: with two value contexts, each of one key, the
// chain holds those and no other.
func onlyServerValues(ctx context.Context) bool {
	v := reflect.ValueOf(ctx)
	values := 0
	for range 8 {
		switch v.Type() {
		case backgroundCtxType:
			return values == 2
		case cancelCtxType:
		case valueCtxType:
			values++
		default:
			return false
		}
		// Both kinds embed their parent as the field Context.
		parent := v.Elem().FieldByName("Context")
		if !parent.IsValid() || parent.Kind() != reflect.Interface || parent.IsNil() {
			return false
		}
		v = parent.Elem()
	}
	return false
}
