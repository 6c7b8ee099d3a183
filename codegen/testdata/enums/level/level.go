// Package level declares an integer enum that the enums case imports.
package level

// Level is how urgent something is.
type Level int

// The levels.
const (
	Low  Level = -1
	Mid  Level = 0
	High Level = 1
)

// Mask is a set of bit flags.
//
//parley:flags
type Mask uint16

// The masks.
const (
	MaskA Mask = 1 << iota
	MaskB
)
