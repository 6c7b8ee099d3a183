package jsruntime

import (
	stdjson "encoding/json"
	"fmt"
	"io"

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
	return json.Marshal(v, wireOptions)
}

// MarshalWrite writes the JSON of v to w as Marshal returns it, without a
// trailing newline.
func MarshalWrite(w io.Writer, v any) error {
	return json.MarshalWrite(w, v, wireOptions)
}
