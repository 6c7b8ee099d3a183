// Package redisbp is a reverse.Backplane on Redis (5.0 or later, for
// streams), through github.com/redis/go-redis/v9:
//
//	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
//	bp, err := redisbp.New(rdb)
//	…
//	hub := reverse.NewHub(reverse.WithBackplane(bp))
//
// # Keys
//
// Every key and channel starts with the prefix, "parley" unless
// WithPrefix says otherwise; hubs share a log when they share Redis and
// prefix.
//
//   - <prefix>:log, a stream, is the log. The entry at position n has the
//     id 0-n and the fields e (the envelope as JSON), t (a random tag) and
//     p (the tag of the entry before it). Redis trims it to about
//     WithHistory entries.
//   - <prefix>:seq counts the entries appended; <prefix>:tail holds the
//     tag of the last one; <prefix>:epoch the tag of the first entry of
//     the log, which names this run of positions.
//   - <prefix>:members, a sorted set, lists the hubs, each scored by the
//     time, by Redis's clock, when its membership expires: 5 s after its
//     backplane last renewed it. Every backplane renews its hubs every
//     second.
//   - <prefix>:rec:<key> holds the record key (Save, Load, Delete).
//   - <prefix>:wake:<hub>:<tag>, a stream, exists for a moment when a hub
//     leaves, to end its reader's blocking read.
//   - <prefix>:hub:<id> is the pub/sub channel of hub id (Send).
//
// On Redis Cluster, put a hash tag in the prefix, as in "{parley}": the
// scripts and reads touch several of these keys at once.
//
// # Round trips
//
// Publish is one: a Lua script increments the counter and appends the
// entry with the id that gives, so positions are consecutive. Send is one
// PUBLISH. Save, Load, Delete and Members are one each. Replay is one per
// 1,024 entries. Subscribe takes three: it adds the hub to the members,
// reads where the log ends and subscribes to the hub's channel. Each hub
// then has a goroutine that reads the log with XREAD BLOCK, up to 512
// entries per round trip, and one that reads its channel, on a connection
// of its own; each delivers in order, one call at a time.
//
// # Failures and persistence
//
// Send is at most once: an envelope sent while the hub's subscription is
// reconnecting is lost. The log is as durable as Redis makes it. With the
// append-only file and appendfsync always, an entry Publish returned is on
// disk, and a hub resumes after a restart of Redis where it was, losing
// nothing. With appendfsync everysec (Redis's default when appendonly is
// on) a crash of Redis, or of its machine, loses up to the last second of
// entries: the counter goes back and new entries take the positions of
// the lost ones. Without persistence a restart empties the log and its
// positions start again at 1. A hub's reader notices either: each entry
// names the tag of the entry before it, and after a failure of Redis or an
// idle wait the reader checks that the counter did not go back and the
// epoch did not change. It then reads on from where the log holds entries
// it did not deliver, and the positions it passes to the hub go back or
// skip, which the hub treats as a loss. Replay, after such a restart,
// returns the entries the log holds now under the positions asked for.
// Replicas do not help: Redis replicates asynchronously, so a failover
// loses what the replica had not received, as a crash does.
//
// Redis must not evict these keys: run it with maxmemory-policy
// noeviction (the default), or a volatile-* policy, since no key here has
// an expiry but the wake streams.
//
// Err reports whether the last renewal of the memberships, or PING when
// no hub is subscribed, reached Redis; it is checked every second.
//
// # Concurrency
//
// A Backplane is safe for concurrent use. Close leaves the hubs still
// subscribed and stops every goroutine it started; neither leave nor
// Close may be called from a deliver or direct function, since both wait
// for one that is running to return.
package redisbp
