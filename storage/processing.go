package storage

// Processing a new ticket (ticket:create): reading what its emails are made of and recording
// that it was processed, with its emails, grouped with other workers' calls on Postgres.

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"
)

// NewTicketMail is what the emails of a new ticket are made of. Its Customer carries the id,
// name, email and language: not the domains.
type NewTicketMail struct {
	Ticket   Ticket
	Customer Customer
	Message  string
	// Attachments are the files of the first message, by name and size.
	Attachments []AttachmentRef
}

// NewTicketMail reads what a new ticket's emails are made of: the ticket as processing routes
// it (to its subject's department), its customer and its first message. processed reports that
// the ticket was processed already.
func (s *Store) NewTicketMail(ctx context.Context, ticketID int64) (m NewTicketMail, processed bool, err error) {
	r, err := s.mailReads.do(ctx, ticketID)
	if err == nil && !r.found {
		err = ErrNotFound
	}
	if err != nil {
		return NewTicketMail{}, false, err
	}
	if r.hasAttachments {
		if r.m.Attachments, err = s.firstMessageAttachments(ctx, ticketID); err != nil {
			return NewTicketMail{}, false, err
		}
	}
	return r.m, r.m.Ticket.ProcessedAt != nil, nil
}

// RecordTicketProcessed routes a ticket to its subject's department, marks its processing outbox
// row done and stores its emails in the outbox, each done when sent[i] is true (the SMTP server
// accepted it already) and pending otherwise; all of it at once, and only if the ticket was not
// processed yet. A second run of the processing, even a concurrent one, waits for the first's
// row lock, finds the ticket processed and writes nothing: it gets claimed=false. ids are the
// emails' outbox ids, in order.
func (s *Store) RecordTicketProcessed(ctx context.Context, ticketID int64, emails []Email, sent []bool) (ids []int64, claimed bool, err error) {
	if sent == nil {
		sent = make([]bool, len(emails))
	}
	if len(sent) != len(emails) {
		return nil, false, fmt.Errorf("storage: %d sent flags for %d emails", len(sent), len(emails))
	}
	if s.postgres {
		r, err := s.records.do(ctx, recordReq{ticketID: ticketID, emails: emails, sent: sent})
		return r.ids, r.claimed, err
	}
	at := now()
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE tickets SET department_id = `+routingDepartment+`,
			processed_at = ? WHERE id = ? AND processed_at IS NULL`), at, ticketID)
		if err != nil {
			return fmt.Errorf("storage: route ticket: %w", wrapConn(err))
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		claimed = true
		if ids, err = s.insertEmails(ctx, tx, emails, sent, at); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE outbox SET state = 'done', attempts = attempts + 1, updated_at = ?, done_at = ?
			WHERE ticket_id = ? AND task = ? AND state = 'pending'`), at, at, ticketID, TaskTicketCreate)
		return wrapConn(err)
	})
	if err != nil {
		return nil, false, err
	}
	return ids, claimed, nil
}

// mailRead is one ticket's answer in a grouped NewTicketMail read.
type mailRead struct {
	m              NewTicketMail
	found          bool
	hasAttachments bool
}

