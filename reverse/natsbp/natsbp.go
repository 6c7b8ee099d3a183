// Package natsbp is a reverse.Backplane on NATS JetStream, for hubs in
// several processes behind an ordinary load balancer.
//
// On a bus named name (WithName, "parley" by default) it keeps:
//
//   - the log: the stream NAME_LOG on the subject name.log, whose stream
//     sequence numbers are the log's positions. Every hub reads it through
//     an ordered consumer: one consumer without acks, read in order, that
//     the Backplane replaces, from the position after the last entry it
//     delivered, when it misses heartbeats or an entry (after a reconnect).
//   - the records (Save, Load, Delete): the key-value bucket NAME_RECORDS.
//   - the members: the key-value bucket NAME_MEMBERS, where every
//     subscribed hub puts its id each second; keys expire after 5 s, so a
//     hub that died leaves Members within 5 s.
//   - direct mail (Send): core NATS on the subject name.hub.HUBID, at most
//     once, in order from one connection to one hub.
//
// NAME is name in upper case. New creates the stream and buckets, or binds
// to them, and recreates them when they are gone (a NATS server without
// file storage restarted).
//
// An entry of the log that does not decode as a reverse.Envelope is logged
// and skipped, so its position is missing from what deliver sees: the hub
// takes the gap as lost entries. When the stream was recreated, positions
// start again from 1; they are passed on as they are, and the hub takes
// any position that is not the last one plus one as a loss.
//
// Hub ids must be valid NATS subject tokens and key-value keys: letters,
// digits, '-', '_' and '='; the ids hubs make are. Record keys must be
// valid key-value keys: letters, digits, '-', '_', '=', '/' and '.', not
// starting or ending with '.'.
//
// Connecting is the application's part, with the options of nats.go; for
// an external NATS with credentials and TLS:
//
//	nc, err := nats.Connect("tls://nats.example.com:4222",
//		nats.UserCredentials("/etc/parley/app.creds"),
//		nats.RootCAs("/etc/parley/ca.pem"),
//		nats.MaxReconnects(-1),
//	)
//	if err != nil {
//		return err
//	}
//	bp, err := natsbp.New(nc, natsbp.WithReplicas(3))
//	if err != nil {
//		return err
//	}
//	defer bp.Close()
//	hub := reverse.NewHub(reverse.WithBackplane(bp))
//
// Give the connection nats.MaxReconnects(-1) so that it never gives up on
// the bus; a Backplane on a closed connection fails for good.
//
// Concurrency: a Backplane is safe for concurrent use. deliver and direct
// functions must not call Close.
package natsbp

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-go/parley/reverse"
)

// Timing of the members bucket and of the checks of the bus.
const (
	// tick is how often each subscribed hub renews its key in the members
	// bucket, and how often the Backplane checks the stream.
	tick = time.Second
	// memberTTL is how long a member's key lives without renewal.
	memberTTL = 5 * time.Second
	// opTimeout bounds every request to the bus.
	opTimeout = 5 * time.Second
	// readExpiry is how long a pull of the log waits; a reader that misses
	// the heartbeats of half of it reads from a new consumer.
	readExpiry = 8 * time.Second
)

// config is what the options set.
type config struct {
	name     string
	storage  jetstream.StorageType
	maxAge   time.Duration
	maxBytes int64
	replicas int
	log      *slog.Logger
}

// Option configures New.
type Option func(*config)

// WithName sets the name of the bus, which names the stream, the buckets
// and the subjects; hubs share a log only if they use the same name. It is
// letters, digits, '-' and '_'. Default "parley".
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithStorage sets where NATS keeps the log and the buckets. Default
// jetstream.FileStorage, which survives a restart of NATS; with
// jetstream.MemoryStorage a restart loses them, and the hubs see the loss.
func WithStorage(s jetstream.StorageType) Option { return func(c *config) { c.storage = s } }

// WithHistory sets how much of the log the stream keeps for Replay: entries
// older than maxAge, and the oldest entries past maxBytes in all, are
// dropped; 0 means no limit of that kind. Defaults 1 hour and 1 GiB.
func WithHistory(maxAge time.Duration, maxBytes int64) Option {
	return func(c *config) { c.maxAge, c.maxBytes = maxAge, maxBytes }
}

// WithReplicas sets how many servers of a NATS cluster keep the stream and
// the buckets (1 to 5). Default 1.
func WithReplicas(n int) Option { return func(c *config) { c.replicas = n } }

// WithLogger sets where the Backplane logs skipped entries and failures of
// the bus. Default slog.Default(), which nil also means.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.log = cmp.Or(l, slog.Default()) }
}

// validName is what a bus name may be.
var validName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// validHub is what a hub id may be: a subject token and a key.
var validHub = regexp.MustCompile(`^[A-Za-z0-9_=-]+$`)

