package natsbp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-go/parley/reverse"
)

// sub is one subscribed hub.
type sub struct {
	b       *Backplane
	id      string
	deliver func(uint64, reverse.Envelope)
	direct  func(reverse.Envelope)
	mail    *nats.Subscription
	left    atomic.Bool
	once    sync.Once

	mu      sync.Mutex                // guards the fields below
	it      jetstream.MessagesContext // what run reads now
	cons    jetstream.Consumer        // the consumer it reads
	created time.Time                 // when the stream run reads was created
	renewed time.Time                 // a newer stream that run must start over on; zero if none
}

// Subscribe implements reverse.Backplane. deliver sees the entries from
// the stream's last sequence plus one, as read when Subscribe runs. It
// fails with reverse.ErrDuplicateHub when a hub with hubID is among the
// members.
func (b *Backplane) Subscribe(hubID string, deliver func(uint64, reverse.Envelope), direct func(reverse.Envelope)) (func(), error) {
	if !validHub.MatchString(hubID) {
		return nil, fmt.Errorf("natsbp: invalid hub id %q: use letters, digits, '-', '_' and '='", hubID)
	}
	b.mu.Lock()
	_, dup := b.subs[hubID]
	closed := b.closed
	stream, members := b.stream, b.members
	b.mu.Unlock()
	switch {
	case closed:
		return nil, fmt.Errorf("natsbp: the backplane is closed")
	case dup:
		return nil, reverse.ErrDuplicateHub
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := members.Create(ctx, hubID, nil); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, reverse.ErrDuplicateHub
		}
		return nil, b.failed(fmt.Errorf("natsbp: joining the members: %w", err))
	}
	s := &sub{b: b, id: hubID, deliver: deliver, direct: direct}
	undo := func(err error) (func(), error) {
		s.leave()
		return nil, b.failed(err)
	}
	mail, err := b.nc.Subscribe(b.hubs+hubID, s.receive)
	if err != nil {
		return undo(fmt.Errorf("natsbp: subscribing to hub mail: %w", err))
	}
	s.mu.Lock()
	s.mail = mail
	s.mu.Unlock()
	info, err := stream.Info(ctx)
	if err != nil {
		return undo(fmt.Errorf("natsbp: reading the log stream: %w", err))
	}
	s.created = info.Created
	start := info.State.LastSeq + 1
	if err := s.consume(ctx, start); err != nil {
		return undo(err)
	}
	b.mu.Lock()
	if b.closed || b.subs[hubID] != nil {
		b.mu.Unlock()
		s.leave()
		if b.closed {
			return nil, fmt.Errorf("natsbp: the backplane is closed")
		}
		return nil, reverse.ErrDuplicateHub
	}
	b.subs[hubID] = s
	b.wg.Go(func() { s.run(start) })
	b.mu.Unlock()
	b.succeeded()
	return func() {
		b.mu.Lock()
		if b.subs[hubID] == s {
			delete(b.subs, hubID)
		}
		b.mu.Unlock()
		s.leave()
	}, nil
}

// consume starts reading the log from the position start, or from the
// stream's first entry if start is 0.
func (s *sub) consume(ctx context.Context, start uint64) error {
	cons, it, err := s.b.read(ctx, start)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.it, s.cons = it, cons
	s.mu.Unlock()
	if s.left.Load() {
		it.Stop()
	}
	return nil
}

// read creates a consumer of the log from the position start, or from the
// stream's first entry if start is 0, and starts reading it. The consumer
// lives on the server as long as it is read, and a minute after.
func (b *Backplane) read(ctx context.Context, start uint64, opts ...jetstream.PullMessagesOpt) (jetstream.Consumer, jetstream.MessagesContext, error) {
	cfg := jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
		Replicas:          1,
	}
	if start == 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverAllPolicy, 0
	}
	cons, err := b.js.CreateConsumer(ctx, b.streamName(), cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("natsbp: creating a consumer of the log: %w", err)
	}
	opts = append(opts, jetstream.PullExpiry(readExpiry), jetstream.PullHeartbeat(readExpiry/4), jetstream.WithMessagesErrOnMissingHeartbeat(true))
	it, err := cons.Messages(opts...)
	if err != nil {
		b.deleteConsumer(cons)
		return nil, nil, fmt.Errorf("natsbp: consuming the log: %w", err)
	}
	return cons, it, nil
}

