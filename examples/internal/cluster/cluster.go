// Package cluster runs Parley's examples as several servers that share
// their pages: a server joins a cluster through a NATS server (Join), and
// all of them accept each other's cookies when they share one key
// (ServerOptions). Demo runs a whole cluster on loopback with one
// command: an embedded NATS, the servers, and a round-robin load
// balancer in front of them with no sticky sessions.
package cluster

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gorilla/sessions"
	"github.com/nats-io/nats.go"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/reverse/natsbp"
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

// Node is a server's link to its cluster: the NATS connection and the
// backplane its hub shares pages over.
type Node struct {
	// Conn is the connection to NATS, for the application's own shared
	// state.
	Conn *nats.Conn
	// Backplane is the hub's backplane (reverse.WithBackplane).
	Backplane *natsbp.Backplane
	// Name is the bus's name, which names its streams and subjects.
	Name string
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
	return &Node{Conn: nc, Backplane: bp, Name: name}, nil
}

// HubOptions returns the hub options that share the hub's pages over the
// node's backplane.
func (n *Node) HubOptions() []reverse.Option {
	return []reverse.Option{reverse.WithBackplane(n.Backplane)}
}

// Close closes the backplane, then the connection. Close the hub first.
func (n *Node) Close() {
	n.Backplane.Close()
	n.Conn.Close()
}
