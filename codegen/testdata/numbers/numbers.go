// Package numbers carries floats and wide integers both ways.
package numbers

import "context"

// ID is an integer type wider than 53 bits.
type ID int64

// Reading holds wide integers in every kind of place.
type Reading struct {
	ID     ID               `json:"id"`
	Value  float64          `json:"value"`
	Counts map[uint64]int64 `json:"counts,omitempty"`
	Tags   []int            `json:"tags,omitempty"`
	Text   int64            `json:"text,string,omitempty"`
	Extra  any              `json:"extra,omitempty"`
	Small  int32            `json:"small,omitempty"`
}

// Meter echoes numbers.
//
//parley:service
type Meter interface {
	// Float returns f.
	Float(ctx context.Context, f float64) (float64, error)
	Floats(fs []float64) ([]float64, error)
	// Int returns n.
	Int(n int64) (int64, error)
	// Scale returns n times by.
	Scale(n int64, by uint64) (uint64, error)
	// Read returns r with its ID times by.
	Read(r *Reading, by ID) (*Reading, error)
	Many(rs []Reading) (map[string][]Reading, error)
	// Any returns v.
	Any(v any) (any, error)
	// Wide returns n as an int64, in an any.
	Wide(n float64) (any, error)
}

// Display shows numbers.
//
//parley:client
type Display interface {
	ShowFloat(f float64) error
	ShowID(id ID) error
	ShowReading(r Reading) error
}