// Backplane is a reverse.Backplane on NATS JetStream. Make it with New and
// stop it with Close.
type Backplane struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	cfg     config
	log     *slog.Logger
	subject string // the log's subject
	hubs    string // prefix of the hubs' subjects

	mu      sync.Mutex // guards everything below
	stream  jetstream.Stream
	records jetstream.KeyValue
	members jetstream.KeyValue
	subs    map[string]*sub
	closed  bool

	opErr atomic.Pointer[error] // the last failure of the bus, nil after a success
	stop  chan struct{}         // closed by Close
	wg    sync.WaitGroup        // the goroutines the Backplane started
}

var _ reverse.Backplane = (*Backplane)(nil)

// New creates the stream and the buckets on the bus nc reaches, or binds
// to them if they exist, and updates their limits to the options. nc stays
// the caller's: Close does not close it.
func New(nc *nats.Conn, opts ...Option) (*Backplane, error) {
	cfg := config{
		name:     "parley",
		storage:  jetstream.FileStorage,
		maxAge:   time.Hour,
		maxBytes: 1 << 30,
		replicas: 1,
		log:      slog.Default(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if nc == nil {
		return nil, errors.New("natsbp: no NATS connection")
	}
	if !validName.MatchString(cfg.name) {
		return nil, fmt.Errorf("natsbp: invalid name %q: use letters, digits, '-' and '_'", cfg.name)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsbp: %w", err)
	}
	b := &Backplane{
		nc:      nc,
		js:      js,
		cfg:     cfg,
		log:     cfg.log,
		subject: cfg.name + ".log",
		hubs:    cfg.name + ".hub.",
		subs:    map[string]*sub{},
		stop:    make(chan struct{}),
	}
	if err := b.ensure(); err != nil {
		return nil, err
	}
	b.wg.Go(b.maintain)
	return b, nil
}

// ensure creates or binds the stream and the buckets.
func (b *Backplane) ensure() error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	upper := strings.ToUpper(b.cfg.name)
	stream, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        upper + "_LOG",
		Description: "Parley: the log of the hubs' reverse calls and session changes",
		Subjects:    []string{b.subject},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      b.cfg.maxAge,
		MaxBytes:    cmp.Or(b.cfg.maxBytes, -1),
		Storage:     b.cfg.storage,
		Replicas:    b.cfg.replicas,
	})
	if err != nil {
		return b.failed(fmt.Errorf("natsbp: creating the log stream: %w", err))
	}
	records, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      upper + "_RECORDS",
		Description: "Parley: session checkpoints",
		History:     1,
		Storage:     b.cfg.storage,
		Replicas:    b.cfg.replicas,
	})
	if err != nil {
		return b.failed(fmt.Errorf("natsbp: creating the records bucket: %w", err))
	}
	members, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      upper + "_MEMBERS",
		Description: "Parley: the hubs connected now",
		History:     1,
		TTL:         memberTTL,
		Storage:     b.cfg.storage,
		Replicas:    b.cfg.replicas,
	})
	if err != nil {
		return b.failed(fmt.Errorf("natsbp: creating the members bucket: %w", err))
	}
	b.mu.Lock()
	b.stream, b.records, b.members = stream, records, members
	b.mu.Unlock()
	b.succeeded()
	return nil
}

// failed records err as the bus's failure, for Err, and returns it.
func (b *Backplane) failed(err error) error {
	b.opErr.Store(&err)
	return err
}

// succeeded clears the bus's failure.
func (b *Backplane) succeeded() {
	if b.opErr.Load() != nil {
		b.opErr.Store(nil)
	}
}

// gone reports whether err says the stream or a bucket does not exist.
func gone(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, nats.ErrNoResponders)
}

// maintain renews the members' keys and checks the stream every tick: it
// recreates what is gone, and restarts the subscriptions from the start
// of a stream that was recreated.
func (b *Backplane) maintain() {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		b.check()
		b.mu.Lock()
		members := b.members
		var ids []string
		for id := range b.subs {
			ids = append(ids, id)
		}
		b.mu.Unlock()
		for _, id := range ids {
			if err := b.renew(members, id); err != nil {
				break
			}
		}
	}
}

// renew puts hub id's key in the members bucket.
func (b *Backplane) renew(members jetstream.KeyValue, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := members.Put(ctx, id, nil); err != nil {
		b.log.Warn("natsbp: renewing a member failed", "hub", id, "err", err)
		return b.failed(err)
	}
	b.succeeded()
	return nil
}

// check reads the stream's info; it recreates the stream and buckets when
// they are gone, and restarts every subscription when the stream is not
// the one they read.
func (b *Backplane) check() {
	if b.nc.Status() != nats.CONNECTED {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	b.mu.Lock()
	stream := b.stream
	b.mu.Unlock()
	info, err := stream.Info(ctx)
	switch {
	case gone(err):
		b.log.Warn("natsbp: the log stream is gone; creating it again", "err", err)
		if b.ensure() != nil {
			return
		}
		info = b.currentInfo()
	case err != nil:
		b.failed(fmt.Errorf("natsbp: reading the log stream: %w", err))
		return
	}
	b.succeeded()
	b.mu.Lock()
	subs := make([]*sub, 0, len(b.subs))
	for _, s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.streamIs(info.Created)
	}
}

