package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Outbox states.
const (
	OutboxPending = "pending"
	OutboxDone    = "done"
	OutboxFailed  = "failed"
	OutboxBounced = "bounced"
)

// TaskEmailSend is the outbox task of one email.
const TaskEmailSend = "email:send"

// OutboxRow is a unit of work that must happen even if Redis loses it: a task to run, or an
// email to send (then Raw holds the whole message, rendered once, so a resend is identical).
type OutboxRow struct {
	ID           int64      `db:"id"`
	Task         string     `db:"task"`
	TicketID     *int64     `db:"ticket_id"`
	Kind         string     `db:"kind"`
	EnvelopeFrom *string    `db:"envelope_from"`
	Recipient    *string    `db:"recipient"`
	MessageID    *string    `db:"message_id"`
	Raw          []byte     `db:"raw"`
	State        string     `db:"state"`
	Attempts     int        `db:"attempts"`
	LastError    *string    `db:"last_error"`
	CreatedAt    time.Time  `db:"created_at"`
	UpdatedAt    time.Time  `db:"updated_at"`
	DoneAt       *time.Time `db:"done_at"`
}

// Email is an outgoing message to queue through the outbox.
type Email struct {
	Kind         string // confirmation, department, update, autoclose, customer_reply, auto_answer
	TicketID     *int64
	EnvelopeFrom string // "" is the null sender
	Recipient    string
	MessageID    string
	Raw          []byte
}

func (s *Store) insertOutbox(ctx context.Context, tx *sqlx.Tx, r OutboxRow, at time.Time) (int64, error) {
	var id int64
	err := tx.GetContext(ctx, &id, s.q(`INSERT INTO outbox (task, ticket_id, kind, envelope_from, recipient, message_id, raw, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) RETURNING id`),
		r.Task, r.TicketID, r.Kind, r.EnvelopeFrom, r.Recipient, r.MessageID, r.Raw, at, at)
	if err != nil {
		return 0, fmt.Errorf("storage: insert outbox: %w", wrapConn(err))
	}
	return id, nil
}

// keptContent is what the outbox keeps of an email's content: all of it until the SMTP server
// has accepted it, for the sends to come are byte for byte the same; nothing after. A delivered
// email's row keeps its record (kind, recipient, Message-ID, when), which bounces and the staff
// pages read; its content is the ticket's, rendered, and a copy kept for good would be one more
// place customer text lives and 5 KB of table and WAL per email (10 KB per new ticket).
func keptContent(raw []byte, sent bool) []byte {
	if sent {
		return nil
	}
	return raw
}

// insertEmails queues emails in the caller's transaction, in one statement per hundred, and
// returns their outbox ids in the order of emails. An email whose sent flag is true is stored as
// done; sent may be nil.
func (s *Store) insertEmails(ctx context.Context, tx *sqlx.Tx, emails []Email, sent []bool, at time.Time) ([]int64, error) {
	ids := make([]int64, 0, len(emails))
	for start := 0; start < len(emails); start += 100 {
		chunk := emails[start:min(start+100, len(emails))]
		var (
			q    strings.Builder
			args = make([]any, 0, len(chunk)*8)
		)
		q.WriteString(`INSERT INTO outbox (task, ticket_id, kind, envelope_from, recipient, message_id, raw, state, attempts, created_at, updated_at, done_at) VALUES `)
		for i, e := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
			accepted := sent != nil && sent[start+i]
			state, attempts, doneAt := OutboxPending, 0, (*time.Time)(nil)
			if accepted {
				state, attempts, doneAt = OutboxDone, 1, &at
			}
			args = append(args, TaskEmailSend, e.TicketID, e.Kind, e.EnvelopeFrom, e.Recipient, e.MessageID, keptContent(e.Raw, accepted), state, attempts, at, at, doneAt)
		}
		q.WriteString(` RETURNING id`)
		var got []int64
		if err := tx.SelectContext(ctx, &got, s.q(q.String()), args...); err != nil {
			return nil, fmt.Errorf("storage: insert outbox emails: %w", wrapConn(err))
		}
		if len(got) != len(chunk) {
			return nil, fmt.Errorf("storage: insert outbox emails: %d ids for %d rows", len(got), len(chunk))
		}
		// Identity values are assigned in the order of the VALUES list.
		slices.Sort(got)
		ids = append(ids, got...)
	}
	return ids, nil
}

