package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/tickets"
)

// Ticket is a support request with the names it is shown with.
type Ticket struct {
	ID                int64          `db:"id"`
	Number            string         `db:"number"`
	CustomerID        string         `db:"customer_id"`
	SubjectID         string         `db:"subject_id"`
	SubjectName       string         `db:"subject_name"`
	SubjectNameEn     string         `db:"subject_name_en"`
	DepartmentID      string         `db:"department_id"`
	DepartmentName    string         `db:"department_name"`
	DepartmentNameEn  string         `db:"department_name_en"`
	DepartmentEmail   string         `db:"department_email"`
	Routed            bool           `db:"routed"`
	Domain            *string        `db:"domain"`
	Status            tickets.Status `db:"status"`
	RelatedTicket     *string        `db:"related_ticket"`
	CreatedAt         time.Time      `db:"created_at"`
	UpdatedAt         time.Time      `db:"updated_at"`
	ProcessedAt       *time.Time     `db:"processed_at"`
	PasswordExpiresAt *time.Time     `db:"password_expires_at"`
	PasswordPurgedAt  *time.Time     `db:"password_purged_at"`
}

// Password states shown to customers.
const (
	PasswordNone     = ""
	PasswordProvided = "provided"
)

// PasswordState is what a view may say about the ticket's password at a given time: none,
// "provided" while it is kept, or the obfuscated marker once expired (purged or not).
func (t Ticket) PasswordState(at time.Time) string {
	switch {
	case t.PasswordExpiresAt == nil:
		return PasswordNone
	case t.PasswordPurgedAt == nil && at.Before(*t.PasswordExpiresAt):
		return PasswordProvided
	default:
		return secret.Obfuscated
	}
}

// Subject returns the subject's name in a language.
func (t Ticket) SubjectLabel(lang string) string {
	if lang == "en" && t.SubjectNameEn != "" {
		return t.SubjectNameEn
	}
	return t.SubjectName
}

// DepartmentLabel returns the department's name in a language.
func (t Ticket) DepartmentLabel(lang string) string {
	if lang == "en" && t.DepartmentNameEn != "" {
		return t.DepartmentNameEn
	}
	return t.DepartmentName
}

// Until routed, a ticket shows the department its subject leads to.
const ticketColumns = `t.id, t.number, t.customer_id, t.subject_id, s.name AS subject_name, s.name_en AS subject_name_en,
	d.id AS department_id, d.name AS department_name, d.name_en AS department_name_en, d.email AS department_email,
	t.department_id IS NOT NULL AS routed, t.domain, t.status, t.related_ticket, t.created_at, t.updated_at, t.processed_at,
	p.expires_at AS password_expires_at, p.purged_at AS password_purged_at`

const ticketFrom = ` FROM tickets t
	JOIN subjects s ON s.id = t.subject_id
	JOIN departments d ON d.id = COALESCE(t.department_id, s.department_id)
	LEFT JOIN ticket_passwords p ON p.ticket_id = t.id`

// NewTicket is a validated request from the client area.
type NewTicket struct {
	CustomerID     string
	SubjectID      string
	Domain         *string
	Message        string
	RelatedTicket  *string
	IdempotencyKey string
	CreatedAt      time.Time
	// PasswordExpiresAt is set when a password was given; Seal is then called inside the
	// transaction with the new ticket's id, so the sealed value is bound to the ticket.
	PasswordExpiresAt *time.Time
	Seal              func(ticketID int64) (secret.Sealed, error)
}

// Created is the outcome of CreateTicket.
type Created struct {
	TicketID int64
	Number   string
	Status   tickets.Status
	// Replayed is true when the idempotency key named an existing ticket: nothing was created.
	Replayed bool
}

// ErrIdempotencyMismatch is returned when an Idempotency-Key is reused for a different request.
var ErrIdempotencyMismatch = errors.New("storage: idempotency key already used for another request")

// TaskTicketCreate is the outbox task that processes a new ticket.
const TaskTicketCreate = "ticket:create"

