// Package chat is a chat room, the example of the generator's tests.
package chat

import (
	"context"
	"time"
)

// Chat is the chat room, called by browsers.
//
//parley:service
type Chat interface {
	// SetName sets the caller's name in the room.
	SetName(ctx context.Context, name string) error
	// Send posts text to the room and returns the message id.
	Send(ctx context.Context, text string) (int64, error)
	// History returns the messages of the room, oldest first.
	History(ctx context.Context) ([]Message, error)
}

// ChatPage is implemented in the browser by every chat page.
//
//parley:client
type ChatPage interface {
	// AddMessage shows a new message.
	AddMessage(m Message)
}

// Message is a message posted to the room.
type Message struct {
	// ID identifies the message in the room.
	ID   int64     `json:"id"`
	From string    `json:"from"`
	Text string    `json:"text"`
	At   time.Time `json:"at"` // when it was posted
}
