// Package enums uses enums in every place the generated code checks them.
package enums

import (
	"context"

	"github.com/parley-go/parley/codegen/testdata/enums/level"
)

// Color is a color of the palette.
type Color string

// The colors. ColorDefault is another name of red.
const (
	ColorRed     Color = "red"
	ColorGreen   Color = "green"
	ColorDefault Color = "red"
)

// Size has constants not named after it.
type Size int

// The sizes.
const (
	Small Size = iota + 1
	Medium
	Large
)

// Perm is a set of bit flags, not an enum: any combination of its
// constants is a valid value.
//
//parley:flags
type Perm uint8

// The permissions.
const (
	PermNone Perm = 0
	Read     Perm = 1 << (iota - 1)
	Write
	Exec
)

// Day is an enum although its constants are powers of two: it is not
// marked as flags.
type Day int

// The days.
const (
	Mon Day = 1 << iota
	Tue
	Wed
)

// Task has enum fields the page may leave out.
type Task struct {
	Prio  Size `json:"prio,omitempty"`
	Due   Day  `json:"due,omitzero"`
	Color Color
	Tint  Color `json:"tint,omitempty"`
}

// Base is embedded by pointer.
type Base struct {
	// Tint is promoted into Shape.
	Tint Color `json:"tint"`
}

// Shape holds enums in every kind of place.
type Shape struct {
	*Base
	Color  Color            `json:"color"`
	Size   *Size            `json:"size,omitempty"`
	Layers []Color          `json:"layers"`
	ByName map[string]Color `json:"byName"`
	Counts map[Color]int    `json:"counts"`
	Grid   [2][2]Size       `json:"grid"`
	Kids   []*Shape         `json:"kids"`
	Level  level.Level      `json:"level"`
	Quoted Size             `json:"quoted,string"`
	Plain  string           `json:"plain"`
	Inline struct {
		C Color `json:"c"`
	} `json:"inline"`
}

// Palette paints shapes.
//
//parley:service
type Palette interface {
	// Paint returns the color it was given.
	Paint(ctx context.Context, c Color) (Color, error)
	Sized(s Size) (Size, error)
	// Shapes returns how many shapes it got.
	Shapes(shapes []Shape) (int, error)
	ByColor(m map[Color][]*Shape) error
	Urgent(l *level.Level) error
	Fixed(sizes [3]Size) error
	Plain(s string, n int) (string, error)
	// Chmod takes and returns permissions, combined.
	Chmod(p Perm) (Perm, error)
	Plan(t Task, on Day) error
	Mask(m level.Mask) (level.Mask, error)
}

// Screen shows colors.
//
//parley:client
type Screen interface {
	// Show shows a shape in a color.
	Show(c Color, s Shape)
}
