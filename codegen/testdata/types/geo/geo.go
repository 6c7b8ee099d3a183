// Package geo is a package whose types the types case imports.
package geo

// Point is a point on a map.
type Point struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}