// newTicketMailsStatement reads tickets, their customers and their first messages in one query:
// several on Postgres, one on SQLite.
func (s *Store) newTicketMailsStatement(ctx context.Context, ids []int64) ([]mailRead, error) {
	var rows []struct {
		Ticket
		CustomerName     string  `db:"customer_name"`
		CustomerEmail    string  `db:"customer_email"`
		CustomerLanguage string  `db:"customer_language"`
		FirstMessage     *string `db:"first_message"`
		HasAttachments   bool    `db:"has_attachments"`
	}
	var err error
	switch {
	case s.postgres:
		err = s.grouped.SelectContext(ctx, &rows, newTicketMailsPostgres, ids)
	case len(ids) == 1:
		err = s.db.SelectContext(ctx, &rows, `SELECT `+ticketColumns+newTicketMailColumns+` FROM tickets t
			JOIN subjects s ON s.id = t.subject_id
			JOIN departments d ON d.id = `+routedDepartment+`
			LEFT JOIN ticket_passwords p ON p.ticket_id = t.id
			JOIN customers c ON c.id = t.customer_id WHERE t.id = ?`, ids[0])
	default:
		return nil, fmt.Errorf("storage: %d new tickets at once on SQLite", len(ids))
	}
	if err != nil {
		return nil, fmt.Errorf("storage: read new tickets: %w", wrapConn(err))
	}
	byID := make(map[int64]mailRead, len(rows))
	for _, row := range rows {
		if row.FirstMessage == nil {
			continue
		}
		byID[row.ID] = mailRead{m: NewTicketMail{Ticket: row.Ticket, Message: *row.FirstMessage,
			Customer: Customer{ID: row.CustomerID, Name: row.CustomerName, Email: row.CustomerEmail, Language: row.CustomerLanguage}},
			found: true, hasAttachments: row.HasAttachments}
	}
	out := make([]mailRead, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}

// newTicketMailsPostgres is the grouped read of new tickets. Its plan is kept (see
// groupedSession), so the tables that grow are reached by key only: tickets by the id array,
// a ticket's password, customer and first message by lookups that the OFFSET 0 keeps the planner
// from turning into joins (which it could plan as reads of the whole table). Subjects and
// departments are the catalog: a few dozen rows.
const newTicketMailsPostgres = `SELECT ` + ticketColumns + newTicketMailColumns + ` FROM tickets t
	JOIN subjects s ON s.id = t.subject_id
	JOIN departments d ON d.id = ` + routedDepartment + `
	LEFT JOIN LATERAL (SELECT p.expires_at, p.purged_at FROM ticket_passwords p WHERE p.ticket_id = t.id OFFSET 0) p ON true
	JOIN LATERAL (SELECT c.name, c.email, c.language FROM customers c WHERE c.id = t.customer_id OFFSET 0) c ON true
	WHERE t.id = ANY($1::bigint[])`

// routedDepartment is the department a new ticket's emails name: the one processing routes it to
// (its subject's, which the subject may have changed since the ticket was filed, unless staff
// moved it meanwhile), or, once processed, the one it was routed to.
const routedDepartment = `CASE WHEN t.processed_at IS NULL AND NOT EXISTS (SELECT 1 FROM status_changes c
		WHERE c.ticket_id = t.id AND c.to_department IS NOT NULL) THEN s.department_id
	ELSE COALESCE(t.department_id, s.department_id) END`

// routingDepartment is the department processing routes a ticket to (in an UPDATE of tickets):
// its subject's, unless staff transferred it before it was processed, a move routing must not
// undo.
// A transfer is the entry of the status history with a to_department (Store.Transfer).
const routingDepartment = `CASE WHEN EXISTS (SELECT 1 FROM status_changes c WHERE c.ticket_id = tickets.id AND c.to_department IS NOT NULL)
	THEN tickets.department_id ELSE (SELECT department_id FROM subjects WHERE subjects.id = tickets.subject_id) END`

// newTicketMailColumns are what a new ticket's emails need beyond the ticket (ticketColumns).
const newTicketMailColumns = `, c.name AS customer_name, c.email AS customer_email, c.language AS customer_language,
	(SELECT body FROM messages m WHERE m.ticket_id = t.id ORDER BY m.id LIMIT 1) AS first_message,
	EXISTS (SELECT 1 FROM attachments a WHERE a.ticket_id = t.id) AS has_attachments`

// recordReq is one ticket's part of a grouped RecordTicketProcessed.
type recordReq struct {
	ticketID int64
	emails   []Email
	sent     []bool
}

type recordRes struct {
	ids     []int64
	claimed bool
}

// recordStatement is RecordTicketProcessed for several tickets in one statement, its own
// transaction. A ticket named twice is claimed at most once: by its first request.
func (s *Store) recordStatement(ctx context.Context, reqs []recordReq) ([]recordRes, error) {
	var (
		ticketIDs []int64
		first     = make(map[int64]int, len(reqs)) // ticket id -> the request that may claim it
		ord       []int32
		owners    []int64
		kinds     []string
		froms     []string
		rcpts     []string
		msgIDs    []string
		raws      [][]byte
		sent      []bool
	)
	for i, r := range reqs {
		if _, dup := first[r.ticketID]; dup {
			continue
		}
		first[r.ticketID] = i
		ticketIDs = append(ticketIDs, r.ticketID)
		for j, e := range r.emails {
			ord = append(ord, int32(len(ord)))
			owners = append(owners, r.ticketID)
			kinds, froms, rcpts, msgIDs = append(kinds, e.Kind), append(froms, e.EnvelopeFrom), append(rcpts, e.Recipient), append(msgIDs, e.MessageID)
			raws, sent = append(raws, keptContent(e.Raw, r.sent[j])), append(sent, r.sent[j])
		}
	}
	at := now() // one time for the whole statement
	// Identity values follow the order of the SELECT, which ORDER BY fixes to the order of the
	// emails; a ticket's email ids, ascending, are thus in the order of its emails.
	var rows []struct {
		TicketID int64         `db:"ticket_id"`
		EmailID  sql.NullInt64 `db:"email_id"`
	}
	err := s.grouped.SelectContext(ctx, &rows, recordPostgres,
		at, ticketIDs, TaskTicketCreate, TaskEmailSend, ord, owners, kinds, froms, rcpts, msgIDs, raws, sent)
	if err != nil {
		return nil, fmt.Errorf("storage: route tickets: %w", wrapConn(err))
	}
	out := make([]recordRes, len(reqs))
	for _, row := range rows {
		r := &out[first[row.TicketID]]
		if row.EmailID.Valid {
			r.ids = append(r.ids, row.EmailID.Int64)
		} else {
			r.claimed = true
		}
	}
	for i := range out {
		r := &out[i]
		slices.Sort(r.ids)
		if !r.claimed {
			r.ids = nil
			continue
		}
		if len(r.ids) != len(reqs[i].emails) {
			return nil, fmt.Errorf("storage: route ticket: %d outbox ids for %d emails", len(r.ids), len(reqs[i].emails))
		}
	}
	return out, nil
}

// recordPostgres is the grouped processing record. Its plan is kept (see groupedSession), so the
// outbox is reached by key only: a claimed ticket's rows by its id (the OFFSET 0 keeps that
// lookup from becoming a join), then those rows by theirs. Asked for "the pending rows of these
// tickets" at once, a plan made while the outbox was empty reads every pending row, thousands
// in a backlog. The ticket was filed in its department at intake, so routing it again changes no
// indexed column unless its subject moved meanwhile: the update stays heap-only (migration 9).
const recordPostgres = `WITH claimed AS (
			UPDATE tickets SET department_id = ` + routingDepartment + `, processed_at = $1
			WHERE id = ANY($2::bigint[]) AND processed_at IS NULL RETURNING id),
		work AS (
			UPDATE outbox SET state = 'done', attempts = attempts + 1, updated_at = $1, done_at = $1
			WHERE id = ANY(ARRAY(SELECT o.id FROM claimed c
				CROSS JOIN LATERAL (SELECT o.id FROM outbox o WHERE o.ticket_id = c.id AND o.task = $3 OFFSET 0) o))
			AND state = 'pending'),
		queued AS (
			INSERT INTO outbox (task, ticket_id, kind, envelope_from, recipient, message_id, raw, state, attempts, created_at, updated_at, done_at)
			SELECT $4, e.ticket_id, e.kind, e.envelope_from, e.recipient, e.message_id, e.raw,
				CASE WHEN e.sent THEN 'done' ELSE 'pending' END, CASE WHEN e.sent THEN 1 ELSE 0 END, $1, $1,
				CASE WHEN e.sent THEN $1::timestamptz END
			FROM unnest($5::int[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bytea[], $12::boolean[])
				AS e (n, ticket_id, kind, envelope_from, recipient, message_id, raw, sent)
			WHERE e.ticket_id = ANY(ARRAY(SELECT id FROM claimed)) ORDER BY e.n RETURNING id, ticket_id)
		SELECT id AS ticket_id, NULL::bigint AS email_id FROM claimed
		UNION ALL SELECT ticket_id, id FROM queued`
