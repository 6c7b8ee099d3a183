// Package chat is Parley's example chat room: a service browsers call to
// send messages, and a client interface through which every open chat
// page receives them.
package chat

//go:generate go tool parleygen

import (
	"context"
	"time"

	"github.com/parley-go/parley/examples/internal/site"
	"github.com/parley-go/parley/rpc"
)

// Message is one message posted to the room.
type Message struct {
	// ID numbers messages in the order the room accepted them, from 1.
	ID int64 `json:"id"`
	// Author is the name the sender chose, or "anonymous".
	Author string `json:"author"`
	// Text is the message as sent, trimmed of surrounding space.
	Text string `json:"text"`
	// At is when the room accepted the message.
	At time.Time `json:"at"`
}

// Chat is the room's service, called from the page.
//
//parley:service
type Chat interface {
	// SetName sets the name the caller's messages are signed with. It is
	// kept in the HTTP session, so every tab of one browser shares it.
	SetName(ctx context.Context, name string) error
	// Send posts text to the room and returns the new message's id.
	Send(ctx context.Context, text string) (int64, error)
	// History returns the most recent messages, oldest first.
	History(ctx context.Context) ([]Message, error)
}

// ChatPage is implemented in the browser by every open chat page.
//
//parley:client
type ChatPage interface {
	// AddMessage shows a newly posted message.
	AddMessage(m Message)
}

// Limits on what the room accepts and keeps.
const (
	MaxNameLen  = 40   // characters in a name
	MaxTextLen  = 2000 // characters in a message
	HistoryKept = 200  // messages History returns at most
)

const nameKey = "chat.name"

// Room implements Chat: it keeps recent history and pushes every new
// message to the pages it was given. It is safe for concurrent use.
type Room struct {
	pages ChatPage
	now   func() time.Time
	store store // numbers and keeps the messages
}

// NewRoom returns an empty room that pushes new messages to pages and
// keeps its messages in memory.
func NewRoom(pages ChatPage) *Room {
	return &Room{pages: pages, now: time.Now, store: &memoryStore{}}
}

// SetName implements Chat.
func (r *Room) SetName(ctx context.Context, name string) error {
	name, err := site.Text("a name", name, MaxNameLen)
	if err != nil {
		return err
	}
	rpc.CallFrom(ctx).SetSessionValue(nameKey, name)
	return nil
}

// Send implements Chat. The room's store numbers the message and keeps
// it, then it is pushed to every page (see NewRoom and NewSharedRoom for
// the order pages receive them in).
func (r *Room) Send(ctx context.Context, text string) (int64, error) {
	text, err := site.Text("a message", text, MaxTextLen)
	if err != nil {
		return 0, err
	}
	author, _ := rpc.CallFrom(ctx).SessionValue(nameKey).(string)
	if author == "" {
		author = "anonymous"
	}
	m, err := r.store.add(ctx, Message{Author: author, Text: text, At: r.now().UTC()}, r.pages.AddMessage)
	if err != nil {
		return 0, err
	}
	return m.ID, nil
}

// History implements Chat.
func (r *Room) History(ctx context.Context) ([]Message, error) {
	return r.store.recent(ctx)
}
