package jsruntime

import (
	"encoding"
	stdjson "encoding/json"
	"fmt"
	"io"
	"reflect"
	"sync"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// wireOptions are those of encoding/json, except that nil slices and maps
// are written as [] and {}.
var wireOptions = json.JoinOptions(
	jsonv1.DefaultOptionsV1(),
	json.FormatNilSliceAsNull(false),
	json.FormatNilMapAsNull(false),
	json.WithMarshalers(json.MarshalToFunc(marshalNumber)),
)

// marshalNumber writes an encoding/json Number as encoding/json does: as a
// JSON number, 0 when empty.
func marshalNumber(enc *jsontext.Encoder, n stdjson.Number) error {
	if n == "" {
		n = "0"
	}
	v := jsontext.Value(n)
	if !v.IsValid() || v.Kind() != '0' {
		return fmt.Errorf("json: invalid number literal %q", string(n))
	}
	return enc.WriteValue(v)
}

// Marshal returns the JSON of v as a page receives it: what encoding/json
// writes, except that a nil slice is [] (a nil []byte is "") and a nil map
// is {}, at every depth, so that the .d.ts declares them without null. A
// nil pointer is still null, and a type with its own MarshalJSON writes
// what it writes.
func Marshal(v any) ([]byte, error) {
	if !mayHoldNil(reflect.TypeOf(v)) {
		return stdjson.Marshal(v)
	}
	return json.Marshal(v, wireOptions)
}

// MarshalWrite writes the JSON of v to w as Marshal returns it, without a
// trailing newline.
func MarshalWrite(w io.Writer, v any) error {
	if !mayHoldNil(reflect.TypeOf(v)) {
		b, err := stdjson.Marshal(v)
		if err == nil {
			_, err = w.Write(b)
		}
		return err
	}
	return json.MarshalWrite(w, v, wireOptions)
}

// nilFree caches mayHoldNil by type.
var nilFree sync.Map // reflect.Type -> bool

// mayHoldNil reports whether a value of type t may hold a nil slice or
// map that encoding/json would write as null, anywhere inside it: a
// slice, a map, an interface (which may hold either), or a struct,
// array or pointer that leads to one. A type with its own marshaller
// writes what it writes either way. For the other types encoding/json's
// output is the page's, and it is faster.
func mayHoldNil(t reflect.Type) bool {
	if t == nil {
		return false
	}
	if v, ok := nilFree.Load(t); ok {
		return v.(bool)
	}
	v := holdsNil(t, map[reflect.Type]bool{})
	nilFree.Store(t, v)
	return v
}

func holdsNil(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	if t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) ||
		t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType) {
		return false
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Map, reflect.Interface:
		return true
	case reflect.Pointer, reflect.Array:
		return holdsNil(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsNil(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

var (
	marshalerType     = reflect.TypeFor[stdjson.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)