// QueueEmails stores emails in the outbox in one transaction.
func (s *Store) QueueEmails(ctx context.Context, emails []Email) ([]int64, error) {
	var ids []int64
	err := s.tx(ctx, func(tx *sqlx.Tx) (err error) {
		ids, err = s.insertEmails(ctx, tx, emails, nil, now())
		return err
	})
	return ids, err
}

// OutboxRowByID returns one outbox row.
func (s *Store) OutboxRowByID(ctx context.Context, id int64) (OutboxRow, error) {
	var r OutboxRow
	err := s.db.GetContext(ctx, &r, s.q(`SELECT id, task, ticket_id, kind, envelope_from, recipient, message_id, raw, state, attempts,
		last_error, created_at, updated_at, done_at FROM outbox WHERE id = ?`), id)
	return r, notFound(err)
}

// MarkOutboxDone records that rows' work is done (emails accepted by the SMTP server), in one
// statement.
func (s *Store) MarkOutboxDone(ctx context.Context, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	t := now()
	query, args, err := sqlx.In(`UPDATE outbox SET state = 'done', attempts = attempts + 1, last_error = NULL, raw = NULL, updated_at = ?, done_at = ?
		WHERE id IN (?) AND state = 'pending'`, t, t, ids)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.q(query), s.planned(args)...)
	return wrapConn(err)
}

// PendingTicketEmails lists the ids of a ticket's emails still waiting to be sent.
func (s *Store) PendingTicketEmails(ctx context.Context, ticketID int64) ([]int64, error) {
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, s.q(`SELECT id FROM outbox WHERE ticket_id = ? AND task = ? AND state = 'pending' ORDER BY id`),
		ticketID, TaskEmailSend)
	return ids, wrapConn(err)
}

// MarkOutboxAttempt records a failed attempt that will be retried.
func (s *Store) MarkOutboxAttempt(ctx context.Context, id int64, reason string) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE outbox SET attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ? AND state = 'pending'`),
		storableText(reason, 500), now(), id)
	return wrapConn(err)
}

// MarkOutboxFailed records that a row's work failed for good.
func (s *Store) MarkOutboxFailed(ctx context.Context, id int64, reason string) error {
	t := now()
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?, updated_at = ?, done_at = ?
		WHERE id = ? AND state = 'pending'`), storableText(reason, 500), t, t, id)
	return wrapConn(err)
}

// PendingOutbox lists rows still pending that were created before a time, in id order after
// afterID: work a crash or a Redis that lost its data may have left behind.
func (s *Store) PendingOutbox(ctx context.Context, before time.Time, afterID int64, limit int) ([]OutboxRow, error) {
	var rs []OutboxRow
	err := s.db.SelectContext(ctx, &rs, s.q(`SELECT id, task, ticket_id, kind, state, attempts, created_at, updated_at FROM outbox
		WHERE state = 'pending' AND id > ? AND created_at < ? ORDER BY id LIMIT ?`), afterID, before, limit)
	return rs, wrapConn(err)
}

// FailedEmails lists emails that could not be delivered, newest first, for staff.
func (s *Store) FailedEmails(ctx context.Context, limit int) ([]OutboxRow, error) {
	var rs []OutboxRow
	err := s.db.SelectContext(ctx, &rs, s.q(`SELECT id, task, ticket_id, kind, recipient, message_id, state, attempts, last_error, created_at, updated_at, done_at
		FROM outbox o WHERE state IN ('failed', 'bounced')
		AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.id = o.ticket_id AND t.erasure_id IS NOT NULL) ORDER BY updated_at DESC, id DESC LIMIT ?`), limit)
	return rs, wrapConn(err)
}

// RecordUnsendable stores, as failed, an email that could not even be composed because its
// address is one no relay takes: staff find it among the failed emails, and nothing retries it.
func (s *Store) RecordUnsendable(ctx context.Context, e Email, reason string) error {
	t := now()
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO outbox (task, ticket_id, kind, recipient, message_id, state, attempts, last_error, created_at, updated_at, done_at)
		VALUES (?, ?, ?, ?, ?, 'failed', 1, ?, ?, ?, ?)`), TaskEmailSend, e.TicketID, e.Kind, storableText(e.Recipient, 320), e.MessageID, storableText(reason, 500), t, t, t)
	return wrapConn(err)
}
