package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

// sharedTimeout bounds each request of a shared room to its bus, NATS or
// Redis.
const sharedTimeout = 5 * time.Second

// NewSharedRoom returns a room that the chat servers of a cluster share:
// its messages live in the JetStream stream NAME_CHAT (NAME is name in
// upper case) on the subject name.chat, file-stored, the latest
// HistoryKept of them kept, so every server numbers messages from one
// sequence and returns one history. It creates the stream, or binds to
// it if it exists.
//
// A message's id is its position in the stream. The pages of the cluster
// all receive the messages in one order, that of the hubs' backplane, and
// one sender's messages in the order sent; two messages sent at the same
// time through two servers may arrive in an order other than their ids.
func NewSharedRoom(pages ChatPage, nc *nats.Conn, name string) (*Room, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        strings.ToUpper(name) + "_CHAT",
		Description: "Parley chat: the room's recent messages",
		Subjects:    []string{name + ".chat"},
		Storage:     jetstream.FileStorage,
		MaxMsgs:     HistoryKept,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return nil, fmt.Errorf("chat: creating the room's stream: %w", err)
	}
	st := &sharedStore{js: js, stream: stream, subject: name + ".chat"}
	return &Room{pages: pages, now: time.Now, store: st}, nil
}

// sharedStore keeps a room's messages in a JetStream stream.
type sharedStore struct {
	js      jetstream.JetStream
	stream  jetstream.Stream
	subject string
}

// unavailable is the error a page sees when the bus of a shared room,
// NATS or Redis, cannot be reached; what went wrong is logged.
func unavailable(what string, err error) error {
	slog.Error("chat: "+what, "err", err)
	return rpc.NewError(rpc.CodeUnavailable, "the room cannot be reached; try again")
}

func (s *sharedStore) add(ctx context.Context, m Message, push func(Message)) (Message, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return Message{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	ack, err := s.js.Publish(ctx, s.subject, data)
	if err != nil {
		return Message{}, unavailable("storing a message", err)
	}
	m.ID = int64(ack.Sequence)
	push(m)
	return m, nil
}

func (s *sharedStore) recent(ctx context.Context) ([]Message, error) {
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	info, err := s.stream.Info(ctx)
	if err != nil {
		return nil, unavailable("reading the room's stream", err)
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if info.State.Msgs == 0 || last < first {
		return []Message{}, nil
	}
	if last-first+1 > HistoryKept {
		first = last - HistoryKept + 1
	}
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   first,
	})
	if err != nil {
		return nil, unavailable("reading the room's stream", err)
	}
	list := make([]Message, 0, last-first+1)
	for {
		batch, err := cons.Fetch(int(last-first+1), jetstream.FetchContext(ctx))
		if err != nil {
			return nil, unavailable("reading the room's stream", err)
		}
		for msg := range batch.Messages() {
			meta, err := msg.Metadata()
			if err != nil {
				return nil, unavailable("reading the room's stream", err)
			}
			var m Message
			if err := json.Unmarshal(msg.Data(), &m); err != nil {
				return nil, unavailable("decoding a message of the room's stream", err)
			}
			m.ID = int64(meta.Sequence.Stream)
			list = append(list, m)
			if meta.Sequence.Stream >= last {
				return list, nil
			}
		}
		if err := batch.Error(); err != nil {
			return nil, unavailable("reading the room's stream", err)
		}
	}
}

// NewClusterApp builds the chat application as one server of a cluster:
// hubOpts give its hub the backplane the servers share
// (reverse.WithBackplane), its room is the one newRoom returns for the
// hub's chat pages (NewSharedRoom on NATS, NewRedisRoom on Redis), and
// rpcOpts configure its Parley server besides, such as the cookie keys
// and HTTP session store every server shares. Close its Hub when done.
func NewClusterApp(newRoom func(pages ChatPage) (*Room, error), hubOpts []reverse.Option, rpcOpts []rpc.Option) (*App, error) {
	hub := reverse.NewHub(hubOpts...)
	room, err := newRoom(NewChatPageProxy(hub.Page("/")))
	if err != nil {
		hub.Close()
		return nil, err
	}
	return newApp(hub, room, rpcOpts...), nil
}
