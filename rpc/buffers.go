package rpc

import (
	"bytes"
	"net/http"
	"sync"

	"github.com/parley-go/parley/jsruntime"
)

// encBuf is a pooled buffer for encoded results.
type encBuf struct {
	bytes.Buffer
}

var encBufs = sync.Pool{New: func() any { return &encBuf{} }}

func getEncBuf() *encBuf { return encBufs.Get().(*encBuf) }

// putEncBuf returns b to the pool unless it grew large.
func putEncBuf(b *encBuf) {
	if b.Cap() > 64<<10 {
		return
	}
	b.Reset()
	encBufs.Put(b)
}

// encode writes v as JSON as a page receives it (see jsruntime.Marshal):
// nil slices and maps as [] and {}.
func (b *encBuf) encode(v any) error {
	return jsruntime.MarshalWrite(&b.Buffer, v)
}

// byteBuf is a pooled byte slice for replies and request bodies.
type byteBuf struct{ b []byte }

var byteBufs = sync.Pool{New: func() any { return &byteBuf{b: make([]byte, 0, 1024)} }}

func getBuf() *byteBuf { return byteBufs.Get().(*byteBuf) }

// putBuf returns b to the pool unless it grew large.
func putBuf(b *byteBuf) {
	if cap(b.b) > 64<<10 {
		return
	}
	b.b = b.b[:0]
	byteBufs.Put(b)
}

// jsonContentType is the Content-Type of every JSON reply.
var jsonContentType = []string{"application/json"}

// writeJSONBytes writes body, already JSON, as the reply to a POST. Such
// a reply is never stored by caches (it has no freshness information) nor
// loadable as a script or style sheet, so unlike GET replies it needs no
// Cache-Control or X-Content-Type-Options.
func writeJSONBytes(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
