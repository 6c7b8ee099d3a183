package types

import (
	"encoding/json"
	"net/netip"
)

// Custom has its own JSON encoding.
type Custom struct{ v int }

// MarshalJSON encodes c as a number.
func (c Custom) MarshalJSON() ([]byte, error) { return json.Marshal(c.v) }

// UnmarshalJSON decodes a number.
func (c *Custom) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &c.v) }

// Meta is embedded by pointer: its fields are promoted, and absent when
// the pointer is nil.
type Meta struct {
	Owner string `json:"owner"`
}

// Grade is a named integer without constants: a plain number.
type Grade uint8

// Extra uses the shapes of JSON beyond plain structs.
type Extra struct {
	*Meta
	Fixed   [3]float64      `json:"fixed"`
	Matrix  [2][2]int       `json:"matrix"`
	ByCode  map[int]string  `json:"byCode"`
	ByU64   map[uint64]bool `json:"byU64"`
	ByAddr  map[netip.Addr]int
	Any     any             `json:"any"`
	Old     interface{}     `json:"old,omitempty"`
	Raw     json.RawMessage `json:"raw"`
	Custom  Custom          `json:"custom"`
	Customs []*Custom       `json:"customs"`
	Big     int64           `json:"big,string"`
	Flag    *bool           `json:"flag,string"`
	Grade   Grade           `json:"grade"`
	Unit    struct{}        `json:"unit"`
	// Amount is a number kept as its decimal text in Go.
	Amount json.Number `json:"amount"`
}

// Extras is a service of the shapes of Extra.
//
//parley:service
type Extras interface {
	// Echo returns what it gets.
	Echo(e Extra) (Extra, error)
	Fixed(v [4]string, any any) (map[int64][]byte, error)
	Raw(r json.RawMessage) (json.RawMessage, error)
}
