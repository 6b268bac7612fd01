package jobs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/storage"
)

// TypeEmailSend delivers one outbox row to the SMTP server.
const TypeEmailSend = "email:send"

// emailMaxRetry with EmailRetryDelay gives up after about a day of 4xx answers.
const emailMaxRetry = 16

// EmailSendPayload names the outbox row.
type EmailSendPayload struct {
	OutboxID int64 `json:"outbox_id"`
}

// NewEmailSendTask builds the task; its id is the outbox row's.
func NewEmailSendTask(outboxID int64) *asynq.Task {
	return asynq.NewTask(TypeEmailSend, mustJSON(EmailSendPayload{OutboxID: outboxID}),
		asynq.TaskID(emailSendTaskID(outboxID)), asynq.Queue(QueueDefault),
		asynq.MaxRetry(emailMaxRetry), asynq.Timeout(emailSendTimeout))
}

// emailSendTimeout covers a whole Send on serve's sender (30 s timeout): 4× that up to the end of
// the data, and 30 s more for the relay's answer, which is awaited whatever the context.
const emailSendTimeout = 3 * time.Minute

func emailSendTaskID(outboxID int64) string { return "email:" + strconv.FormatInt(outboxID, 10) }

// EmailRetryDelay backs off from 5 s to 3 h for temporary SMTP failures.
func EmailRetryDelay(n int, _ error, _ *asynq.Task) time.Duration {
	d := time.Duration(5*math.Pow(2, float64(n))) * time.Second
	return min(d, 3*time.Hour)
}

// HandleEmailSend sends a pending outbox email once. The message was rendered when it was
// queued, so a resend after a crash carries the same Message-ID. A 5xx answer fails it for good;
// anything else is retried with backoff until the retries run out. The relay's answer is kept
// with the outbox row for staff; the task's error, kept in Redis, holds no personal data
// (mail.Redact).
func (d *Deps) HandleEmailSend(ctx context.Context, t *asynq.Task) error {
	var p EmailSendPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	st := d.deliveries()
	row, err := st.OutboxRowByID(ctx, p.OutboxID)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("email:send %d: no such outbox row: %w", p.OutboxID, asynq.SkipRetry)
	}
	if err != nil {
		return fmt.Errorf("email:send %d: %w", p.OutboxID, err)
	}
	if row.State != storage.OutboxPending || row.Task != storage.TaskEmailSend {
		return nil
	}
	from := ""
	if row.EnvelopeFrom != nil {
		from = *row.EnvelopeFrom
	}
	sendErr := d.Sender.Send(ctx, from, deref(row.Recipient), row.Raw)
	if sendErr == nil {
		metrics.EmailsSent.WithLabelValues(row.Kind, "sent").Inc()
		// The relay has the mail: record it even if the task's time ran out while the relay
		// answered (the sender awaits that answer whatever ctx says), or a retry sends it again.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return st.MarkOutboxDone(rctx, row.ID)
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	if mail.IsPermanent(sendErr) || retried >= maxRetry {
		metrics.EmailsSent.WithLabelValues(row.Kind, "failed").Inc()
		d.Log.Error("email failed for good", "outbox_id", row.ID, "kind", row.Kind, "err", sendErr)
		if err := st.MarkOutboxFailed(ctx, row.ID, sendErr.Error()); err != nil {
			return err
		}
		return fmt.Errorf("email:send %d: %s: %w", row.ID, mail.Redact(sendErr), asynq.SkipRetry)
	}
	metrics.EmailsSent.WithLabelValues(row.Kind, "retry").Inc()
	if err := st.MarkOutboxAttempt(ctx, row.ID, sendErr.Error()); err != nil {
		// Only the attempt count and the relay's answer that staff see are lost; the retry goes on.
		d.Log.Warn("email attempt not recorded", "outbox_id", row.ID, "err", err)
	}
	return fmt.Errorf("email:send %d: %s", row.ID, mail.Redact(sendErr))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
