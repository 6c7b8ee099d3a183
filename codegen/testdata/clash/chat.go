// Package clash declares names that the generated code would declare too.
package clash

import "context"

// Chat is a service.
//
//parley:service
type Chat interface {
	Send(ctx context.Context, text string) error
}

// ChatPage is a client.
//
//parley:client
type ChatPage interface {
	AddMessage(text string)
}