// CreateTicket stores a ticket, its first message, its sealed password and the outbox row of
// its processing in one transaction.
func (s *Store) CreateTicket(ctx context.Context, nt NewTicket) (Created, error) {
	var out Created
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		if nt.IdempotencyKey != "" {
			found, err := s.replay(ctx, tx, nt)
			if err != nil || found.Replayed {
				out = found
				return err
			}
		}
		var id int64
		for attempt := 0; ; attempt++ {
			number := tickets.NewNumber()
			var key *string
			if nt.IdempotencyKey != "" {
				key = &nt.IdempotencyKey
			}
			// ON CONFLICT DO NOTHING covers both a number collision and a concurrent request
			// with the same idempotency key; which one it was is told apart below.
			err := tx.GetContext(ctx, &id, s.q(`INSERT INTO tickets (number, customer_id, subject_id, domain, status, related_ticket,
				idempotency_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`),
				number, nt.CustomerID, nt.SubjectID, nt.Domain, tickets.Open, nt.RelatedTicket, key, nt.CreatedAt, nt.CreatedAt)
			if err == nil {
				out = Created{TicketID: id, Number: number, Status: tickets.Open}
				break
			}
			if notFound(err) != ErrNotFound {
				return fmt.Errorf("storage: insert ticket: %w", wrapConn(err))
			}
			if nt.IdempotencyKey != "" {
				if found, err := s.replay(ctx, tx, nt); err != nil || found.Replayed {
					out = found
					return err
				}
			}
			if attempt == 10 {
				return errors.New("storage: no free ticket number after 10 draws")
			}
		}
		var sealed secret.Sealed
		if nt.PasswordExpiresAt != nil {
			var err error
			if sealed, err = nt.Seal(id); err != nil {
				return err
			}
		}
		if s.postgres {
			return s.insertTicketRowsPostgres(ctx, tx, id, nt, sealed)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO messages (ticket_id, author, body, created_at) VALUES (?, 'customer', ?, ?)`),
			id, nt.Message, nt.CreatedAt); err != nil {
			return fmt.Errorf("storage: insert message: %w", wrapConn(err))
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO status_changes (ticket_id, from_status, to_status, actor, created_at) VALUES (?, NULL, ?, 'customer', ?)`),
			id, tickets.Open, nt.CreatedAt); err != nil {
			return fmt.Errorf("storage: insert status change: %w", wrapConn(err))
		}
		if nt.PasswordExpiresAt != nil {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO ticket_passwords (ticket_id, password_sealed, data_key_sealed, expires_at) VALUES (?, ?, ?, ?)`),
				id, sealed.Password, sealed.DataKey, *nt.PasswordExpiresAt); err != nil {
				return fmt.Errorf("storage: insert password: %w", wrapConn(err))
			}
		}
		_, err := s.insertOutbox(ctx, tx, OutboxRow{Task: TaskTicketCreate, TicketID: &id}, nt.CreatedAt)
		return err
	})
	return out, err
}

// insertTicketRowsPostgres writes a new ticket's first message, its first status change, its
// sealed password (when there is one) and the outbox row of its processing in one statement:
// the same rows as the SQLite path, in one round trip instead of four.
func (s *Store) insertTicketRowsPostgres(ctx context.Context, tx *sqlx.Tx, id int64, nt NewTicket, sealed secret.Sealed) error {
	_, err := tx.ExecContext(ctx, `WITH message AS (
			INSERT INTO messages (ticket_id, author, body, created_at) VALUES ($1, 'customer', $2, $3)),
		status AS (
			INSERT INTO status_changes (ticket_id, from_status, to_status, actor, created_at) VALUES ($1, NULL, $4, 'customer', $3)),
		password AS (
			INSERT INTO ticket_passwords (ticket_id, password_sealed, data_key_sealed, expires_at)
			SELECT $1, $5::bytea, $6::bytea, $7::timestamptz WHERE $7::timestamptz IS NOT NULL)
		INSERT INTO outbox (task, ticket_id, state, created_at, updated_at) VALUES ($8, $1, 'pending', $3, $3)`,
		id, nt.Message, nt.CreatedAt, tickets.Open, sealed.Password, sealed.DataKey, nt.PasswordExpiresAt, TaskTicketCreate)
	if err != nil {
		return fmt.Errorf("storage: insert the rows of a new ticket: %w", wrapConn(err))
	}
	return nil
}

func (s *Store) replay(ctx context.Context, tx *sqlx.Tx, nt NewTicket) (Created, error) {
	var row struct {
		ID        int64          `db:"id"`
		Number    string         `db:"number"`
		Status    tickets.Status `db:"status"`
		SubjectID string         `db:"subject_id"`
	}
	err := tx.GetContext(ctx, &row, s.q(`SELECT id, number, status, subject_id FROM tickets WHERE customer_id = ? AND idempotency_key = ?`),
		nt.CustomerID, nt.IdempotencyKey)
	if err != nil {
		if err = notFound(err); err == ErrNotFound {
			return Created{}, nil
		}
		return Created{}, err
	}
	if row.SubjectID != nt.SubjectID {
		return Created{}, ErrIdempotencyMismatch
	}
	return Created{TicketID: row.ID, Number: row.Number, Status: row.Status, Replayed: true}, nil
}

// CustomerTicket returns one of a customer's tickets by number; another customer's ticket is
// ErrNotFound, exactly like a ticket that does not exist.
func (s *Store) CustomerTicket(ctx context.Context, customerID, number string) (Ticket, error) {
	return s.ticket(ctx, s.db, ` WHERE t.customer_id = ? AND t.number = ?`, customerID, number)
}

// TicketByNumber returns a ticket for staff.
func (s *Store) TicketByNumber(ctx context.Context, number string) (Ticket, error) {
	return s.ticket(ctx, s.db, ` WHERE t.number = ?`, number)
}

// TicketByID returns a ticket by its internal id.
func (s *Store) TicketByID(ctx context.Context, id int64) (Ticket, error) {
	return s.ticket(ctx, s.db, ` WHERE t.id = ?`, id)
}

func (s *Store) ticket(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) (Ticket, error) {
	var t Ticket
	err := sqlx.GetContext(ctx, q, &t, s.q(`SELECT `+ticketColumns+ticketFrom+where), args...)
	return t, notFound(err)
}

// NewTicketMail is what the emails of a new ticket are made of. Its Customer carries the id,
// name, email and language: not the domains.
type NewTicketMail struct {
	Ticket   Ticket
	Customer Customer
	Message  string
}

// newTicketMail reads a ticket, its customer and its first message in one query.
func (s *Store) newTicketMail(ctx context.Context, q sqlx.QueryerContext, ticketID int64) (NewTicketMail, error) {
	var row struct {
		Ticket
		CustomerName     string  `db:"customer_name"`
		CustomerEmail    string  `db:"customer_email"`
		CustomerLanguage string  `db:"customer_language"`
		FirstMessage     *string `db:"first_message"`
	}
	err := sqlx.GetContext(ctx, q, &row, s.q(`SELECT `+ticketColumns+`, c.name AS customer_name, c.email AS customer_email,
		c.language AS customer_language, (SELECT body FROM messages m WHERE m.ticket_id = t.id ORDER BY m.id LIMIT 1) AS first_message`+
		ticketFrom+` JOIN customers c ON c.id = t.customer_id WHERE t.id = ?`), ticketID)
	if err != nil {
		return NewTicketMail{}, notFound(err)
	}
	if row.FirstMessage == nil {
		return NewTicketMail{}, ErrNotFound
	}
	return NewTicketMail{Ticket: row.Ticket, Message: *row.FirstMessage,
		Customer: Customer{ID: row.CustomerID, Name: row.CustomerName, Email: row.CustomerEmail, Language: row.CustomerLanguage}}, nil
}

// ProcessTicket routes a new ticket to its subject's department and queues the emails that
// compose builds, in one transaction, and returns the routed ticket. It runs once per ticket:
// when the ticket was already processed it returns done=true and queues nothing.
func (s *Store) ProcessTicket(ctx context.Context, ticketID int64, compose func(NewTicketMail) ([]Email, error)) (processed Ticket, emailIDs []int64, done bool, err error) {
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		t := now()
		// Routing and claiming in one statement: a second delivery of the task waits for the
		// first's row lock, then finds processed_at set and changes nothing.
		claimed, err := s.claimTicket(ctx, tx, ticketID, t)
		if err != nil {
			return fmt.Errorf("storage: route ticket: %w", wrapConn(err))
		}
		if !claimed {
			if _, err := s.ticket(ctx, tx, ` WHERE t.id = ?`, ticketID); err != nil {
				return err // ErrNotFound for a ticket that does not exist
			}
			done = true
			return nil
		}
		m, err := s.newTicketMail(ctx, tx, ticketID)
		if err != nil {
			return err
		}
		emails, err := compose(m)
		if err != nil {
			return err
		}
		if emailIDs, err = s.insertEmails(ctx, tx, emails, t); err != nil {
			return err
		}
		processed = m.Ticket
		if s.postgres {
			return nil // claimTicket marked the outbox row done
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE outbox SET state = 'done', attempts = attempts + 1, updated_at = ?, done_at = ?
			WHERE id IN (SELECT id FROM outbox WHERE ticket_id = ? AND task = ?) AND state = 'pending'`), t, t, ticketID, TaskTicketCreate)
		return wrapConn(err)
	})
	return processed, emailIDs, done, err
}

