package jobs

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/mail"
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
		asynq.MaxRetry(20), asynq.Timeout(30*time.Second))
}

func ticketCreateTaskID(ticketID int64) string { return "ticket:" + strconv.FormatInt(ticketID, 10) }

// HandleTicketCreate is idempotent in SQL: a redelivered task finds the ticket processed and
// does nothing (the outbox relay sends whatever a crash left queued). Its transaction only routes
// and renders the two mails of a ticket whose creation is already durable, with stable
// Message-IDs, so it runs on the Deliveries pool: a commit lost in a database crash renders the
// same two mails again.
func (d *Deps) HandleTicketCreate(ctx context.Context, t *asynq.Task) error {
	var p TicketCreatePayload
	if err := decode(t, &p); err != nil {
		return err
	}
	ticket, ids, done, err := d.deliveries().ProcessTicket(ctx, p.TicketID, d.newTicketEmails)
	if err != nil {
		return fmt.Errorf("ticket:create %d: %w", p.TicketID, err)
	}
	if done {
		return nil
	}
	if err := d.Enqueuer.EnqueueEmails(ctx, ids); err != nil {
		d.Log.Warn("emails left to the outbox relay", "ticket_id", p.TicketID, "err", err)
	}
	if ticket.PasswordExpiresAt != nil {
		if err := d.Enqueuer.Enqueue(ctx, NewSecretExpireTask(p.TicketID, *ticket.PasswordExpiresAt)); err != nil {
			d.Log.Warn("password expiry left to the sweep", "ticket_id", p.TicketID, "err", err)
		}
	}
	return nil
}

func (d *Deps) newTicketEmails(m storage.NewTicketMail) ([]storage.Email, error) {
	tm := TicketMail(m.Ticket, m.Customer, m.Message, d.now())
	tm.MessageID = d.Composer.StableID(m.Ticket.Number, "confirmation")
	confirmation, err := d.Composer.Confirmation(tm)
	if err != nil {
		return nil, fmt.Errorf("compose confirmation: %w", err)
	}
	tm.MessageID = d.Composer.StableID(m.Ticket.Number, "department")
	notification, err := d.Composer.DepartmentNotification(tm, m.Ticket.DepartmentEmail)
	if err != nil {
		return nil, fmt.Errorf("compose department notification: %w", err)
	}
	return []storage.Email{
		outgoing("confirmation", m.Ticket.ID, confirmation),
		outgoing("department", m.Ticket.ID, notification),
	}, nil
}

// TicketMail gathers what the composer shows of a ticket.
func TicketMail(t storage.Ticket, c storage.Customer, message string, at time.Time) mail.TicketMail {
	tm := mail.TicketMail{
		Number: t.Number, SubjectName: t.SubjectLabel(c.Language), DepartmentName: t.DepartmentLabel(c.Language),
		CreatedAt: t.CreatedAt, Message: message, PasswordProvided: t.PasswordExpiresAt != nil,
		Language: c.Language, CustomerID: c.ID, CustomerName: c.Name, CustomerEmail: c.Email, Status: string(t.Status),
	}
	if t.Domain != nil {
		tm.Domain = *t.Domain
	}
	if t.RelatedTicket != nil {
		tm.RelatedTicket = *t.RelatedTicket
	}
	return tm
}

func outgoing(kind string, ticketID int64, o mail.Outgoing) storage.Email {
	return storage.Email{Kind: kind, TicketID: &ticketID, EnvelopeFrom: o.EnvelopeFrom, Recipient: o.To, MessageID: o.MessageID, Raw: o.Raw}
}
