package rpcgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/parley-go/parley/jsruntime"
	"github.com/parley-go/parley/rpc"
)

// Enum is the set of values of an enumerated type: a named string or
// integer type whose exported constants are its only valid values.
// Generated code declares one per enum and checks every decoded argument
// against it, so that a service method never sees a value outside the set.
// An Enum is safe for concurrent use.
type Enum[T comparable] struct {
	name   string
	values []T
}

// NewEnum returns the enum called name (its Go and TypeScript name) with
// the given values; a value given twice (two constants of one value)
// counts once.
func NewEnum[T comparable](name string, values ...T) *Enum[T] {
	e := &Enum[T]{name: name}
	for _, v := range values {
		if !slices.Contains(e.values, v) {
			e.values = append(e.values, v)
		}
	}
	return e
}

// Check returns nil if v is one of e's values, and otherwise an
// *EnumError, which ArgumentError turns into an invalid_argument error.
func (e *Enum[T]) Check(v T) error {
	if slices.Contains(e.values, v) {
		return nil
	}
	want := make([]string, len(e.values))
	for i, w := range e.values {
		want[i] = jsonText(w)
	}
	return &EnumError{Type: e.name, Value: jsonText(v), Want: want}
}

// CheckOptional is Check for a field with the omitempty or omitzero
// option, which the page may leave out: the zero value is valid too.
func (e *Enum[T]) CheckOptional(v T) error {
	var zero T
	if v == zero {
		return nil
	}
	return e.Check(v)
}

// jsonText returns v as JSON text.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// EnumError is a value outside the set of its enum, found in a decoded
// argument.
type EnumError struct {
	// Type is the enum's name, such as "Color".
	Type string
	// Value is the value found, as JSON text, such as `"purple"`.
	Value string
	// Want are the enum's values, as JSON text.
	Want []string
	// steps locate the value in the argument, innermost first.
	steps []string
}

// Path returns where the value is in the argument, such as
// "items[2].color", or "" when it is the argument itself.
func (e *EnumError) Path() string {
	var b strings.Builder
	for _, s := range slices.Backward(e.steps) {
		b.WriteString(s)
	}
	return strings.TrimPrefix(b.String(), ".")
}

// Error returns, for example, `items[2].color: "purple" is not a Color
// (want "red" or "green")`.
func (e *EnumError) Error() string {
	want := e.Want
	if len(want) > 10 {
		want = append(slices.Clip(want[:10]), "…")
	}
	msg := fmt.Sprintf("%s is not a %s (want %s)", e.Value, e.Type, orList(want))
	if p := e.Path(); p != "" {
		return p + ": " + msg
	}
	return msg
}

// orList returns "a", "a or b", or "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// at adds a step to the path of err, if it is an *EnumError or a
// *jsruntime.UnsafeIntegerError.
func at(err error, step string) error {
	var e *EnumError
	var ue *jsruntime.UnsafeIntegerError
	switch {
	case errors.As(err, &e):
		e.steps = append(e.steps, step)
	case errors.As(err, &ue):
		ue.Steps = append(ue.Steps, step)
	}
	return err
}

// AtField locates err, found by generated checks in the value of the
// JSON field name of a struct, and returns it.
func AtField(err error, name string) error { return at(err, jsruntime.FieldStep(name)) }

// AtIndex locates err, found by generated checks at index i of a slice
// or array, and returns it.
func AtIndex(err error, i int) error { return at(err, jsruntime.IndexStep(i)) }

// AtKey locates err, found by generated checks in a map at key, and
// returns it.
func AtKey[K comparable](err error, key K) error { return at(err, jsruntime.KeyStep(fmt.Sprint(key))) }

// ArgumentError returns the error of a call whose argument param holds
// the value err reports, outside its enum or an integer beyond
// ±(2^53−1): an invalid_argument *rpc.Error naming the parameter and the
// place in it.
func ArgumentError(param string, err error) error {
	return rpc.Errorf(rpc.CodeInvalidArgument, "argument %s: %s", param, err.Error())
}

// ResultError returns the error of a call whose result holds the integer
// beyond ±(2^53−1) that err reports: an out_of_range *rpc.Error naming the
// place in the result.
func ResultError(err error) error {
	return rpc.NewError(rpc.CodeOutOfRange, "result: "+err.Error())
}
