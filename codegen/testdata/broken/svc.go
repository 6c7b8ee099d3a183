// Package broken uses, in a service, types that do not compile.
package broken

// Missing stands for a type that does not exist.
type Missing = Absent

// Svc uses undefined types.
//
//parley:service
type Svc interface {
	Do(x Undefined) error
	Other(m Missing) error
	Fine() error
}
