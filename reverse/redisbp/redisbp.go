package redisbp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-go/parley/reverse"
	"github.com/redis/go-redis/v9"
)

// Timings of the membership list.
const (
	// refreshEvery is how often a backplane renews the membership of its
	// hubs and checks that Redis answers.
	refreshEvery = time.Second
	// memberTTL is how long a membership lasts without renewal.
	memberTTL = 5 * time.Second
	// opTimeout bounds each command the background loops send.
	opTimeout = 2 * time.Second
	// waitBlock is how long a subscriber's XREAD blocks before it checks
	// that the log did not start again.
	waitBlock = 2 * time.Second
	// readBatch is how many entries a subscriber reads per round trip.
	readBatch = 512
	// replayBatch is how many entries Replay reads per round trip.
	replayBatch = 1024
	// retryPause is how long a subscriber waits after Redis failed.
	retryPause = 200 * time.Millisecond
	// receiptTTL is how long Redis remembers an appended entry's tag, so
	// that the client's retries of an append whose reply was lost do not
	// append it again: longer than the client's retries last.
	receiptTTL = 30 * time.Second
)

// Entry fields: the envelope as JSON, the entry's random tag and the tag
// of the entry before it, which chain the log so that a reader notices
// when Redis lost entries it had read.
const (
	fieldEnvelope = "e"
	fieldTag      = "t"
	fieldPrev     = "p"
)

// appendScript appends an entry to the log: KEYS are seq, log, tail,
// epoch and the entry's receipt; ARGV the envelope, the MAXLEN threshold,
// the new entry's tag and how long the receipt lasts in milliseconds.
// When the counter is missing but the stream is not (the counter was
// deleted or evicted), it carries on after the stream's last entry; when
// both are missing the log starts a new epoch named by its first tag.
//
// The receipt makes a repeated append of one entry (the client sending
// the script again after the reply was lost) return the first one's
// position instead of appending it twice.
var appendScript = redis.NewScript(`
local done = redis.call('GET', KEYS[5])
if done then
	return tonumber(done)
end
local n = redis.call('INCR', KEYS[1])
if n == 1 then
	local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
	if top[1] then
		local last = string.match(top[1][1], '^0%-(%d+)$')
		if not last then
			return redis.error_reply('parley: the log holds an entry of another format: ' .. top[1][1])
		end
		n = tonumber(last) + 1
		redis.call('SET', KEYS[1], n)
	else
		redis.call('SET', KEYS[4], ARGV[3])
	end
end
local prev = redis.call('GET', KEYS[3]) or ''
redis.call('SET', KEYS[3], ARGV[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], string.format('0-%d', n),
	'e', ARGV[1], 't', ARGV[3], 'p', prev)
redis.call('SET', KEYS[5], n, 'PX', ARGV[4])
return n
`)

// joinScript adds a hub to the membership list unless an unexpired hub of
// that id is in it: KEYS is the set; ARGV the id and the TTL in ms. It
// returns 0 for a duplicate.
var joinScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) > now then
	return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
`)

// refreshScript renews memberships and drops the expired ones: KEYS is
// the set; ARGV the TTL in ms, then the ids.
var refreshScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 2, #ARGV do
	redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i])
end
return 1
`)

