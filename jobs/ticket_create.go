package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/notify"
	"github.com/assistd/assistd/storage"
)

// TypeTicketCreate processes a ticket the API has stored: routes it to its department, queues
// the customer's confirmation copy and the department's notification, and schedules the
// destruction of its password.
const TypeTicketCreate = "ticket:create"

// TicketCreatePayload names the ticket.
type TicketCreatePayload struct {
	TicketID int64 `json:"ticket_id"`
}

// NewTicketCreateTask builds the task; its id is derived from the ticket, so enqueueing it twice
// (the API, then the relay) queues it once.
func NewTicketCreateTask(ticketID int64) *asynq.Task {
	return asynq.NewTask(TypeTicketCreate, mustJSON(TicketCreatePayload{TicketID: ticketID}),
		asynq.TaskID(ticketCreateTaskID(ticketID)), asynq.Queue(QueueCritical),
		asynq.MaxRetry(20), asynq.Timeout(ticketCreateTimeout))
}

// ticketCreateTimeout covers inlineSendBudget plus the relay's answer to the last email's data,
// which the sender awaits whatever the budget (30 s at most in serve): a task timed out there
// would send the ticket's emails again.
const ticketCreateTimeout = time.Minute

func ticketCreateTaskID(ticketID int64) string { return "ticket:" + strconv.FormatInt(ticketID, 10) }

// HandleTicketCreate reads a new ticket, renders its two emails (Message-IDs derived from the
// ticket, so a second rendering is the same message), sends them on the worker's SMTP pool, then
// records in one statement that the ticket is routed and processed and that its emails are done
// (or pending, for those the SMTP server did not accept: email:send retries those with backoff,
// or records their failure).
//
// A crash before that statement leaves the ticket unprocessed: asynq runs the task again, and an
// email already sent goes again with the same Message-ID. A redelivered task that finds the
// ticket processed hands to email:send whatever emails are still pending. The statement runs on
// the Deliveries pool: the ticket's creation is already durable, and a commit lost in a database
// crash only means the ticket is processed again, the same way.
//
// Once processed, the ticket is given an assignee when its department assigns automatically
// (storage.AutoAssign: its own transaction, under the department's lock, a no-op for a ticket
// assigned already); a failure there is retried with the task, which finds the ticket processed.
func (d *Deps) HandleTicketCreate(ctx context.Context, t *asynq.Task) error {
	var p TicketCreatePayload
	if err := decode(t, &p); err != nil {
		return err
	}
	st := d.deliveries()
	m, processed, err := st.NewTicketMail(ctx, p.TicketID)
	if err != nil {
		return fmt.Errorf("ticket:create %d: %w", p.TicketID, err)
	}
	if processed {
		if err := d.autoAssign(ctx, p.TicketID); err != nil {
			return err
		}
		return d.handPending(ctx, p.TicketID)
	}
	emails, unsendable, err := d.emails().NewTicket(m)
	if err != nil {
		return fmt.Errorf("ticket:create %d: %w", p.TicketID, err)
	}
	sent := d.sendNow(ctx, emails)
	ids, claimed, err := st.RecordTicketProcessed(ctx, p.TicketID, emails, sent)
	if err != nil {
		return fmt.Errorf("ticket:create %d: %w", p.TicketID, err)
	}
	if !claimed {
		// Another run of this task processed the ticket meanwhile.
		if err := d.autoAssign(ctx, p.TicketID); err != nil {
			return err
		}
		return d.handPending(ctx, p.TicketID)
	}
	if err := d.recordUnsendable(ctx, m, unsendable); err != nil {
		// The ticket is processed: a retry would find it so and never come back here.
		d.Log.Error("unsendable email not recorded", "ticket_id", p.TicketID, "err", err)
	}
	if m.Ticket.PasswordExpiresAt != nil {
		d.scheduleSecretExpiry(ctx, p.TicketID, *m.Ticket.PasswordExpiresAt)
	}
	d.startClocks(ctx, m.Ticket)
	var later []int64
	for i, id := range ids {
		if !sent[i] {
			later = append(later, id)
		}
	}
	if err := d.Enqueuer.EnqueueEmails(ctx, later); err != nil {
		d.Log.Warn("emails left to the outbox relay", "ticket_id", p.TicketID, "err", err)
	}
	return d.autoAssign(ctx, p.TicketID)
}

