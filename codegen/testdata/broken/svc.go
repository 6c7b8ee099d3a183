// Package broken uses, in a service, a type that does not compile.
package broken

// Svc uses an undefined type.
//
//parley:service
type Svc interface {
	Do(x Undefined) error
	Fine() error
}