// membersScript lists the unexpired members: KEYS is the set.
var membersScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
`)

// Backplane is a reverse.Backplane on Redis: a stream for the log,
// pub/sub for Send, a sorted set for the membership list and plain keys
// for records. It is safe for concurrent use.
type Backplane struct {
	rdb     redis.UniversalClient
	prefix  string
	history int64
	log     *slog.Logger

	keySeq, keyLog, keyTail, keyEpoch, keyMembers string

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine started

	// refreshMu orders renewals of the memberships with leaving, so that
	// a renewal does not put back a hub that left.
	refreshMu sync.Mutex

	mu     sync.Mutex          // guards below
	hubs   map[string]*hubConn // subscribed through this backplane
	err    error               // from the last check of Redis
	closed bool
}

// Option configures a Backplane.
type Option func(*Backplane)

// WithPrefix sets the prefix of every key and channel. Default "parley".
// Backplanes share a log when they share Redis and prefix. On Redis
// Cluster, put a hash tag in it, as in "{parley}", so that all the keys
// live in one slot.
func WithPrefix(prefix string) Option { return func(b *Backplane) { b.prefix = prefix } }

// WithHistory sets about how many entries the log keeps for Replay.
// Redis trims the stream to no fewer than that, in whole nodes of the
// stream (MAXLEN ~). Default 1,000,000.
func WithHistory(maxEntries int64) Option { return func(b *Backplane) { b.history = maxEntries } }

// WithLogger sets the logger for entries it cannot decode and for Redis
// failures. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(b *Backplane) { b.log = l } }

// New returns a backplane on client, which stays the caller's to close
// after Close. It checks that Redis answers before it returns, but does
// not fail when it does not: Err reports it until Redis answers.
func New(client redis.UniversalClient, opts ...Option) (*Backplane, error) {
	b := &Backplane{
		rdb:     client,
		prefix:  "parley",
		history: 1_000_000,
		log:     slog.Default(),
		hubs:    map[string]*hubConn{},
	}
	for _, o := range opts {
		o(b)
	}
	if client == nil {
		return nil, errors.New("redisbp: nil client")
	}
	if b.prefix == "" {
		return nil, errors.New("redisbp: empty prefix")
	}
	if b.history < 1 {
		return nil, fmt.Errorf("redisbp: history of %d entries, want at least 1", b.history)
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.keySeq = b.prefix + ":seq"
	b.keyLog = b.prefix + ":log"
	b.keyTail = b.prefix + ":tail"
	b.keyEpoch = b.prefix + ":epoch"
	b.keyMembers = b.prefix + ":members"
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.refresh()
	b.wg.Go(b.refreshLoop)
	return b, nil
}

// Close leaves every hub still subscribed through b and stops every
// goroutine b started. It does not close the Redis client. It must not be
// called from a deliver or direct function.
func (b *Backplane) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	hubs := make([]*hubConn, 0, len(b.hubs))
	for _, h := range b.hubs {
		hubs = append(hubs, h)
	}
	b.mu.Unlock()
	for _, h := range hubs {
		h.leave()
	}
	b.cancel()
	b.wg.Wait()
	return nil
}

// refreshLoop renews the memberships of b's hubs, or pings Redis when
// there are none, every refreshEvery, and records whether Redis answered.
func (b *Backplane) refreshLoop() {
	t := time.NewTicker(refreshEvery)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
			b.refresh()
		}
	}
}

// refresh is one round of refreshLoop.
func (b *Backplane) refresh() {
	b.refreshMu.Lock()
	defer b.refreshMu.Unlock()
	b.mu.Lock()
	ids := make([]any, 0, len(b.hubs)+1)
	ids = append(ids, memberTTL.Milliseconds())
	for id := range b.hubs {
		ids = append(ids, id)
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(b.ctx, opTimeout)
	defer cancel()
	var err error
	if len(ids) > 1 {
		err = refreshScript.Run(ctx, b.rdb, []string{b.keyMembers}, ids...).Err()
	} else {
		err = b.rdb.Ping(ctx).Err()
	}
	if b.ctx.Err() != nil {
		return
	}
	if err != nil {
		err = fmt.Errorf("redisbp: Redis does not answer: %w", err)
	}
	b.mu.Lock()
	if (err == nil) != (b.err == nil) {
		if err != nil {
			b.log.Error("parley: Redis backplane lost Redis", "err", err)
		} else {
			b.log.Info("parley: Redis backplane reached Redis again")
		}
	}
	b.err = err
	b.mu.Unlock()
}

// Err implements reverse.Backplane: the failure of the last check of
// Redis, made every second, or nil.
func (b *Backplane) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Publish implements reverse.Backplane in one round trip: a script that
// numbers the entry and appends it to the stream.
func (b *Backplane) Publish(env reverse.Envelope) (uint64, error) {
	data, err := json.Marshal(env)
	if err != nil {
		return 0, fmt.Errorf("redisbp: encode envelope: %w", err)
	}
	tag := newTag()
	n, err := appendScript.Run(b.ctx, b.rdb, []string{b.keySeq, b.keyLog, b.keyTail, b.keyEpoch, b.prefix + ":pub:" + tag},
		data, b.history, tag, receiptTTL.Milliseconds()).Uint64()
	if err != nil {
		return 0, fmt.Errorf("redisbp: publish: %w", err)
	}
	return n, nil
}

// Send implements reverse.Backplane in one round trip: a PUBLISH on the
// hub's channel. An envelope for a hub that is not subscribed is dropped.
func (b *Backplane) Send(hubID string, env reverse.Envelope) error {
	data, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("redisbp: encode envelope: %w", err)
	}
	if err := b.rdb.Publish(b.ctx, b.channel(hubID), data).Err(); err != nil {
		return fmt.Errorf("redisbp: send: %w", err)
	}
	return nil
}

// channel is the pub/sub channel of hub id.
func (b *Backplane) channel(id string) string { return b.prefix + ":hub:" + id }

// recordKey is the key of the record key.
func (b *Backplane) recordKey(key string) string { return b.prefix + ":rec:" + key }

// Replay implements reverse.Backplane, in one round trip per 1,024
// entries.
func (b *Backplane) Replay(ctx context.Context, from, to uint64, fn func(pos uint64, env reverse.Envelope) error) error {
	if from == 0 {
		return reverse.ErrHistoryGone
	}
	next := from
	for first := true; next <= to; first = false {
		if err := ctx.Err(); err != nil {
			return err
		}
		var (
			msgs []redis.XMessage
			head []redis.XMessage
			seq  uint64
			err  error
		)
		if first {
			// With the stream's first entry and counter, to tell a range
			// the log dropped from one it does not hold yet.
			var rng, top *redis.XMessageSliceCmd
			var cnt *redis.StringCmd
			_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				rng = p.XRangeN(ctx, b.keyLog, id(next), id(to), replayBatch)
				top = p.XRangeN(ctx, b.keyLog, "-", "+", 1)
				cnt = p.Get(ctx, b.keySeq)
				return nil
			})
			if err != nil && !errors.Is(err, redis.Nil) {
				return fmt.Errorf("redisbp: replay: %w", err)
			}
			msgs, head = rng.Val(), top.Val()
			seq, _ = cnt.Uint64()
			if len(head) == 0 {
				if from <= seq {
					return reverse.ErrHistoryGone
				}
				return nil
			}
			if p, ok := position(head[0].ID); !ok || p > from {
				return reverse.ErrHistoryGone
			}
		} else {
			msgs, err = b.rdb.XRangeN(ctx, b.keyLog, id(next), id(to), replayBatch).Result()
			if err != nil {
				return fmt.Errorf("redisbp: replay: %w", err)
			}
		}
		if len(msgs) == 0 {
			return nil
		}
		for _, m := range msgs {
			pos, env, err := decode(m)
			if err != nil {
				return fmt.Errorf("redisbp: replay entry %s: %w", m.ID, err)
			}
			if pos != next {
				// An entry in the range was deleted.
				return reverse.ErrHistoryGone
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(pos, env); err != nil {
				return err
			}
			next++
		}
		if len(msgs) < replayBatch {
			return nil
		}
	}
	return nil
}

// Members implements reverse.Backplane in one round trip.
func (b *Backplane) Members() ([]string, error) {
	ids, err := membersScript.Run(b.ctx, b.rdb, []string{b.keyMembers}).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisbp: members: %w", err)
	}
	return ids, nil
}

// Save implements reverse.Backplane in one round trip.
func (b *Backplane) Save(key string, value []byte) error {
	if err := b.rdb.Set(b.ctx, b.recordKey(key), value, 0).Err(); err != nil {
		return fmt.Errorf("redisbp: save: %w", err)
	}
	return nil
}

// Load implements reverse.Backplane in one round trip.
func (b *Backplane) Load(key string) ([]byte, error) {
	v, err := b.rdb.Get(b.ctx, b.recordKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, reverse.ErrNoRecord
	}
	if err != nil {
		return nil, fmt.Errorf("redisbp: load: %w", err)
	}
	return v, nil
}

// Delete implements reverse.Backplane in one round trip.
func (b *Backplane) Delete(key string) error {
	if err := b.rdb.Del(b.ctx, b.recordKey(key)).Err(); err != nil {
		return fmt.Errorf("redisbp: delete: %w", err)
	}
	return nil
}

// id is the stream id of position pos.
func id(pos uint64) string { return "0-" + strconv.FormatUint(pos, 10) }

// position is the log position of stream id s.
func position(s string) (uint64, bool) {
	rest, ok := strings.CutPrefix(s, "0-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

// newTag returns a random tag for an entry.
func newTag() string { return strconv.FormatUint(rand.Uint64(), 36) }

// decode returns the position and envelope of a stream entry.
func decode(m redis.XMessage) (uint64, reverse.Envelope, error) {
	var env reverse.Envelope
	pos, ok := position(m.ID)
	if !ok {
		return 0, env, fmt.Errorf("an id that is not a log position")
	}
	data, _ := m.Values[fieldEnvelope].(string)
	if err := json.Unmarshal([]byte(data), &env); err != nil {
		return pos, env, err
	}
	return pos, env, nil
}

// field returns the string field name of m, or "".
func field(m redis.XMessage, name string) string {
	s, _ := m.Values[name].(string)
	return s
}
