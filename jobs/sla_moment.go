package jobs

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/sla"
	"github.com/assistd/assistd/storage"
)

// TypeSLAMoment sends a ticket's service-level warning or breach at its moment.
const TypeSLAMoment = "sla:moment"

// TypeSLASweep sends the warnings and breaches whose task Redis lost: the periodic safety net.
const TypeSLASweep = "sweep:sla"

// SLAMomentPayload names the ticket and the moment (Unix milliseconds) the task was scheduled
// for. The task only asks the database what is due: a moment that moved or stopped meanwhile
// (the ticket was answered, paused, closed) sends nothing.
type SLAMomentPayload struct {
	TicketID int64 `json:"ticket_id"`
	At       int64 `json:"at"`
}

// NewSLAMomentTask schedules a ticket's next warning or breach. asynq keeps schedules in whole
// seconds: the task is due at the start of the moment's second and waits inside it for the
// moment itself, so it goes out within the worker's forwarding interval of its time. Its id
// names the ticket and the moment: a moment scheduled twice is queued once.
func NewSLAMomentTask(ticketID int64, at time.Time) *asynq.Task {
	ms := at.UnixMilli()
	return asynq.NewTask(TypeSLAMoment, mustJSON(SLAMomentPayload{TicketID: ticketID, At: ms}),
		asynq.TaskID("sla:"+strconv.FormatInt(ticketID, 10)+":"+strconv.FormatInt(ms, 10)), asynq.Queue(QueueCritical),
		asynq.ProcessAt(at.Truncate(time.Second)), asynq.MaxRetry(10), asynq.Timeout(30*time.Second))
}

// earlyWaitMax bounds how long a moment's task waits for its moment: the rest of its second,
// plus some clock skew between hosts. A task earlier than that fails and is retried.
const earlyWaitMax = 2 * time.Second

// HandleSLAMoment sends what is due on the ticket and schedules its next moment.
func (d *Deps) HandleSLAMoment(ctx context.Context, t *asynq.Task) error {
	var p SLAMomentPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	moment := time.UnixMilli(p.At)
	if wait := moment.Sub(d.now()); wait > 0 {
		if wait > earlyWaitMax {
			return fmt.Errorf("sla:moment ticket %d: ran %s before its moment", p.TicketID, wait.Round(time.Millisecond))
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return d.fireDue(ctx, p.TicketID)
}

// fireDue sends a ticket's warnings and breaches due now, and schedules the next one.
func (d *Deps) fireDue(ctx context.Context, ticketID int64) error {
	fired, ids, tk, err := d.Store.FireDue(ctx, ticketID, d.now(), d.emails().Alert)
	if err != nil {
		return fmt.Errorf("sla:moment ticket %d: %w", ticketID, err)
	}
	for _, m := range fired {
		if m.Kind == sla.Breach {
			metrics.SLABreaches.WithLabelValues(tk.DepartmentID, m.Target).Inc()
		}
		d.Log.Info("service-level "+m.Kind+" sent", "ticket_id", ticketID, "target", m.Target, "due", m.Due)
	}
	if err := d.Enqueuer.EnqueueEmails(ctx, ids); err != nil {
		d.Log.Warn("emails left to the outbox relay", "ticket_id", ticketID, "err", err)
	}
	d.ScheduleSLAMoment(ctx, tk)
	return nil
}

// ScheduleSLAMoment queues a ticket's next warning or breach, if any. Redis away: the sweep
// sends it at its time.
func (d *Deps) ScheduleSLAMoment(ctx context.Context, t storage.Ticket) {
	if t.SLANextMoment == nil {
		return
	}
	if err := d.Enqueuer.Enqueue(ctx, NewSLAMomentTask(t.ID, *t.SLANextMoment)); err != nil {
		d.Log.Warn("service-level alert left to the sweep", "ticket_id", t.ID, "err", err)
	}
}

// slaSweepBatch is how many tickets one sweep run looks at.
const slaSweepBatch = 1000

// HandleSLASweep sends every warning and breach past its moment: the tasks Redis lost, or that
// were never queued because Redis was away when their clock moved.
func (d *Deps) HandleSLASweep(ctx context.Context, _ *asynq.Task) error {
	ids, err := d.Store.TicketsWithMomentsDue(ctx, d.now(), slaSweepBatch)
	if err != nil {
		return fmt.Errorf("sweep:sla: %w", err)
	}
	for _, id := range ids {
		if err := d.fireDue(ctx, id); err != nil {
			return fmt.Errorf("sweep:sla: %w", err)
		}
	}
	return nil
}