// streamName returns the name of the log stream.
func (b *Backplane) streamName() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stream.CachedInfo().Config.Name
}

// deleteConsumer deletes a consumer that is no longer read, rather than
// leaving it to expire.
func (b *Backplane) deleteConsumer(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_ = b.js.DeleteConsumer(ctx, info.Stream, info.Name) // expires anyway
}

// run reads the log and calls deliver, one entry at a time, until the hub
// leaves. The consumer it reads is ordered: when it stops, misses a
// heartbeat or skips an entry, run reads from a new one, from the position
// after the last it delivered; or from the start of a stream that was
// recreated.
func (s *sub) run(next uint64) {
	reconnects := s.b.nc.Stats().Reconnects
	for {
		s.mu.Lock()
		it, cons := s.it, s.cons
		s.mu.Unlock()
		var seq uint64 // the consumer's sequence of the last entry read
		for it != nil {
			msg, err := it.Next()
			if err != nil {
				break
			}
			if r := s.b.nc.Stats().Reconnects; r != reconnects {
				// The stream may have been recreated while the connection
				// was down: its sequences would not be this log's.
				reconnects = r
				if s.verify() {
					break
				}
			}
			meta, err := msg.Metadata()
			if err != nil || meta.Sequence.Consumer != seq+1 {
				break // read again from next
			}
			seq = meta.Sequence.Consumer
			pos := meta.Sequence.Stream
			next = pos + 1
			env, ok := s.b.decode(pos, msg.Data())
			if ok && !s.left.Load() {
				s.deliver(pos, env)
			}
		}
		if it != nil {
			it.Stop()
			s.b.deleteConsumer(cons)
		}
		if s.left.Load() {
			return
		}
		s.mu.Lock()
		if !s.renewed.IsZero() {
			s.created, s.renewed = s.renewed, time.Time{}
			next = 0
		}
		s.it, s.cons = nil, nil
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := s.consume(ctx, next)
		cancel()
		if err != nil {
			s.b.failed(err)
			select {
			case <-time.After(tick):
			case <-s.b.stop:
				return
			}
		}
	}
}

// verify checks that the stream is the one the subscription reads, and
// reports whether it is not, having marked it renewed.
func (s *sub) verify() bool {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	s.b.mu.Lock()
	stream := s.b.stream
	s.b.mu.Unlock()
	info, err := stream.Info(ctx)
	if err != nil {
		return false // the next check of the stream decides
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if info.Created.Equal(s.created) {
		return false
	}
	s.renewed = info.Created
	return true
}

// streamIs tells the subscription when the stream was created; if that
// is not the stream it reads, it starts over on this one.
func (s *sub) streamIs(created time.Time) {
	s.mu.Lock()
	it := s.it
	stale := !created.Equal(s.created) && !created.Equal(s.renewed)
	if stale {
		s.renewed = created
	}
	s.mu.Unlock()
	if stale && it != nil {
		s.b.log.Warn("natsbp: the log stream was recreated; positions start over", "hub", s.id)
		it.Stop()
	}
}

// receive handles a message of the hub's mail.
func (s *sub) receive(msg *nats.Msg) {
	if s.left.Load() {
		return
	}
	var env reverse.Envelope
	if err := json.Unmarshal(msg.Data, &env); err != nil {
		s.b.log.Error("natsbp: malformed direct envelope dropped", "hub", s.id, "err", err)
		return
	}
	s.direct(env)
}

// leave stops the subscription's mail and log and removes it from the
// members. It does not wait for a deliver or direct call under way.
func (s *sub) leave() {
	s.once.Do(func() {
		s.left.Store(true)
		s.mu.Lock()
		mail, it := s.mail, s.it
		s.mu.Unlock()
		if mail != nil {
			_ = mail.Unsubscribe() // fails only on a closed connection
		}
		if it != nil {
			it.Stop()
		}
		s.b.mu.Lock()
		members := s.b.members
		s.b.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		if err := members.Delete(ctx, s.id); err != nil {
			s.b.log.Warn("natsbp: leaving the members failed; the key expires", "hub", s.id, "err", err)
		}
	})
}
