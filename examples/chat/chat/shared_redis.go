package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// appendScript numbers a message and appends it to the room's stream in
// one step, so that no other message can come between: KEYS are the
// counter and the stream, ARGV the message as JSON and how many messages
// the stream keeps. It returns the message's id.
var appendScript = redis.NewScript(`
local id = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], '0-' .. id, 'm', ARGV[1])
return id
`)

// NewRedisRoom returns a room that the chat servers of a cluster share
// through Redis: its messages live in the stream NAME:chat:log, the latest
// HistoryKept of them kept, each at the entry id 0-ID, ID being the
// message's id; the counter NAME:chat:seq (NAME being name) numbers them.
// A Lua script increments the counter and appends the message in one
// step, so every server numbers messages from one sequence and returns
// one history. On Redis Cluster, put a hash tag in name, as in "{parley}",
// so that both keys live in one slot. The messages are as durable as
// Redis makes them (its append-only file).
//
// A message's id is its position in the room. The pages of the cluster
// all receive the messages in one order, that of the hubs' backplane, and
// one sender's messages in the order sent; two messages sent at the same
// time through two servers may arrive in an order other than their ids.
func NewRedisRoom(pages ChatPage, rdb redis.UniversalClient, name string) (*Room, error) {
	if rdb == nil {
		return nil, errors.New("chat: nil Redis client")
	}
	if name == "" {
		return nil, errors.New("chat: the room needs a name")
	}
	st := &redisStore{rdb: rdb, seq: name + ":chat:seq", log: name + ":chat:log"}
	return &Room{pages: pages, now: time.Now, store: st}, nil
}

// redisStore keeps a room's messages in a Redis stream.
type redisStore struct {
	rdb      redis.UniversalClient
	seq, log string // the keys of the counter and of the stream
}

func (s *redisStore) add(ctx context.Context, m Message, push func(Message)) (Message, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return Message{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	id, err := appendScript.Run(ctx, s.rdb, []string{s.seq, s.log}, data, HistoryKept).Int64()
	if err != nil {
		return Message{}, unavailable("storing a message", err)
	}
	m.ID = id
	push(m)
	return m, nil
}

func (s *redisStore) recent(ctx context.Context) ([]Message, error) {
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	entries, err := s.rdb.XRevRangeN(ctx, s.log, "+", "-", HistoryKept).Result()
	if err != nil {
		return nil, unavailable("reading the room's stream", err)
	}
	list := make([]Message, 0, len(entries))
	for _, e := range slices.Backward(entries) {
		m, err := decodeEntry(e)
		if err != nil {
			return nil, unavailable("decoding a message of the room's stream", err)
		}
		list = append(list, m)
	}
	return list, nil
}

// decodeEntry returns the message that the stream entry e holds.
func decodeEntry(e redis.XMessage) (Message, error) {
	pos, ok := strings.CutPrefix(e.ID, "0-")
	id, err := strconv.ParseInt(pos, 10, 64)
	if !ok || err != nil {
		return Message{}, fmt.Errorf("the entry id %q is not a message's", e.ID)
	}
	data, _ := e.Values["m"].(string)
	var m Message
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		return Message{}, fmt.Errorf("the entry %s: %w", e.ID, err)
	}
	m.ID = id
	return m, nil
}
