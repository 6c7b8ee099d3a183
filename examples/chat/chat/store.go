package chat

import (
	"context"
	"sync"
)

// store numbers a room's messages and keeps the most recent ones.
type store interface {
	// add gives m the next id, keeps it and calls push with it; it
	// returns m as numbered.
	add(ctx context.Context, m Message, push func(Message)) (Message, error)
	// recent returns up to HistoryKept of the latest messages, oldest
	// first.
	recent(ctx context.Context) ([]Message, error)
}

// memoryStore keeps the messages of a room that lives in one process.
// It numbers and pushes each message under its lock, so every page
// receives the messages in id order.
type memoryStore struct {
	mu     sync.Mutex
	lastID int64
	kept   []Message
}

func (s *memoryStore) add(_ context.Context, m Message, push func(Message)) (Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastID++
	m.ID = s.lastID
	s.kept = append(s.kept, m)
	if len(s.kept) > HistoryKept {
		s.kept = append(s.kept[:0:0], s.kept[len(s.kept)-HistoryKept:]...)
	}
	push(m)
	return m, nil
}

func (s *memoryStore) recent(context.Context) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message{}, s.kept...), nil
}
