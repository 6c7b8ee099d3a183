package chat

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse/natsbp/embedded"
	"github.com/parley-go/parley/reverse/redisbp/redistest"
	"github.com/parley-go/parley/rpc"
)

// sharedBuses start a bus for a test and open on it one room twice, as two
// servers of a cluster do; down takes the bus away.
var sharedBuses = []struct {
	name  string
	rooms func(t *testing.T) (a, b *Room, down func())
}{
	{"nats", func(t *testing.T) (*Room, *Room, func()) {
		bus, err := embedded.Start(filepath.Join(t.TempDir(), "nats"))
		require.NoError(t, err)
		t.Cleanup(bus.Shutdown)
		open := func() *Room {
			nc, err := nats.Connect(bus.URL(), nats.MaxReconnects(-1))
			require.NoError(t, err)
			t.Cleanup(nc.Close)
			r, err := NewSharedRoom(nil, nc, "test")
			require.NoError(t, err)
			return r
		}
		return open(), open(), bus.Shutdown
	}},
	{"redis", func(t *testing.T) (*Room, *Room, func()) {
		s := redistest.Start(t)
		open := func() *Room {
			r, err := NewRedisRoom(nil, s.Client(t), "test")
			require.NoError(t, err)
			return r
		}
		return open(), open(), s.Kill
	}},
}

// TestSharedRoom: two servers' rooms on one bus number messages from one
// sequence, push each message with its id, return one history of the
// latest HistoryKept messages, and answer unavailable when the bus is
// gone.
func TestSharedRoom(t *testing.T) {
	at := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, bus := range sharedBuses {
		t.Run(bus.name, func(t *testing.T) {
			a, b, down := bus.rooms(t)
			ctx := t.Context()
			for _, r := range []*Room{a, b} {
				got, err := r.store.recent(ctx)
				require.NoError(t, err)
				assert.NotNil(t, got, "an empty history is a list")
				assert.Empty(t, got)
			}

			var pushed []Message
			add := func(r *Room, text string) Message {
				t.Helper()
				m, err := r.store.add(ctx, Message{Author: "ann", Text: text, At: at}, func(m Message) { pushed = append(pushed, m) })
				require.NoError(t, err)
				return m
			}
			var want []Message
			for i, r := range []*Room{a, b, a} {
				m := add(r, fmt.Sprint("m", i+1))
				assert.Equal(t, int64(i+1), m.ID, "one sequence across servers")
				want = append(want, m)
			}
			assert.Equal(t, want, pushed, "each message is pushed with its id")
			for _, r := range []*Room{a, b} {
				got, err := r.store.recent(ctx)
				require.NoError(t, err)
				assert.Equal(t, want, got)
			}

			for i := range HistoryKept + 5 {
				add([]*Room{a, b}[i%2], fmt.Sprint("n", i))
			}
			last := int64(3 + HistoryKept + 5)
			for _, r := range []*Room{a, b} {
				got, err := r.store.recent(ctx)
				require.NoError(t, err)
				require.Len(t, got, HistoryKept, "the latest HistoryKept are kept")
				for i, m := range got {
					assert.Equal(t, last-HistoryKept+1+int64(i), m.ID, "oldest first")
				}
				assert.Equal(t, fmt.Sprint("n", HistoryKept+4), got[HistoryKept-1].Text)
			}

			down()
			// A deadline only ends a wait for a bus that reconnects for
			// ever; the error is the same either way.
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := a.store.add(ctx, Message{Author: "ann", Text: "lost", At: at}, func(Message) { t.Error("a message that was not stored was pushed") })
			assertUnavailable(t, err)
			_, err = b.store.recent(ctx)
			assertUnavailable(t, err)
		})
	}
}

// assertUnavailable checks that err is the rpc error unavailable.
func assertUnavailable(t *testing.T, err error) {
	t.Helper()
	var e *rpc.Error
	require.True(t, errors.As(err, &e), "%v is an *rpc.Error", err)
	assert.Equal(t, rpc.CodeUnavailable, e.Code)
	assert.Equal(t, "the room cannot be reached; try again", e.Message)
}

func TestNewRedisRoomArgs(t *testing.T) {
	_, err := NewRedisRoom(nil, nil, "test")
	assert.ErrorContains(t, err, "nil Redis client")
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { rdb.Close() })
	_, err = NewRedisRoom(nil, rdb, "")
	assert.ErrorContains(t, err, "needs a name")
}
