package reverse

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// invoked waits until s's outbox holds an invocation of fn and returns it.
func invoked(t *testing.T, s *Session, fn string) msg {
	t.Helper()
	for {
		for _, m := range msgs(t, s.Pending(0)) {
			if m.Fn == fn && m.Invoke != "" {
				return m
			}
		}
		if t.Context().Err() != nil {
			t.Fatalf("no invocation of %s reached the page", fn)
		}
		time.Sleep(time.Millisecond)
	}
}

// invoke runs target.Invoke on its own goroutine.
func invoke(ctx context.Context, target Target, fn string, args ...any) <-chan []Reply {
	ch := make(chan []Reply, 1)
	go func() {
		r, err := target.Invoke(ctx, fn, args...)
		if err != nil {
			r = []Reply{{Err: err}}
		}
		ch <- r
	}()
	return ch
}

func TestInvokeGathersOneReplyPerPage(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	ok := open(t, h, "/", "a")
	throws := open(t, h, "/", "b")
	silent := open(t, h, "/", "c")
	for _, s := range []*Session{ok, throws, silent} {
		s.Join("g")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := invoke(ctx, h.Group("g"), "status", "verbose")

	m := invoked(t, ok, "status")
	assert.JSONEq(t, `"verbose"`, string(m.Args[0]))
	require.NoError(t, ok.Answer(m.Invoke, json.RawMessage(`{"calls":3}`), nil))
	require.NoError(t, throws.Answer(invoked(t, throws, "status").Invoke, nil, &PageError{Name: "TypeError", Message: "x is undefined"}))
	assert.Equal(t, m.Invoke, invoked(t, silent, "status").Invoke, "one invocation id for every page")
	select {
	case <-done:
		t.Fatal("Invoke returned while a page had not answered and ctx was live")
	default:
	}
	cancel() // the silent page never answers
	replies := <-done

	require.Len(t, replies, 3)
	bySession := map[string]Reply{}
	for i, r := range replies {
		bySession[r.Session] = r
		if i > 0 {
			assert.Less(t, replies[i-1].Session, r.Session, "sorted by session")
		}
	}
	var v struct{ Calls int }
	require.NoError(t, bySession[ok.ID()].Decode(&v))
	assert.Equal(t, 3, v.Calls)
	var perr *PageError
	require.ErrorAs(t, bySession[throws.ID()].Err, &perr)
	assert.Equal(t, "page: TypeError: x is undefined", perr.Error())
	assert.Equal(t, perr, bySession[throws.ID()].Decode(&v), "Decode returns the reply's error")
	assert.ErrorIs(t, bySession[silent.ID()].Err, ErrNoReply)
	assert.ErrorIs(t, bySession[silent.ID()].Err, context.Canceled)

	assert.ErrorIs(t, ok.Answer(m.Invoke, nil, nil), ErrUnknownInvocation, "an invocation is answered once")
	assert.ErrorIs(t, silent.Answer("made-up", nil, nil), ErrUnknownInvocation)
	require.NoError(t, silent.Answer(m.Invoke, nil, nil), "a late answer is accepted and dropped")
	h.invocations.mu.Lock()
	assert.Empty(t, h.invocations.byID, "finished invocations are forgotten")
	h.invocations.mu.Unlock()
}

func TestInvokeTimesOutInsteadOfHanging(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	s := open(t, h, "/", "a")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	replies, err := h.Session(s.ID()).Invoke(ctx, "never")
	require.NoError(t, err)
	require.Len(t, replies, 1)
	assert.Equal(t, s.ID(), replies[0].Session)
	assert.ErrorIs(t, replies[0].Err, ErrNoReply)
	assert.ErrorIs(t, replies[0].Err, context.DeadlineExceeded)
}

func TestInvokeOfNoPagesReturnsAtOnce(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	replies, err := h.Group("empty").Invoke(context.Background(), "f")
	require.NoError(t, err)
	assert.Empty(t, replies)
}

func TestInvokeReportsASessionThatEnds(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	s := open(t, h, "/", "a")
	done := invoke(context.Background(), h.Session(s.ID()), "f")
	invoked(t, s, "f")
	s.Close()
	replies := <-done
	require.Len(t, replies, 1)
	assert.ErrorIs(t, replies[0].Err, ErrSessionEnded)
	assert.Contains(t, replies[0].Err.Error(), ReasonClosed)
}

func TestPendingInvocationsAreBounded(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, WithLimits(Limits{PendingInvocations: 2}))
	s := open(t, h, "/", "a")
	ctx, cancel := context.WithCancel(t.Context())
	var dones []<-chan []Reply
	var ids []string
	for _, fn := range []string{"f1", "f2", "f3"} {
		dones = append(dones, invoke(ctx, h.Session(s.ID()), fn))
		ids = append(ids, invoked(t, s, fn).Invoke)
	}
	assert.ErrorIs(t, s.Answer(ids[0], nil, nil), ErrUnknownInvocation, "the oldest was forgotten")
	require.NoError(t, s.Answer(ids[1], json.RawMessage(`2`), nil))
	require.NoError(t, s.Answer(ids[2], json.RawMessage(`3`), nil))
	assert.Equal(t, json.RawMessage(`3`), (<-dones[2])[0].Value)
	assert.Equal(t, json.RawMessage(`2`), (<-dones[1])[0].Value)
	cancel()
	assert.True(t, errors.Is((<-dones[0])[0].Err, ErrNoReply))
}
