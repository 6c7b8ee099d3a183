package redisbp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-go/parley/reverse"
	"github.com/redis/go-redis/v9"
)

// hubConn is one hub subscribed through a Backplane: a goroutine reading
// the log and one reading the hub's channel.
type hubConn struct {
	b       *Backplane
	id      string
	deliver func(uint64, reverse.Envelope)
	direct  func(reverse.Envelope)
	ps      *redis.PubSub
	wakeKey string // a stream the log reader also waits on; leave writes to it

	ctx     context.Context // canceled by leave
	cancel  context.CancelFunc
	stopped atomic.Bool
	once    sync.Once

	deliverMu sync.Mutex // held while deliver runs
	directMu  sync.Mutex // held while direct runs

	// The log reader's state, its own.
	cursor     uint64 // the position read up to
	tag        string // the tag of the entry at cursor
	epoch      string // the epoch the entries read belong to
	unverified bool   // accept the next entry without checking its chain
}

// Subscribe implements reverse.Backplane. It takes three round trips:
// one adds the hub to the membership list, one reads where the log ends
// and one subscribes to the hub's channel. It fails with
// reverse.ErrDuplicateHub while a hub of that id is a member.
func (b *Backplane) Subscribe(hubID string, deliver func(uint64, reverse.Envelope), direct func(reverse.Envelope)) (func(), error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errors.New("redisbp: the backplane is closed")
	}
	if _, dup := b.hubs[hubID]; dup {
		b.mu.Unlock()
		return nil, reverse.ErrDuplicateHub
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(b.ctx, opTimeout)
	defer cancel()
	joined, err := joinScript.Run(ctx, b.rdb, []string{b.keyMembers}, hubID, memberTTL.Milliseconds()).Int()
	if err != nil {
		return nil, fmt.Errorf("redisbp: subscribe: %w", err)
	}
	if joined == 0 {
		return nil, reverse.ErrDuplicateHub
	}
	h := &hubConn{b: b, id: hubID, deliver: deliver, direct: direct, wakeKey: b.prefix + ":wake:" + hubID + ":" + newTag()}
	fail := func(err error) (func(), error) {
		b.rdb.ZRem(ctx, b.keyMembers, hubID)
		return nil, fmt.Errorf("redisbp: subscribe: %w", err)
	}
	vals, err := b.rdb.MGet(ctx, b.keySeq, b.keyTail, b.keyEpoch).Result()
	if err != nil {
		return fail(err)
	}
	var seq uint64
	if s, ok := vals[0].(string); ok {
		if _, err := fmt.Sscan(s, &seq); err != nil {
			return fail(fmt.Errorf("the counter %s holds %q", b.keySeq, s))
		}
	}
	h.cursor = seq
	h.tag, _ = vals[1].(string)
	h.epoch, _ = vals[2].(string)
	h.ps = b.rdb.Subscribe(ctx, b.channel(hubID))
	if _, err := h.ps.Receive(ctx); err != nil {
		h.ps.Close()
		return fail(err)
	}
	b.mu.Lock()
	if b.closed || b.hubs[hubID] != nil {
		closed := b.closed
		b.mu.Unlock()
		h.ps.Close()
		if closed {
			return fail(errors.New("the backplane is closed"))
		}
		return nil, reverse.ErrDuplicateHub
	}
	b.hubs[hubID] = h
	h.ctx, h.cancel = context.WithCancel(b.ctx)
	b.wg.Go(h.readLog)
	b.wg.Go(h.readDirect)
	b.mu.Unlock()
	return h.leave, nil
}

// leave stops the hub's deliveries, waits for a running deliver or direct
// call to return, and removes the hub from the membership list. It must
// not be called from the hub's deliver or direct function.
func (h *hubConn) leave() {
	h.once.Do(func() {
		h.stopped.Store(true)
		h.cancel()
		b := h.b
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		b.refreshMu.Lock()
		b.mu.Lock()
		if b.hubs[h.id] == h {
			delete(b.hubs, h.id)
		}
		b.mu.Unlock()
		// Wakes the log reader from its XREAD.
		_, _ = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.XAdd(ctx, &redis.XAddArgs{Stream: h.wakeKey, Values: []string{"leave", "1"}})
			p.PExpire(ctx, h.wakeKey, time.Minute)
			p.ZRem(ctx, b.keyMembers, h.id)
			return nil
		})
		b.refreshMu.Unlock()
		h.ps.Close()
		// Waits for a running deliver and direct to return.
		h.deliverMu.Lock()
		h.deliverMu.Unlock()
		h.directMu.Lock()
		h.directMu.Unlock()
	})
}

