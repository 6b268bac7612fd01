package jobs

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/metrics"
)

// TypeSecretExpire destroys the passwords whose time is up.
const TypeSecretExpire = "secret:expire"

// SecretExpirePayload says when the task is due: it destroys every password expired by then.
// Never the secret. TicketID is how earlier versions named one ticket's password; such tasks
// still run.
type SecretExpirePayload struct {
	Until    int64 `json:"until,omitempty"` // Unix seconds
	TicketID int64 `json:"ticket_id,omitempty"`
}

// NewSecretExpireTask schedules the destruction of the passwords that expire in the second
// ending at expiresAt rounded up: one task per second of expiries, however many tickets share
// it. asynq keeps schedules in whole seconds, so the task never runs before a deadline it covers.
func NewSecretExpireTask(expiresAt time.Time) *asynq.Task {
	at := secretExpirySlot(expiresAt)
	return asynq.NewTask(TypeSecretExpire, mustJSON(SecretExpirePayload{Until: at.Unix()}),
		asynq.TaskID("secret-expire:"+strconv.FormatInt(at.Unix(), 10)), asynq.Queue(QueueCritical),
		asynq.ProcessAt(at), asynq.MaxRetry(50), asynq.Timeout(30*time.Second))
}

// secretExpirySlot is expiresAt rounded up to the second.
func secretExpirySlot(expiresAt time.Time) time.Time {
	at := expiresAt.Truncate(time.Second)
	if at.Before(expiresAt) {
		at = at.Add(time.Second)
	}
	return at
}

// scheduleSecretExpiry queues the secret:expire task covering expiresAt, unless this process
// queued that second's task already (the task id makes a second enqueue a no-op anyway; this
// saves the round trip to Redis when tickets arrive many to the second).
func (d *Deps) scheduleSecretExpiry(ctx context.Context, ticketID int64, expiresAt time.Time) {
	slot := secretExpirySlot(expiresAt).Unix()
	if d.expirySlot.Load() == slot {
		return
	}
	if err := d.Enqueuer.Enqueue(ctx, NewSecretExpireTask(expiresAt)); err != nil {
		d.Log.Warn("password expiry left to the sweep", "ticket_id", ticketID, "err", err)
		return
	}
	d.expirySlot.Store(slot)
}

// HandleSecretExpire sets the sealed password and data key of every password expired by the
// task's time to NULL. A task that runs early (clock skew between hosts) fails and is retried;
// the sweep is the safety net either way.
func (d *Deps) HandleSecretExpire(ctx context.Context, t *asynq.Task) error {
	var p SecretExpirePayload
	if err := decode(t, &p); err != nil {
		return err
	}
	at := d.now()
	if p.Until == 0 {
		return d.expireOne(ctx, p.TicketID, at)
	}
	if due := time.Unix(p.Until, 0); at.Before(due) {
		return fmt.Errorf("secret:expire %d: ran %s before the expiry", p.Until, due.Sub(at).Round(time.Millisecond))
	}
	n, err := d.Store.PurgeExpiredPasswords(ctx, at)
	if err != nil {
		return fmt.Errorf("secret:expire %d: %w", p.Until, err)
	}
	if n > 0 {
		metrics.SecretsPurged.WithLabelValues("task").Add(float64(n))
		d.Log.Info("passwords destroyed", "count", n)
	}
	return d.destroyConfidentialFiles(ctx, at)
}

// destroyConfidentialFiles destroys the confidential attachments due by at, key and object, at
// the same moment as the passwords (their tasks are the same).
func (d *Deps) destroyConfidentialFiles(ctx context.Context, at time.Time) error {
	n, err := d.Store.DestroyConfidential(ctx, at)
	if err != nil {
		return fmt.Errorf("secret:expire: %w", err)
	}
	if n > 0 {
		d.Log.Info("confidential attachments destroyed", "count", n)
	}
	if d.Objects == nil {
		return nil // the sweep of a worker with the store deletes the objects
	}
	return d.DeleteRemovedObjects(ctx, 0)
}

// expireOne runs a task of an earlier version, which named one ticket.
func (d *Deps) expireOne(ctx context.Context, ticketID int64, at time.Time) error {
	purged, err := d.Store.PurgePassword(ctx, ticketID, at)
	if err != nil {
		return fmt.Errorf("secret:expire ticket %d: %w", ticketID, err)
	}
	if purged {
		metrics.SecretsPurged.WithLabelValues("task").Inc()
		d.Log.Info("password destroyed", "ticket_id", ticketID)
		return nil
	}
	expires, err := d.Store.PasswordExpiry(ctx, ticketID)
	if err == nil && at.Before(expires) {
		return fmt.Errorf("secret:expire ticket %d: ran %s before the expiry", ticketID, expires.Sub(at).Round(time.Millisecond))
	}
	return nil // already purged, or no password
}
