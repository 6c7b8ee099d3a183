// Package other declares a type whose name clashes with one of refusals.
package other

// Message has the name of refusals.Message.
type Message struct {
	Body string `json:"body"`
}

// NamedPage has the name of a client interface of refusals.
type NamedPage struct{}

// Level is an enum whose name a service of refusals takes.
type Level int

// The levels.
const (
	LevelLow Level = iota
	LevelHigh
)