// autoAssign gives a processed ticket its assignee when its department assigns automatically.
func (d *Deps) autoAssign(ctx context.Context, ticketID int64) error {
	if _, _, err := d.Store.AutoAssign(ctx, ticketID); err != nil {
		return fmt.Errorf("ticket:create %d: automatic assignment: %w", ticketID, err)
	}
	return nil
}

// handPending queues email:send for a processed ticket's emails still pending.
func (d *Deps) handPending(ctx context.Context, ticketID int64) error {
	pending, err := d.deliveries().PendingTicketEmails(ctx, ticketID)
	if err != nil {
		return fmt.Errorf("ticket:create %d: %w", ticketID, err)
	}
	if err := d.Enqueuer.EnqueueEmails(ctx, pending); err != nil {
		d.Log.Warn("emails left to the outbox relay", "ticket_id", ticketID, "err", err)
	}
	return nil
}

// inlineSendBudget bounds the time ticket:create spends sending its emails.
const inlineSendBudget = 10 * time.Second

// sendNow tries each email once and reports which ones the SMTP server accepted.
func (d *Deps) sendNow(ctx context.Context, emails []storage.Email) []bool {
	sent := make([]bool, len(emails))
	if d.Sender == nil {
		return sent
	}
	ctx, cancel := context.WithTimeout(ctx, inlineSendBudget)
	defer cancel()
	for i, e := range emails {
		if ctx.Err() != nil {
			break
		}
		if err := d.Sender.Send(ctx, e.EnvelopeFrom, e.Recipient, e.Raw); err != nil {
			metrics.EmailsSent.WithLabelValues(e.Kind, "retry").Inc()
			d.Log.Info("email handed to email:send", "ticket_id", deref64(e.TicketID), "kind", e.Kind, "err", err)
			continue
		}
		metrics.EmailsSent.WithLabelValues(e.Kind, "sent").Inc()
		sent[i] = true
	}
	return sent
}

func deref64(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// recordUnsendable records the emails notify could not render for an unusable address as failed,
// where staff see them, and flags a customer's address on the ticket's page.
func (d *Deps) recordUnsendable(ctx context.Context, m storage.NewTicketMail, unsendable []storage.Email) error {
	var errs []error
	for _, e := range unsendable {
		metrics.EmailsSent.WithLabelValues(e.Kind, "failed").Inc()
		d.Log.Warn("email not sent: the stored address is unusable", "ticket_id", m.Ticket.ID, "kind", e.Kind)
		errs = append(errs, d.deliveries().RecordUnsendable(ctx, e, "the address is not one a relay takes: correct it and answer the ticket"))
		if e.Kind == notify.KindConfirmation {
			errs = append(errs, d.Store.MarkEmailUndeliverable(ctx, m.Ticket.CustomerID))
		}
	}
	return errors.Join(errs...)
}

// startClocks schedules a new ticket's first warning or breach. A ticket whose subject moved to
// another department before it was processed has its clocks set again under that department's
// policy first.
func (d *Deps) startClocks(ctx context.Context, t storage.Ticket) {
	if t.SLADepartmentID != nil && *t.SLADepartmentID != t.DepartmentID {
		var err error
		if t, err = d.Store.RestartClocks(ctx, t.ID); err != nil {
			d.Log.Warn("service-level clocks of a moved ticket left to its next change", "ticket_id", t.ID, "err", err)
			return
		}
	}
	d.ScheduleSLAMoment(ctx, t)
}
