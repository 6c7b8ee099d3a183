// Package refusals holds every declaration the generator refuses.
package refusals

import (
	"context"
	"unsafe"

	"github.com/parley-go/parley/codegen/testdata/refusals/other"
)

// Bad has methods with unsupported parameters and results.
//
//parley:service
type Bad interface {
	Chan(c chan int) error
	Func(f func()) error
	Any(v any) error
	Iface(v interface{ M() }) error
	Complex(c complex128) error
	Unsafe(p unsafe.Pointer) error
	Array(a [4]int) error
	IntKeys(m map[int]string) error
	NestedChan(m map[string][]chan int) error
	NoResults()
	OnlyValue() int
	TwoValues() (int, string, error)
	ErrorFirst() (error, int)
	BadResult() (chan int, error)
	CtxSecond(id int, ctx context.Context) error
	Variadic(ctx context.Context, ids ...int) error
	Clash(other.Message, Message) error
	URLs() error
	Urls() error
	unexported() error
}

// Message is fine, but shares its name with other.Message.
type Message struct {
	Text string `json:"text"`
}

// Embeds embeds an interface.
//
//parley:service
type Embeds interface {
	context.Context
	Do() error
}

// Generic is generic.
//
//parley:service
type Generic[T any] interface {
	Get() (T, error)
}

// NotIface is a struct.
//
//parley:service
type NotIface struct{}

// Twice has two directives.
//
//parley:service
//parley:client
type Twice interface{}

// Typo has an unknown directive.
//
//parley:sevice
type Typo interface{}

//parley:service
type (
	// Grouped is in a type group whose doc has the directive.
	Grouped interface{}
)
