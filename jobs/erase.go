package jobs

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// TypeErase carries out a recorded erasure (storage.EraseCustomer, storage.EraseClosedBefore):
// batch after batch of its tickets' message bodies, stored emails, import-log rows and sealed
// passwords are destroyed. Each batch is its own transaction and notes how far it got, so a
// worker killed half-way leaves the rest to the next run of the task, or to sweep:erasures.
const TypeErase = "erasure:run"

// TypeErasureSweep carries out the erasures a crash or Redis left unfinished and, when a
// retention period is set, records the erasure of the tickets closed longer ago.
const TypeErasureSweep = "sweep:erasures"

// ErasePayload names the erasure; never the customer.
type ErasePayload struct {
	ErasureID int64 `json:"erasure_id"`
}

// NewEraseTask builds the task; its id is derived from the erasure, so the API and the sweep
// queue it once.
func NewEraseTask(erasureID int64) *asynq.Task {
	return asynq.NewTask(TypeErase, mustJSON(ErasePayload{ErasureID: erasureID}),
		asynq.TaskID("erasure:"+strconv.FormatInt(erasureID, 10)), asynq.Queue(QueueDefault),
		asynq.MaxRetry(10), asynq.Timeout(10*time.Minute))
}

// EraseBatch is how many tickets one transaction of an erasure destroys: each holds its locks
// for a few milliseconds.
const EraseBatch = 200

// retentionBatch is how many old closed tickets one retention erasure takes.
const retentionBatch = 500

// HandleErase carries an erasure out to its end.
func (d *Deps) HandleErase(ctx context.Context, t *asynq.Task) error {
	var p ErasePayload
	if err := decode(t, &p); err != nil {
		return err
	}
	return d.RunErasure(ctx, p.ErasureID)
}

// RunErasure destroys an erasure's tickets batch by batch until it is complete.
func (d *Deps) RunErasure(ctx context.Context, erasureID int64) error {
	batches := 0
	for {
		done, err := d.Store.EraseBatch(ctx, erasureID, EraseBatch)
		if err != nil {
			return fmt.Errorf("erasure:run %d: %w", erasureID, err)
		}
		// The batch marked its files removed; their objects go now. The erasure completes only
		// once none is left in the store (EraseBatch checks), so a failure here is retried.
		if err := d.DeleteRemovedObjects(ctx, erasureID); err != nil {
			return fmt.Errorf("erasure:run %d: %w", erasureID, err)
		}
		if done {
			d.Log.Info("erasure completed", "erasure_id", erasureID, "batches", batches)
			return nil
		}
		batches++
	}
}

// HandleErasureSweep records the retention period's erasures, then carries out every
// unfinished erasure (a second instance running the same sweep only finds less to do).
func (d *Deps) HandleErasureSweep(ctx context.Context, _ *asynq.Task) error {
	if d.RetentionClosed > 0 {
		for {
			e, err := d.Store.EraseClosedBefore(ctx, d.now().Add(-d.RetentionClosed), retentionBatch)
			if err != nil {
				return fmt.Errorf("sweep:erasures: retention: %w", err)
			}
			if e.Tickets == 0 {
				break
			}
			d.Log.Info("closed tickets past the retention period erased", "erasure_id", e.ID, "tickets", e.Tickets)
		}
	}
	ids, err := d.Store.UnfinishedErasures(ctx, 100)
	if err != nil {
		return fmt.Errorf("sweep:erasures: %w", err)
	}
	for _, id := range ids {
		if err := d.RunErasure(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