// readDirect hands the envelopes on the hub's channel to direct, one at
// a time. go-redis subscribes again after a lost connection; what was
// sent meanwhile is lost, as Send allows.
func (h *hubConn) readDirect() {
	for !h.stopped.Load() {
		msg, err := h.ps.ReceiveMessage(h.ctx)
		if err != nil {
			if h.stopped.Load() {
				return
			}
			h.pause()
			continue
		}
		var env reverse.Envelope
		if err := json.Unmarshal([]byte(msg.Payload), &env); err != nil {
			h.b.log.Error("parley: malformed envelope on the Redis backplane dropped", "hub", h.id, "err", err)
			continue
		}
		h.directMu.Lock()
		if !h.stopped.Load() {
			h.direct(env)
		}
		h.directMu.Unlock()
	}
}

// readLog reads the log from the cursor and delivers its entries, one
// XREAD round trip per batch of up to readBatch entries. It checks that
// each batch continues the entries it read, by the chain of tags, and
// after every failure and idle wait that the counter did not go back or
// a new epoch start; where the log changed under it, it reads on from
// where the log holds entries it has not delivered, and the positions it
// delivers go back or skip, which tells the hub that entries were lost.
func (h *hubConn) readLog() {
	b := h.b
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		b.rdb.Del(ctx, h.wakeKey)
	}()
	check := false
	for !h.stopped.Load() {
		if check {
			if err := h.resync(false); err != nil {
				h.pause()
				continue
			}
			check = false
		}
		streams, err := b.rdb.XRead(h.ctx, &redis.XReadArgs{
			Streams: []string{b.keyLog, h.wakeKey, id(h.cursor), "0-0"},
			Count:   readBatch,
			Block:   waitBlock,
		}).Result()
		if h.stopped.Load() {
			return
		}
		if errors.Is(err, redis.Nil) {
			check = true
			continue
		}
		if err != nil {
			check = true
			h.pause()
			continue
		}
		for _, s := range streams {
			if s.Stream == h.wakeKey {
				return
			}
		}
		for _, s := range streams {
			if s.Stream == b.keyLog && len(s.Messages) > 0 {
				if !h.take(s.Messages) {
					if err := h.resync(true); err != nil {
						check = true
						h.pause()
					}
				}
			}
		}
	}
}

// take delivers a batch read from the log. It delivers nothing and
// returns false when the batch does not continue what the reader read.
func (h *hubConn) take(msgs []redis.XMessage) bool {
	first, ok := position(msgs[0].ID)
	if !h.unverified && (!ok || first != h.cursor+1 || field(msgs[0], fieldPrev) != h.tag) {
		return false
	}
	h.unverified = false
	for _, m := range msgs {
		pos, env, err := decode(m)
		if pos == 0 {
			h.b.log.Error("parley: Redis backplane skipped an entry that is not a log position", "id", m.ID)
			continue
		}
		h.cursor, h.tag = pos, field(m, fieldTag)
		if pos == 1 {
			h.epoch = h.tag
		}
		if err != nil {
			h.b.log.Error("parley: malformed entry on the Redis backplane dropped", "pos", pos, "err", err)
			continue
		}
		h.deliverMu.Lock()
		if h.stopped.Load() {
			h.deliverMu.Unlock()
			return true
		}
		h.deliver(pos, env)
		h.deliverMu.Unlock()
	}
	return true
}

// resync reads the log's counter and epoch and moves the cursor where the
// log changed: to its start when a new epoch began, back to the counter
// when the counter went back. mismatch says that the entries after the
// cursor do not continue the ones read: then the reader reads on from
// before the cursor.
func (h *hubConn) resync(mismatch bool) error {
	b := h.b
	ctx, cancel := context.WithTimeout(h.ctx, opTimeout)
	defer cancel()
	vals, err := b.rdb.MGet(ctx, b.keySeq, b.keyEpoch).Result()
	if err != nil {
		return err
	}
	var seq uint64
	if s, ok := vals[0].(string); ok {
		if _, err := fmt.Sscan(s, &seq); err != nil {
			return fmt.Errorf("the counter %s holds %q", b.keySeq, s)
		}
	}
	epoch, _ := vals[1].(string)
	switch {
	case epoch != h.epoch:
		b.log.Warn("parley: the Redis backplane's log started again", "hub", h.id, "after", h.cursor)
		h.cursor, h.tag, h.epoch, h.unverified = 0, "", epoch, false
	case seq < h.cursor:
		b.log.Warn("parley: the Redis backplane's log lost entries", "hub", h.id, "after", seq, "read", h.cursor)
		h.cursor, h.unverified = seq, true
	case mismatch:
		b.log.Warn("parley: the Redis backplane's log changed under a reader", "hub", h.id, "at", h.cursor)
		h.cursor, h.unverified = max(h.cursor, 1)-1, true
	}
	return nil
}

// pause waits a moment after a failure of Redis, or until leave.
func (h *hubConn) pause() {
	select {
	case <-h.ctx.Done():
	case <-time.After(retryPause):
	}
}
