// Package other declares a type whose name clashes with one of refusals.
package other

// Message has the name of refusals.Message.
type Message struct {
	Body string `json:"body"`
}

// NamedPage has the name of a client interface of refusals.
type NamedPage struct{}
