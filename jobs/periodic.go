package jobs

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/storage"
)

// Periodic tasks. Each is enqueued once per period whatever the number of instances (the task
// id names the period), and each handler is an idempotent SQL sweep, so a second run is harmless.
const (
	// TypeSecretSweep destroys every overdue password: the promise holds even when Redis lost a
	// secret:expire task or the service was down over the deadline.
	TypeSecretSweep = "sweep:secrets"
	// TypeOutboxRelay enqueues again the outbox rows a crash or a Redis data loss left behind.
	TypeOutboxRelay = "sweep:outbox"
)

// Period is one periodic task and how often it runs.
type Period struct {
	Type  string
	Every time.Duration
}

// NewPeriodicTask builds the run of a periodic task for the period that contains at.
func NewPeriodicTask(typ string, every time.Duration, at time.Time) *asynq.Task {
	slot := at.Truncate(every).Unix()
	return asynq.NewTask(typ, nil, asynq.TaskID(typ+":"+strconv.FormatInt(slot, 10)),
		asynq.Queue(QueueCritical), asynq.MaxRetry(0), asynq.Timeout(every), asynq.Retention(2*every))
}

// HandleSecretSweep purges overdue passwords.
func (d *Deps) HandleSecretSweep(ctx context.Context, _ *asynq.Task) error {
	n, err := d.Store.PurgeExpiredPasswords(ctx, d.now())
	if err != nil {
		return fmt.Errorf("sweep:secrets: %w", err)
	}
	if n > 0 {
		metrics.SecretsPurged.WithLabelValues("sweep").Add(float64(n))
		d.Log.Info("overdue passwords destroyed", "count", n)
	}
	return nil
}

// RelayGrace is how old a pending outbox row must be before the relay enqueues it again: long
// enough for the normal path to have done it.
const RelayGrace = 20 * time.Second

// HandleOutboxRelay re-enqueues pending outbox rows. Task ids make a row already in Redis a no-op.
func (d *Deps) HandleOutboxRelay(ctx context.Context, _ *asynq.Task) error {
	_, err := d.RelayOutbox(ctx, d.now().Add(-RelayGrace))
	return err
}

// stuckAfter is how old a pending row must be before the relay asks asynq whether its task gave
// up (was archived): younger rows are in the normal path or its retries.
const stuckAfter = 10 * time.Minute

// relayPerRun is RelayPerRun's default: at a Redis round trip or two per row, well inside the
// relay's 10 s period.
const relayPerRun = 20_000

// RelayOutbox enqueues the pending outbox rows created before a time, and returns how many.
// A row whose task asynq archived after its last retry would otherwise wait forever behind the
// archived task's id: an email is marked failed (staff see it), a ticket is queued afresh.
//
// A run handles at most RelayPerRun rows, and a run that stops early (its time is up, Redis or
// the database fails) leaves the next run in this process to go on after the last row it
// handled; the run that reaches the last row has the next one start again from the first. So
// a backlog larger than a run can walk (hours of emails waiting on a relay that defers, when
// Redis comes back empty) is walked over several runs, rather than its front being walked by
// every run and the rows behind it never.
func (d *Deps) RelayOutbox(ctx context.Context, before time.Time) (int, error) {
	n := 0
	limit := d.RelayPerRun
	if limit <= 0 {
		limit = relayPerRun
	}
	start := d.relayFrom.Load()
	after := start
	handled := start // the last row handled: where the next run goes on
	wrapped, stopAt := after == 0, int64(0)
	defer func() { d.relayFrom.Store(handled) }()
	stuck := d.now().Add(-stuckAfter)
	for {
		rows, err := d.Store.PendingOutbox(ctx, before, after, min(1000, limit-n))
		if err != nil {
			return n, fmt.Errorf("sweep:outbox: %w", err)
		}
		if len(rows) == 0 {
			if !wrapped {
				// The end of a walk begun by an earlier run: go on from the first row, up to
				// where this run began.
				stopAt, after, wrapped = start, 0, true
				continue
			}
			handled = 0
			return n, nil
		}
		for _, r := range rows {
			if stopAt != 0 && r.ID > stopAt {
				handled = 0
				return n, nil
			}
			after = r.ID
			var (
				t            *asynq.Task
				queue, field string
			)
			switch r.Task {
			case storage.TaskTicketCreate:
				t, queue, field = NewTicketCreateTask(*r.TicketID), QueueCritical, ticketCreateTaskID(*r.TicketID)
			case storage.TaskEmailSend:
				t, queue, field = NewEmailSendTask(r.ID), QueueDefault, emailSendTaskID(r.ID)
			default:
				continue
			}
			if d.Inspector != nil && r.CreatedAt.Before(stuck) {
				if info, err := d.Inspector.GetTaskInfo(queue, field); err == nil && info.State == asynq.TaskStateArchived {
					if r.Task == storage.TaskEmailSend {
						metrics.EmailsSent.WithLabelValues(r.Kind, "failed").Inc()
						d.Log.Error("email given up after its retries", "outbox_id", r.ID, "kind", r.Kind)
						if err := d.Store.MarkOutboxFailed(ctx, r.ID, "gave up after its retries: "+info.LastErr); err != nil {
							return n, fmt.Errorf("sweep:outbox: %w", err)
						}
						handled = r.ID
						continue
					}
					_ = d.Inspector.DeleteTask(queue, field)
				}
			}
			if err := d.Enqueuer.Enqueue(ctx, t); err != nil {
				return n, fmt.Errorf("sweep:outbox: %w", err)
			}
			handled = r.ID
			n++
			metrics.OutboxRelayed.Inc()
		}
		if n >= limit {
			return n, nil
		}
	}
}