// claimTicket routes a ticket not yet processed and marks it processed; it reports whether it
// did. On Postgres the same statement marks the ticket's processing outbox row done (through
// the ticket's own rows, so that the pending-rows index is not walked); elsewhere
// ProcessTicket does it after the emails are queued, in the same transaction.
func (s *Store) claimTicket(ctx context.Context, tx *sqlx.Tx, ticketID int64, at time.Time) (bool, error) {
	if !s.postgres {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE tickets SET department_id = (SELECT department_id FROM subjects WHERE subjects.id = tickets.subject_id),
			processed_at = ? WHERE id = ? AND processed_at IS NULL`), at, ticketID)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		return n > 0, err
	}
	var n int
	err := tx.GetContext(ctx, &n, `WITH claimed AS (
			UPDATE tickets SET department_id = (SELECT department_id FROM subjects WHERE subjects.id = tickets.subject_id), processed_at = $1
			WHERE id = $2 AND processed_at IS NULL RETURNING id),
		work AS (
			UPDATE outbox SET state = 'done', attempts = attempts + 1, updated_at = $1, done_at = $1
			WHERE id IN (SELECT id FROM outbox WHERE ticket_id IN (SELECT id FROM claimed) AND task = $3) AND state = 'pending')
		SELECT COUNT(*) FROM claimed`, at, ticketID, TaskTicketCreate)
	return n > 0, err
}

// HistoryQuery selects a page of a customer's history.
type HistoryQuery struct {
	CustomerID string
	Status     tickets.Status // "" for all
	Page       int            // from 1
	PerPage    int
}

// History returns a page of a customer's tickets, newest first, and how many there are in all.
func (s *Store) History(ctx context.Context, hq HistoryQuery) ([]Ticket, int, error) {
	where, args := ` WHERE t.customer_id = ?`, []any{hq.CustomerID}
	if hq.Status != "" {
		where += ` AND t.status = ?`
		args = append(args, hq.Status)
	}
	var total int
	if err := s.db.GetContext(ctx, &total, s.q(`SELECT COUNT(*) FROM tickets t`+where), args...); err != nil {
		return nil, 0, wrapConn(err)
	}
	// A deferred join: the offset walks the narrow (customer_id, created_at, id) index, and only
	// the page's rows are joined, so a deep page of a large customer stays cheap.
	var ts []Ticket
	err := s.db.SelectContext(ctx, &ts, s.q(`SELECT `+ticketColumns+ticketFrom+` WHERE t.id IN (SELECT t.id FROM tickets t`+where+
		` ORDER BY t.created_at DESC, t.id DESC LIMIT ? OFFSET ?) ORDER BY t.created_at DESC, t.id DESC`),
		append(args, hq.PerPage, (hq.Page-1)*hq.PerPage)...)
	return ts, total, wrapConn(err)
}

// Message is one entry of a ticket's thread.
type Message struct {
	ID        int64     `db:"id"`
	Author    string    `db:"author"` // "customer" or "staff"
	Staff     *string   `db:"staff"`
	Body      string    `db:"body"`
	CreatedAt time.Time `db:"created_at"`
}

// Messages returns a ticket's thread, oldest first.
func (s *Store) Messages(ctx context.Context, ticketID int64) ([]Message, error) {
	var ms []Message
	err := s.db.SelectContext(ctx, &ms, s.q(`SELECT id, author, staff, body, created_at FROM messages WHERE ticket_id = ? ORDER BY id`), ticketID)
	return ms, wrapConn(err)
}
