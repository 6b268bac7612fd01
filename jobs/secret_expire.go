package jobs

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/metrics"
)

// TypeSecretExpire destroys one ticket's password at its expiry.
const TypeSecretExpire = "secret:expire"

// SecretExpirePayload names the ticket; never the secret.
type SecretExpirePayload struct {
	TicketID int64 `json:"ticket_id"`
}

// NewSecretExpireTask schedules the destruction at expiresAt, once per ticket. asynq keeps
// schedules in whole seconds, so the time is rounded up: never before the deadline.
func NewSecretExpireTask(ticketID int64, expiresAt time.Time) *asynq.Task {
	at := expiresAt.Truncate(time.Second)
	if at.Before(expiresAt) {
		at = at.Add(time.Second)
	}
	return asynq.NewTask(TypeSecretExpire, mustJSON(SecretExpirePayload{TicketID: ticketID}),
		asynq.TaskID("secret-expire:"+strconv.FormatInt(ticketID, 10)), asynq.Queue(QueueCritical),
		asynq.ProcessAt(at), asynq.MaxRetry(50), asynq.Timeout(30*time.Second))
}

// HandleSecretExpire sets the ticket's sealed password and data key to NULL. A task that runs
// early (clock skew between hosts) fails and is retried; the sweep is the safety net either way.
func (d *Deps) HandleSecretExpire(ctx context.Context, t *asynq.Task) error {
	var p SecretExpirePayload
	if err := decode(t, &p); err != nil {
		return err
	}
	at := d.now()
	purged, err := d.Store.PurgePassword(ctx, p.TicketID, at)
	if err != nil {
		return fmt.Errorf("secret:expire %d: %w", p.TicketID, err)
	}
	if purged {
		metrics.SecretsPurged.WithLabelValues("task").Inc()
		d.Log.Info("password destroyed", "ticket_id", p.TicketID)
		return nil
	}
	expires, err := d.Store.PasswordExpiry(ctx, p.TicketID)
	if err == nil && at.Before(expires) {
		return fmt.Errorf("secret:expire %d: ran %s before the expiry", p.TicketID, expires.Sub(at).Round(time.Millisecond))
	}
	return nil // already purged, or no password
}
