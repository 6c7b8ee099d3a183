// Package cluster runs Parley's examples as several servers that share
// their pages: a server joins a cluster through a NATS server (Join) or a
// Redis server (JoinRedis), and all of them accept each other's cookies
// when they share one key (ServerOptions). Demo runs a whole cluster on
// loopback with one command: an embedded NATS (or a Redis server given),
// the servers, and a round-robin load balancer in front of them with no
// sticky sessions.
package cluster

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/reverse/natsbp"
	"github.com/parley-go/parley/reverse/redisbp"
	"github.com/parley-go/parley/rpc"
)

// KeyEnv is the environment variable that gives a server the cluster's
// cookie key when the command line does not (-cookie-key).
const KeyEnv = "PARLEY_COOKIE_KEY"

// MinKeyBytes is the shortest cookie key accepted, in bytes.
const MinKeyBytes = 16

// ParseKey decodes a cookie key written in hex, of at least MinKeyBytes
// bytes (32 random bytes being best).
func ParseKey(text string) ([]byte, error) {
	key, err := hex.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return nil, fmt.Errorf("the cookie key is not hex: %w", err)
	}
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("the cookie key has %d bytes; it needs at least %d", len(key), MinKeyBytes)
	}
	return key, nil
}

// ServerOptions returns the options that make a Parley server accept the
// cookies of every server given the same key: the keys of the browser id
// cookie (rpc.WithCookieKeys) and of the HTTP session cookie
// (rpc.WithSessionStore, a gorilla cookie store that signs with
// HMAC-SHA256 and encrypts with AES-256), each derived from key with
// HKDF-SHA256 for its own use.
func ServerOptions(key []byte) ([]rpc.Option, error) {
	derive := func(use string) ([]byte, error) {
		return hkdf.Key(sha256.New, key, nil, "parley example "+use, 32)
	}
	id, err1 := derive("browser id")
	hash, err2 := derive("session hash")
	block, err3 := derive("session block")
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("deriving the cookie keys: %w", err)
	}
	store := sessions.NewCookieStore(hash, block)
	store.Options = &sessions.Options{Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	return []rpc.Option{rpc.WithCookieKeys(id), rpc.WithSessionStore(store)}, nil
}

// joinTimeout bounds how long JoinRedis waits for Redis to answer.
const joinTimeout = 10 * time.Second

// Node is a server's link to its cluster: the backplane its hub shares
// pages over, and the client of the bus it runs on, NATS or Redis, for
// the application's own shared state.
type Node struct {
	// Backplane is the hub's backplane (reverse.WithBackplane): a
	// natsbp.Backplane or a redisbp.Backplane.
	Backplane reverse.Backplane
	// NATS is the connection to NATS; nil when the node is on Redis.
	NATS *nats.Conn
	// Redis is the client of Redis; nil when the node is on NATS.
	Redis *redis.Client
	// Name is the bus's name, which names its streams and subjects on
	// NATS and starts its keys and channels on Redis.
	Name string

	close func() // closes the backplane, then the client
}

// Join connects to the NATS server at url, reconnecting for as long as
// it takes whenever the connection drops, and opens the backplane named
// name on it (natsbp.WithName). Close the Node when done.
func Join(url, name string) (*Node, error) {
	nc, err := nats.Connect(url, nats.Name("parley "+name), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", url, err)
	}
	bp, err := natsbp.New(nc, natsbp.WithName(name))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("opening the backplane on NATS at %s: %w", url, err)
	}
	return &Node{Backplane: bp, NATS: nc, Name: name, close: func() {
		bp.Close()
		nc.Close()
	}}, nil
}

// RedisOptions returns the client options for the Redis server at addr:
// host:port, or a URL such as redis://user:password@host:port/db
// (rediss:// for TLS; see redis.ParseURL). Its errors do not repeat addr,
// which may hold a password.
func RedisOptions(addr string) (*redis.Options, error) {
	if !strings.Contains(addr, "://") {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, errors.New("the Redis address is neither host:port nor a redis:// URL")
		}
		return &redis.Options{Addr: addr}, nil
	}
	opts, err := redis.ParseURL(addr)
	if err != nil {
		// err may quote the URL, password and all.
		return nil, errors.New("the Redis URL is not valid: want redis://[user:password@]host:port[/db] or rediss://…")
	}
	return opts, nil
}

// JoinRedis connects to the Redis server at addr (see RedisOptions),
// checks that it answers, and opens the backplane on it whose keys and
// channels start with name (redisbp.WithPrefix). The client reconnects
// whenever a connection drops. Close the Node when done.
func JoinRedis(addr, name string) (*Node, error) {
	opts, err := RedisOptions(addr)
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("connecting to Redis at %s: %w", opts.Addr, err)
	}
	bp, err := redisbp.New(rdb, redisbp.WithPrefix(name))
	if err != nil {
		rdb.Close()
		return nil, fmt.Errorf("opening the backplane on Redis at %s: %w", opts.Addr, err)
	}
	return &Node{Backplane: bp, Redis: rdb, Name: name, close: func() {
		bp.Close()
		rdb.Close()
	}}, nil
}

// HubOptions returns the hub options that share the hub's pages over the
// node's backplane.
func (n *Node) HubOptions() []reverse.Option {
	return []reverse.Option{reverse.WithBackplane(n.Backplane)}
}

// Close closes the backplane, then the connection to the bus. Close the
// hub first.
func (n *Node) Close() {
	n.close()
}
