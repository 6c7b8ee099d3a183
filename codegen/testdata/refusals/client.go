package refusals

import (
	"context"

	"github.com/parley-go/parley/codegen/testdata/refusals/other"
)

// Page is a client with refused methods.
//
//parley:client
type Page interface {
	WithContext(ctx context.Context, n int)
	WithResult() int
	WithValueAndError() (int, error)
	Variadic(names ...string)
	Show(v Fields)
	Name(n other.NamedPage)
	Wrap(o Outer)
}

// Fields holds fields the generator refuses.
type Fields struct {
	AsString int    `json:"n,string"`
	Callback func() `json:"cb"`
	*Inner
	A
	B
	Custom  Custom      `json:"custom"`
	Box     Box[int]    `json:"box"`
	Options CallOptions `json:"options"`
	Anon    struct{ C chan int }
}

// Outer embeds Fields, whose refusals are reported once.
type Outer struct{ Fields }

// Inner is embedded by pointer.
type Inner struct{ X int }

// A and B both have the field Dup, so json drops it.
type A struct{ Dup int }

// B is the other.
type B struct{ Dup int }

// Custom has its own JSON encoding.
type Custom struct{}

// MarshalJSON encodes c.
func (Custom) MarshalJSON() ([]byte, error) { return []byte("{}"), nil }

// Box is generic.
type Box[T any] struct{ V T }

// CallOptions clashes with the CallOptions of the .d.ts files.
type CallOptions struct{}

// NamedPage is also the name of a struct type.
//
//parley:client
type NamedPage interface{}
