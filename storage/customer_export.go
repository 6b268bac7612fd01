package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// ExportedTicket is one ticket of a customer's export: what the customer may see of it, and
// what was done with it on their behalf. It never holds a password, sealed or not.
type ExportedTicket struct {
	Ticket        Ticket
	Messages      []Message
	Statuses      []StatusChange
	Emails        []ExportedEmail
	Replies       []ExportedReply // their email replies and the automatic answers to them
	PasswordViews []time.Time
	// Attachments are the files of the ticket's messages, by message id.
	Attachments map[int64][]Attachment
}

// ExportedEmail is an email sent (or to be sent) about a ticket: when, to whom, which kind.
// Its content is not kept once delivered, and is not exported.
type ExportedEmail struct {
	TicketID  *int64     `db:"ticket_id"`
	Kind      string     `db:"kind"`
	Recipient *string    `db:"recipient"`
	State     string     `db:"state"`
	CreatedAt time.Time  `db:"created_at"`
	DoneAt    *time.Time `db:"done_at"`
}

// ExportedReply is an email the customer sent to the support mailbox, as the import log has it.
type ExportedReply struct {
	TicketID   *int64     `db:"ticket_id"`
	From       string     `db:"from_addr"`
	Subject    string     `db:"subject"`
	Outcome    string     `db:"outcome"`
	ReceivedAt time.Time  `db:"created_at"`
	AnsweredAt *time.Time `db:"answered_at"` // when the automatic answer was handed to the mail relay
	AnswerTo   *string    `db:"answer_to"`
}

// ExportPage is how many tickets an export reads at a time: its memory does not grow with the
// number of tickets.
const ExportPage = 100

// ExportTickets calls fn with each of a customer's tickets, oldest first, read a page at a time
// by keyset (the history's index), with their messages, status history, emails, email replies
// and password views read for the whole page at once.
func (s *Store) ExportTickets(ctx context.Context, customerID string, fn func(ExportedTicket) error) error {
	var (
		afterAt time.Time
		afterID int64
	)
	for {
		var page []Ticket
		if err := s.db.SelectContext(ctx, &page, s.q(`SELECT `+ticketColumns+ticketFrom+` WHERE t.customer_id = ?
			AND (t.created_at, t.id) > (?, ?) ORDER BY t.created_at, t.id LIMIT ?`),
			customerID, afterAt, afterID, ExportPage); err != nil {
			return fmt.Errorf("storage: export tickets: %w", wrapConn(err))
		}
		if len(page) == 0 {
			return nil
		}
		out, err := s.exportDetails(ctx, page)
		if err != nil {
			return err
		}
		for _, t := range out {
			if err := fn(t); err != nil {
				return err
			}
		}
		last := page[len(page)-1]
		afterAt, afterID = last.CreatedAt, last.ID
		if len(page) < ExportPage {
			return nil
		}
	}
}

