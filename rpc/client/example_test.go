package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/parley-go/parley/examples/chat/chat"
	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
	"github.com/parley-go/parley/rpc/client"
)

// The generated workflow end to end: the chat example's service,
// registered by its generated RegisterChat, pushes every message to the
// chat pages through its generated ChatPageProxy; a Go client plays a
// page, calls the service and receives the push.
func Example() {
	hub := reverse.NewHub()
	defer hub.Close()
	srv := rpc.NewServer(rpc.WithHub(hub))
	chat.RegisterChat(srv, chat.NewRoom(chat.NewChatPageProxy(hub.Page("/chat"))))
	ts := httptest.NewServer(srv)
	defer ts.Close()

	c, err := client.New(ts.URL+"/parley/", client.WithPage("/chat"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pushed := make(chan chat.Message, 1)
	go func() {
		_ = c.Run(ctx, func(m client.Message) {
			var msg chat.Message
			if m.Fn == "ChatPage.addMessage" && json.Unmarshal(m.Args[0], &msg) == nil {
				pushed <- msg
			}
		})
	}()
	for c.Session() == "" && ctx.Err() == nil { // wait until the page is open
		time.Sleep(time.Millisecond)
	}

	if err := c.Call(ctx, "Chat", "setName", nil, "Ada"); err != nil {
		fmt.Println(err)
	}
	var id int64
	if err := c.Call(ctx, "Chat", "send", &id, "hello"); err != nil {
		fmt.Println(err)
	}
	fmt.Println("sent message", id)
	select {
	case m := <-pushed:
		fmt.Printf("pushed: #%d %s: %s\n", m.ID, m.Author, m.Text)
	case <-ctx.Done():
		fmt.Println("nothing pushed")
	}

	var perr *rpc.Error
	if errors.As(c.Call(ctx, "Chat", "send", nil, ""), &perr) {
		fmt.Println("error:", perr.Code)
	}
	// Output:
	// sent message 1
	// pushed: #1 Ada: hello
	// error: invalid_argument
}
