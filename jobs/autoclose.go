package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/storage"
)

// TypeAutoClose closes the tickets that were answered and then left without customer activity
// for Deps.AutoCloseAfter, telling each customer by email. It is a periodic sweep: each ticket
// is closed in its own transaction by a conditional UPDATE, so overlapping runs on several
// instances close it once and send one email.
const TypeAutoClose = "sweep:autoclose"

// autoCloseBatch bounds how many candidates one query fetches.
const autoCloseBatch = 200

// HandleAutoClose closes every overdue answered ticket.
func (d *Deps) HandleAutoClose(ctx context.Context, _ *asynq.Task) error {
	if d.AutoCloseAfter <= 0 {
		return nil
	}
	before := d.now().Add(-d.AutoCloseAfter)
	closed, failed := 0, 0
	for {
		// Closed tickets and those that no longer qualify leave the list; those that failed stay
		// at its head, and are skipped.
		ids, err := d.Store.AnsweredBefore(ctx, before, failed, autoCloseBatch)
		if err != nil {
			return fmt.Errorf("sweep:autoclose: %w", err)
		}
		for _, id := range ids {
			emailIDs, ok, err := d.Store.AutoClose(ctx, id, before, d.emails().AutoClosed)
			if errors.Is(err, storage.ErrUnavailable) || ctx.Err() != nil {
				return fmt.Errorf("sweep:autoclose: %w", errors.Join(err, ctx.Err()))
			}
			if err != nil {
				// One ticket whose notice cannot be built must not hold back the others.
				d.Log.Error("ticket not auto-closed", "ticket_id", id, "err", err)
				failed++
				continue
			}
			if !ok {
				continue
			}
			closed++
			if err := d.Enqueuer.EnqueueEmails(ctx, emailIDs); err != nil {
				d.Log.Warn("emails left to the outbox relay", "ticket_id", id, "err", err)
			}
		}
		if len(ids) < autoCloseBatch {
			break
		}
	}
	if closed > 0 {
		d.Log.Info("answered tickets closed for lack of activity", "count", closed)
	}
	return nil
}