// exportDetails reads what a page of tickets holds, one query per kind of record.
func (s *Store) exportDetails(ctx context.Context, page []Ticket) ([]ExportedTicket, error) {
	ids := make([]int64, len(page))
	out := make([]ExportedTicket, len(page))
	at := make(map[int64]*ExportedTicket, len(page))
	for i, t := range page {
		ids[i] = t.ID
		out[i].Ticket = t
		at[t.ID] = &out[i]
	}
	var msgs []struct {
		Message
		TicketID int64 `db:"ticket_id"`
	}
	var statuses []statusChangeRow
	var emails []ExportedEmail
	var replies []ExportedReply
	var views []struct {
		TicketID  int64     `db:"ticket_id"`
		CreatedAt time.Time `db:"created_at"`
	}
	reads := []struct {
		dest  any
		query string
		args  []any
	}{
		// Internal notes and transfers between departments are staff's own records, not the customer's.
		{&msgs, `SELECT id, ticket_id, author, staff, member, internal, body, created_at FROM messages WHERE ticket_id IN (?) AND NOT internal ORDER BY id`, nil},
		{&statuses, statusChangeColumns + ` WHERE ticket_id IN (?) AND to_department IS NULL ORDER BY id`, nil},
		// The emails sent to the customer; those to staff about their tickets (a department's
		// notice, an alert, a transfer) went to someone else and are staff's records.
		{&emails, `SELECT ticket_id, kind, recipient, state, created_at, done_at FROM outbox WHERE task = ? AND kind NOT IN (?) AND ticket_id IN (?) ORDER BY id`,
			[]any{TaskEmailSend, StaffEmailKinds}},
		{&replies, exportedReplyColumns + ` WHERE m.ticket_id IN (?) ORDER BY m.id`, nil},
		{&views, `SELECT ticket_id, created_at FROM password_reveals WHERE outcome = ? AND ticket_id IN (?) ORDER BY id`, []any{RevealGranted}},
	}
	for _, r := range reads {
		q, args, err := sqlx.In(r.query, append(r.args, ids)...)
		if err != nil {
			return nil, err
		}
		if err := s.db.SelectContext(ctx, r.dest, s.q(q), args...); err != nil {
			return nil, fmt.Errorf("storage: export: %w", wrapConn(err))
		}
	}
	for _, m := range msgs {
		at[m.TicketID].Messages = append(at[m.TicketID].Messages, m.Message)
	}
	var files []Attachment
	q, args, err := sqlx.In(`SELECT `+attachmentColumns+` FROM attachments a WHERE a.ticket_id IN (?) AND a.message_id IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = a.message_id AND m.internal) ORDER BY a.created_at, a.id`, ids)
	if err != nil {
		return nil, err
	}
	if err := s.db.SelectContext(ctx, &files, s.q(q), args...); err != nil {
		return nil, fmt.Errorf("storage: export: %w", wrapConn(err))
	}
	for _, a := range files {
		t := at[*a.TicketID]
		if t.Attachments == nil {
			t.Attachments = make(map[int64][]Attachment)
		}
		t.Attachments[*a.MessageID] = append(t.Attachments[*a.MessageID], a)
	}
	for _, r := range statuses {
		at[r.TicketID].Statuses = append(at[r.TicketID].Statuses, r.change())
	}
	for _, e := range emails {
		at[*e.TicketID].Emails = append(at[*e.TicketID].Emails, e)
	}
	for _, r := range replies {
		at[*r.TicketID].Replies = append(at[*r.TicketID].Replies, r)
	}
	for _, v := range views {
		at[v.TicketID].PasswordViews = append(at[v.TicketID].PasswordViews, v.CreatedAt.UTC())
	}
	return out, nil
}

// StaffEmailKinds are the outbox kinds of the emails sent to staff about a ticket (package notify
// names them): never a customer's, so never in their export.
var StaffEmailKinds = []string{"department", "customer_reply", "sla_warning", "sla_breach", "transfer"}

const exportedReplyColumns = `SELECT m.ticket_id, m.from_addr, m.subject, m.outcome, m.created_at, o.done_at AS answered_at, o.recipient AS answer_to
	FROM inbound_messages m LEFT JOIN outbox o ON o.id = m.outbox_id AND m.outcome LIKE 'answered%'`

// ExportMail lists what the support mailbox received from an address about no ticket, with the
// automatic answers to it, and the emails sent to that address about no ticket.
func (s *Store) ExportMail(ctx context.Context, email string) ([]ExportedReply, []ExportedEmail, error) {
	var replies []ExportedReply
	if err := s.db.SelectContext(ctx, &replies, s.q(exportedReplyColumns+` WHERE m.ticket_id IS NULL AND lower(m.from_addr) LIKE ? ESCAPE '\' ORDER BY m.id`),
		"%"+escapeLike(strings.ToLower(email))+"%"); err != nil {
		return nil, nil, fmt.Errorf("storage: export mail: %w", wrapConn(err))
	}
	var emails []ExportedEmail
	if err := s.db.SelectContext(ctx, &emails, s.q(`SELECT ticket_id, kind, recipient, state, created_at, done_at FROM outbox
		WHERE task = ? AND ticket_id IS NULL AND lower(recipient) = ? ORDER BY id`), TaskEmailSend, strings.ToLower(email)); err != nil {
		return nil, nil, fmt.Errorf("storage: export mail: %w", wrapConn(err))
	}
	return replies, emails, nil
}
