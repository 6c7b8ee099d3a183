package jsruntime

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// MaxSafeInteger is the largest integer a JavaScript number holds exactly,
// 2^53−1 (Number.MAX_SAFE_INTEGER). Its negation is the smallest.
const MaxSafeInteger = 1<<53 - 1

// UnsafeIntegerError reports an integer that a JavaScript number cannot
// hold exactly, found in a Go value of an integer type wider than 53 bits.
type UnsafeIntegerError struct {
	// Value is the integer in decimal.
	Value string
	// Steps locate the integer in the value checked, innermost first, as
	// FieldStep, IndexStep and KeyStep write them; see Path.
	Steps []string
}

// Path returns where the integer is in the value checked, such as
// "items[2].id", or "" when it is the value itself.
func (e *UnsafeIntegerError) Path() string {
	var b strings.Builder
	for i := len(e.Steps) - 1; i >= 0; i-- {
		b.WriteString(e.Steps[i])
	}
	return strings.TrimPrefix(b.String(), ".")
}

// Error returns, for example, "items[2].id: integer 9007199254740992
// cannot be represented exactly in JavaScript (the limit is
// ±9007199254740991)".
func (e *UnsafeIntegerError) Error() string {
	msg := "integer " + e.Value + " cannot be represented exactly in JavaScript (the limit is ±" +
		strconv.Itoa(MaxSafeInteger) + ")"
	if p := e.Path(); p != "" {
		return p + ": " + msg
	}
	return msg
}

// FieldStep returns the step of a path into the value of the JSON
// property name: ".name", or `["name"]` when name is not a plain word.
func FieldStep(name string) string {
	if name == "" || strings.ContainsAny(name, ".[]\"") || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' }) {
		return "[" + strconv.Quote(name) + "]"
	}
	return "." + name
}

// IndexStep returns the step of a path into item i of an array: "[i]".
func IndexStep(i int) string { return "[" + strconv.Itoa(i) + "]" }

// KeyStep returns the step of a path into the value at key of an
// object: `["key"]`.
func KeyStep(key string) string { return "[" + strconv.Quote(key) + "]" }

// CheckInteger returns an *UnsafeIntegerError if v is beyond
// ±MaxSafeInteger, and nil otherwise.
func CheckInteger[T ~int | ~int64 | ~uint | ~uint64 | ~uintptr](v T) error {
	if ^T(0) < 0 {
		if n := int64(v); n < -MaxSafeInteger || n > MaxSafeInteger {
			return &UnsafeIntegerError{Value: strconv.FormatInt(n, 10)}
		}
		return nil
	}
	if u := uint64(v); u > MaxSafeInteger {
		return &UnsafeIntegerError{Value: strconv.FormatUint(u, 10)}
	}
	return nil
}

// maxDepth bounds the walk of CheckIntegers. A value nested deeper is a
// cycle, which encoding/json refuses itself, or too deep to encode.
const maxDepth = 1000

// CheckIntegers walks v as encoding/json would encode it and returns an
// *UnsafeIntegerError for the first integer beyond ±MaxSafeInteger whose
// Go type is wider than 53 bits (int, int64, uint, uint64, uintptr, or a
// type defined on one of them), in a value, a struct field, an item, a
// map value or a map key. Floats are never refused: they travel as the
// nearest JavaScript number, as JSON has it. Values that encode
// themselves (json.Marshaler, encoding.TextMarshaler), fields with the
// json ",string" option and fields tagged "-" are not looked into.
func CheckIntegers(v any) error {
	return check(reflect.ValueOf(v), 0)
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// encodesItself reports whether encoding/json leaves the encoding of v to
// one of its methods.
func encodesItself(v reflect.Value) bool {
	t := v.Type()
	if t.Implements(jsonMarshaler) || t.Implements(textMarshaler) {
		return true
	}
	p := reflect.PointerTo(t)
	return v.CanAddr() && (p.Implements(jsonMarshaler) || p.Implements(textMarshaler))
}

// check is CheckIntegers for v at depth.
func check(v reflect.Value, depth int) error {
	if !v.IsValid() || depth > maxDepth || encodesItself(v) {
		return nil
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int64:
		return CheckInteger(v.Int())
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return CheckInteger(v.Uint())
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return check(v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // base64 text, or bytes of a narrow type
		}
		for i := range v.Len() {
			if err := check(v.Index(i), depth+1); err != nil {
				return within(err, IndexStep(i))
			}
		}
	case reflect.Map:
		wideKey := isWide(v.Type().Key().Kind())
		for iter := v.MapRange(); iter.Next(); {
			k := iter.Key()
			if wideKey && !encodesItself(k) {
				if err := check(k, depth+1); err != nil {
					return within(err, KeyStep(keyText(k)))
				}
			}
			if err := check(iter.Value(), depth+1); err != nil {
				return within(err, KeyStep(keyText(k)))
			}
		}
	case reflect.Struct:
		for _, f := range fieldsOf(v.Type()) {
			if err := check(v.Field(f.index), depth+1); err != nil {
				return within(err, f.step)
			}
		}
	}
	return nil
}

// isWide reports whether k is an integer kind wider than 53 bits.
func isWide(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

// keyText returns a map key as encoding/json writes it, for a path.
func keyText(k reflect.Value) string {
	switch k.Kind() {
	case reflect.String:
		return k.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(k.Uint(), 10)
	}
	if k.CanInterface() {
		if m, ok := k.Interface().(encoding.TextMarshaler); ok {
			if text, err := m.MarshalText(); err == nil {
				return string(text)
			}
		}
	}
	return k.String()
}

// within adds step to the path of err, an *UnsafeIntegerError, and
// returns it.
func within(err error, step string) error {
	if e, ok := err.(*UnsafeIntegerError); ok {
		e.Steps = append(e.Steps, step)
	}
	return err
}

// field is a struct field whose value joins the JSON object.
type field struct {
	index int
	// step locates its value: its property, or "" for an embedded struct
	// whose fields are promoted.
	step string
}

// fields caches the result of fieldsOf by struct type.
var fields sync.Map // reflect.Type → []field

// fieldsOf returns the fields of the struct type t that encoding/json
// encodes and that may hold a wide integer: exported fields, and embedded
// structs, but not fields tagged "-" or with the ",string" option.
func fieldsOf(t reflect.Type) []field {
	if fs, ok := fields.Load(t); ok {
		return fs.([]field)
	}
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if ft.Kind() == reflect.Pointer && ft.Name() == "" {
			ft = ft.Elem()
		}
		switch {
		case sf.Anonymous && name == "" && ft.Kind() == reflect.Struct:
			out = append(out, field{index: i})
		case !sf.IsExported():
		case hasOption(opts, "string") && isScalar(ft.Kind()):
		default:
			if name == "" {
				name = sf.Name
			}
			out = append(out, field{index: i, step: FieldStep(name)})
		}
	}
	fs, _ := fields.LoadOrStore(t, out)
	return fs.([]field)
}

// hasOption reports whether the comma-separated tag options hold opt.
func hasOption(opts, opt string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// isScalar reports whether the json ",string" option applies to k.
func isScalar(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}
