package natsbp

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-go/parley/reverse"
)

// replayBatch is the most entries Replay asks the server for at once.
const replayBatch = 1000

// Replay implements reverse.Backplane. It reads the range through a
// consumer of its own, in batches; entries that do not decode are skipped,
// as deliver skips them. A range that the stream no longer holds in full,
// at its start or within it, fails with reverse.ErrHistoryGone.
func (b *Backplane) Replay(ctx context.Context, from, to uint64, fn func(uint64, reverse.Envelope) error) error {
	if from == 0 {
		return reverse.ErrHistoryGone
	}
	b.mu.Lock()
	stream := b.stream
	b.mu.Unlock()
	ictx, cancel := context.WithTimeout(ctx, opTimeout)
	info, err := stream.Info(ictx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return b.failed(fmt.Errorf("natsbp: reading the log stream: %w", err))
	}
	b.succeeded()
	if from < info.State.FirstSeq {
		return reverse.ErrHistoryGone
	}
	to = min(to, info.State.LastSeq)
	if from > to {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	cons, it, err := b.read(cctx, from, jetstream.PullMaxMessages(int(min(to-from+1, replayBatch))))
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return b.failed(err)
	}
	defer b.deleteConsumer(cons)
	defer it.Stop()
	for want, seq := from, uint64(1); want <= to; seq++ {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return b.failed(fmt.Errorf("natsbp: replaying the log: %w", err))
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("natsbp: replaying the log: %w", err)
		}
		if meta.Sequence.Consumer != seq {
			return errors.New("natsbp: replaying the log: an entry did not arrive")
		}
		pos := meta.Sequence.Stream
		if pos != want {
			return fmt.Errorf("%w: entry %d is gone", reverse.ErrHistoryGone, want)
		}
		want++
		env, ok := b.decode(pos, msg.Data())
		if !ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(pos, env); err != nil {
			return err
		}
	}
	return nil
}