// currentInfo returns the cached info of the stream ensure made.
func (b *Backplane) currentInfo() *jetstream.StreamInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stream.CachedInfo()
}

// Close stops every subscription and every goroutine the Backplane
// started, and waits for them. It does not close the connection. Calling
// it again does nothing.
func (b *Backplane) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	subs := b.subs
	b.subs = map[string]*sub{}
	b.mu.Unlock()
	for _, s := range subs {
		s.leave()
	}
	close(b.stop)
	b.wg.Wait()
}

// Err implements reverse.Backplane: it is non-nil while the connection is
// not connected, and while the last request to JetStream failed (creating
// or reading the stream and buckets, Publish, renewing a member, Replay,
// Members, Save, Load, Delete) until one succeeds; the Backplane checks
// the stream every second.
func (b *Backplane) Err() error {
	if st := b.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("natsbp: the connection to NATS is %s", st)
	}
	if err := b.opErr.Load(); err != nil {
		return *err
	}
	return nil
}

// Publish implements reverse.Backplane: it waits for the stream's
// acknowledgement and returns its sequence. If the stream is gone, it
// creates it again and publishes once more.
func (b *Backplane) Publish(env reverse.Envelope) (uint64, error) {
	data, err := json.Marshal(env)
	if err != nil {
		return 0, fmt.Errorf("natsbp: encoding an envelope: %w", err)
	}
	ack, err := b.publish(data)
	if gone(err) && b.ensure() == nil {
		ack, err = b.publish(data)
	}
	if err != nil {
		return 0, b.failed(fmt.Errorf("natsbp: publishing to the log: %w", err))
	}
	b.succeeded()
	return ack.Sequence, nil
}

// publish publishes one encoded entry.
func (b *Backplane) publish(data []byte) (*jetstream.PubAck, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return b.js.Publish(ctx, b.subject, data)
}

// Send implements reverse.Backplane with a core NATS message. Sending to
// a hub that is not subscribed is not an error.
func (b *Backplane) Send(hubID string, env reverse.Envelope) error {
	if !validHub.MatchString(hubID) {
		return fmt.Errorf("natsbp: invalid hub id %q", hubID)
	}
	data, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("natsbp: encoding an envelope: %w", err)
	}
	if err := b.nc.Publish(b.hubs+hubID, data); err != nil {
		return fmt.Errorf("natsbp: sending to hub %s: %w", hubID, err)
	}
	return nil
}

// Members implements reverse.Backplane: the keys of the members bucket.
func (b *Backplane) Members() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	b.mu.Lock()
	members := b.members
	b.mu.Unlock()
	lister, err := members.ListKeys(ctx)
	if err != nil {
		return nil, b.failed(fmt.Errorf("natsbp: listing members: %w", err))
	}
	var ids []string
	for id := range lister.Keys() {
		ids = append(ids, id)
	}
	if err := ctx.Err(); err != nil {
		return nil, b.failed(fmt.Errorf("natsbp: listing members: %w", err))
	}
	b.succeeded()
	return ids, nil
}

// recordBucket returns the records bucket.
func (b *Backplane) recordBucket() jetstream.KeyValue {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.records
}

// Save implements reverse.Backplane.
func (b *Backplane) Save(key string, value []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := b.recordBucket().Put(ctx, key, value); err != nil {
		if errors.Is(err, jetstream.ErrInvalidKey) {
			return fmt.Errorf("natsbp: saving %q: %w", key, err)
		}
		return b.failed(fmt.Errorf("natsbp: saving %q: %w", key, err))
	}
	b.succeeded()
	return nil
}

// Load implements reverse.Backplane.
func (b *Backplane) Load(key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	e, err := b.recordBucket().Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		b.succeeded()
		return nil, reverse.ErrNoRecord
	case errors.Is(err, jetstream.ErrInvalidKey):
		return nil, fmt.Errorf("natsbp: loading %q: %w", key, err)
	case err != nil:
		return nil, b.failed(fmt.Errorf("natsbp: loading %q: %w", key, err))
	}
	b.succeeded()
	return e.Value(), nil
}

// Delete implements reverse.Backplane.
func (b *Backplane) Delete(key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := b.recordBucket().Delete(ctx, key); err != nil {
		if errors.Is(err, jetstream.ErrInvalidKey) {
			return fmt.Errorf("natsbp: deleting %q: %w", key, err)
		}
		return b.failed(fmt.Errorf("natsbp: deleting %q: %w", key, err))
	}
	b.succeeded()
	return nil
}

// decode decodes an entry, logging and reporting false when it is
// malformed.
func (b *Backplane) decode(pos uint64, data []byte) (reverse.Envelope, bool) {
	var env reverse.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		b.log.Error("natsbp: malformed log entry skipped", "pos", pos, "err", err)
		return env, false
	}
	return env, true
}
