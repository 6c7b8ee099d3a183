package refusals

// Name is text, which cannot be flags.
//
//parley:flags
type Name string

// Point is a struct.
//
//parley:flags
type Point struct{ X int }

// Mode is not what the directive is on.
type Mode int

// The modes.
//
//parley:flags
const (
	ModeA Mode = 1 << iota
	ModeB
)

// Reset has the directive of a type.
//
//parley:flags
func Reset() {}

// Alias is an alias of an integer type.
//
//parley:flags
type Alias = int

// Bits is marked twice, the second time with an argument.
//
//parley:flags
//parley:flags all
type Bits uint
