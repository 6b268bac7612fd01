package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// ErasedCustomer owns the tickets of erased customers, and those retention erased: anonymous
// rows that reports still count. It cannot be a customer's id (those begin with a letter or a
// digit), so no client-area call reaches it.
const ErasedCustomer = "-erased-"

// Reasons for an erasure.
const (
	ErasureRequest   = "request"   // the customer asked (DELETE /api/v1/customers/{cid})
	ErasureRetention = "retention" // their tickets were closed longer ago than the retention period
)

// OutboxDropped is the state of an email or task that was still queued when its ticket was
// erased: it is never sent.
const OutboxDropped = "dropped"

// Erased is what an erasure destroys, counted when it is recorded.
type Erased struct {
	ID          int64 `db:"-" json:"-"`
	Tickets     int   `db:"tickets" json:"tickets"`
	Messages    int   `db:"messages" json:"messages"`
	Attachments int   `db:"attachments" json:"attachments"`
	Emails      int   `db:"emails" json:"emails"`
}

// EraseCustomer records a customer's erasure, in one transaction that takes them out of sight:
// their tickets pass to ErasedCustomer (and out of every staff view), the emails and tasks still
// queued for them are dropped, their sessions are cut off, and their record (name, email,
// domains) is deleted. The destruction of what the tickets hold is left to EraseBatch. A
// customer that does not exist is ErrNotFound.
func (s *Store) EraseCustomer(ctx context.Context, customerID string) (Erased, error) {
	var out Erased
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		var email string
		if err := tx.GetContext(ctx, &email, s.q(`SELECT email FROM customers WHERE id = ?`+s.forUpdate()), customerID); err != nil {
			return notFound(err)
		}
		at := now()
		id, err := s.recordErasure(ctx, tx, ErasureRequest, &customerID, &email, at)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE tickets SET customer_id = ?, erasure_id = ?, idempotency_key = NULL, processed_at = COALESCE(processed_at, ?)
			WHERE customer_id = ?`), ErasedCustomer, id, at, customerID); err != nil {
			return fmt.Errorf("storage: erase customer: %w", wrapConn(err))
		}
		if out, err = s.sealErasure(ctx, tx, id, at); err != nil {
			return err
		}
		// Their uploads never attached go with the erasure too.
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE attachments SET removed_at = COALESCE(removed_at, ?), name = '', sha256 = '', data_key_sealed = NULL,
			erasure_id = ? WHERE owner_kind = ? AND owner_id = ? AND message_id IS NULL`), at, id, OwnerCustomer, customerID); err != nil {
			return fmt.Errorf("storage: erase customer: %w", wrapConn(err))
		}
		for _, q := range []string{
			`DELETE FROM customer_domains WHERE customer_id = ?`,
			`DELETE FROM customers WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, s.q(q), customerID); err != nil {
				return fmt.Errorf("storage: erase customer: %w", wrapConn(err))
			}
		}
		// Every session that began before now is refused, for a new customer under this id too.
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO session_cutoffs (kind, subject, not_before) VALUES ('customer', ?, ?)
			ON CONFLICT (kind, subject) DO UPDATE SET not_before = excluded.not_before`), customerID, at)
		return wrapConn(err)
	})
	return out, err
}

// recordErasure inserts the erasure's row and makes sure the anonymous owner exists.
func (s *Store) recordErasure(ctx context.Context, tx *sqlx.Tx, reason string, customerID, email *string, at time.Time) (int64, error) {
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO customers (id, name, email, language, created_at, updated_at) VALUES (?, '', '', 'pt-PT', ?, ?)
		ON CONFLICT (id) DO NOTHING`), ErasedCustomer, at, at); err != nil {
		return 0, fmt.Errorf("storage: erasure owner: %w", wrapConn(err))
	}
	var id int64
	err := tx.GetContext(ctx, &id, s.q(`INSERT INTO erasures (reason, customer_id, email, requested_at) VALUES (?, ?, ?, ?) RETURNING id`),
		reason, customerID, email, at)
	if err != nil {
		return 0, fmt.Errorf("storage: record erasure: %w", wrapConn(err))
	}
	return id, nil
}

// sealErasure counts what the erasure's tickets hold and drops what is still queued for them.
func (s *Store) sealErasure(ctx context.Context, tx *sqlx.Tx, id int64, at time.Time) (Erased, error) {
	out := Erased{ID: id}
	err := tx.GetContext(ctx, &out, s.q(`SELECT
		(SELECT COUNT(*) FROM tickets WHERE erasure_id = ?) AS tickets,
		(SELECT COUNT(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id WHERE t.erasure_id = ? AND NOT m.internal) AS messages,
		(SELECT COUNT(*) FROM attachments a JOIN tickets t ON t.id = a.ticket_id WHERE t.erasure_id = ?) AS attachments,
		(SELECT COUNT(*) FROM outbox o JOIN tickets t ON t.id = o.ticket_id WHERE t.erasure_id = ? AND o.task = ?) AS emails`),
		id, id, id, id, TaskEmailSend)
	out.ID = id
	if err != nil {
		return Erased{}, fmt.Errorf("storage: count erasure: %w", wrapConn(err))
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE outbox SET state = ?, raw = NULL, updated_at = ?
		WHERE state = 'pending' AND ticket_id IN (SELECT id FROM tickets WHERE erasure_id = ?)`), OutboxDropped, at, id); err != nil {
		return Erased{}, fmt.Errorf("storage: drop queued work: %w", wrapConn(err))
	}
	_, err = tx.ExecContext(ctx, s.q(`UPDATE erasures SET tickets = ?, messages = ?, attachments = ?, emails = ? WHERE id = ?`),
		out.Tickets, out.Messages, out.Attachments, out.Emails, id)
	return out, wrapConn(err)
}

// EraseClosedBefore records the erasure of at most limit tickets closed before a time, as
// EraseCustomer does for a customer's: they pass to ErasedCustomer at once. It returns the
// erasure's id, or 0 when no ticket was old enough.
func (s *Store) EraseClosedBefore(ctx context.Context, before time.Time, limit int) (Erased, error) {
	var out Erased
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, s.q(`SELECT id FROM tickets WHERE status = 'closed' AND erasure_id IS NULL AND updated_at < ?
			ORDER BY updated_at, id LIMIT ?`+s.forUpdate()), before, limit); err != nil {
			return fmt.Errorf("storage: retention: %w", wrapConn(err))
		}
		if len(ids) == 0 {
			return nil
		}
		at := now()
		id, err := s.recordErasure(ctx, tx, ErasureRetention, nil, nil, at)
		if err != nil {
			return err
		}
		q, args, err := sqlx.In(`UPDATE tickets SET customer_id = ?, erasure_id = ?, idempotency_key = NULL WHERE id IN (?) AND erasure_id IS NULL`, ErasedCustomer, id, ids)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(q), args...); err != nil {
			return fmt.Errorf("storage: retention: %w", wrapConn(err))
		}
		out, err = s.sealErasure(ctx, tx, id, at)
		return err
	})
	return out, err
}

// UnfinishedErasures lists the erasures recorded and not yet carried out, oldest first.
func (s *Store) UnfinishedErasures(ctx context.Context, limit int) ([]int64, error) {
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, s.q(`SELECT id FROM erasures WHERE completed_at IS NULL ORDER BY id LIMIT ?`), limit)
	return ids, wrapConn(err)
}

// EraseBatch carries out the next batch of at most limit tickets of an erasure, in one
// transaction: their message bodies, stored emails, import-log rows, sealed passwords, domain
// are destroyed, and the erasure notes how far it got. When no ticket is
// left it destroys what names the customer without naming a ticket (import-log rows and
// automatic answers about no ticket, the answers' rate-limit keys), forgets the address, and
// completes the erasure: done is then true. Running a batch twice, or after completion, is
// harmless.
func (s *Store) EraseBatch(ctx context.Context, erasureID int64, limit int) (done bool, err error) {
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		var e struct {
			After     int64      `db:"after_ticket"`
			Email     *string    `db:"email"`
			Completed *time.Time `db:"completed_at"`
		}
		if err := tx.GetContext(ctx, &e, s.q(`SELECT after_ticket, email, completed_at FROM erasures WHERE id = ?`+s.forUpdate()), erasureID); err != nil {
			return notFound(err)
		}
		if e.Completed != nil {
			done = true
			return nil
		}
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, s.q(`SELECT id FROM tickets WHERE erasure_id = ? AND id > ? ORDER BY id LIMIT ?`),
			erasureID, e.After, limit); err != nil {
			return fmt.Errorf("storage: erase batch: %w", wrapConn(err))
		}
		at := now()
		if len(ids) > 0 {
			return s.destroyTickets(ctx, tx, erasureID, ids, at)
		}
		// The erasure's files must be gone from the object store first (jobs deletes them).
		var left int
		if err := tx.GetContext(ctx, &left, s.q(`SELECT COUNT(*) FROM attachments WHERE erasure_id = ? AND object_deleted_at IS NULL`), erasureID); err != nil {
			return fmt.Errorf("storage: erase batch: %w", wrapConn(err))
		}
		if left > 0 {
			return nil
		}
		done = true
		if e.Email != nil {
			if err := s.destroyMentions(ctx, tx, *e.Email); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE erasures SET email = NULL, completed_at = ? WHERE id = ?`), at, erasureID)
		return wrapConn(err)
	})
	return done, err
}

// destroyTickets destroys what a batch of an erasure's tickets hold, keeping the anonymous rows.
func (s *Store) destroyTickets(ctx context.Context, tx *sqlx.Tx, erasureID int64, ids []int64, at time.Time) error {
	stmts := []struct {
		query string
		args  []any
	}{
		{`UPDATE messages SET body = '' WHERE ticket_id IN (?)`, nil},
		{`DELETE FROM inbound_messages WHERE ticket_id IN (?)`, nil},
		{`UPDATE outbox SET raw = NULL, recipient = NULL, envelope_from = NULL, last_error = NULL,
			state = CASE WHEN state = 'pending' THEN '` + OutboxDropped + `' ELSE state END WHERE ticket_id IN (?)`, nil},
		{`UPDATE ticket_passwords SET password_sealed = NULL, data_key_sealed = NULL, purged_at = COALESCE(purged_at, ?) WHERE ticket_id IN (?)`, []any{at}},
		{`UPDATE tickets SET domain = NULL WHERE id IN (?)`, nil},
		{`UPDATE attachments SET removed_at = COALESCE(removed_at, ?), name = '', sha256 = '', data_key_sealed = NULL, erasure_id = ? WHERE ticket_id IN (?)`,
			[]any{at, erasureID}},
	}
	for _, st := range stmts {
		q, args, err := sqlx.In(st.query, append(st.args, ids)...)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(q), args...); err != nil {
			return fmt.Errorf("storage: erase tickets: %w", wrapConn(err))
		}
	}
	_, err := tx.ExecContext(ctx, s.q(`UPDATE erasures SET after_ticket = ? WHERE id = ?`), ids[len(ids)-1], erasureID)
	return wrapConn(err)
}

// destroyMentions destroys what names an erased address without naming a ticket.
func (s *Store) destroyMentions(ctx context.Context, tx *sqlx.Tx, email string) error {
	email = strings.ToLower(email)
	like := "%" + escapeLike(email) + "%"
	for _, st := range []struct {
		query string
		args  []any
	}{
		{`DELETE FROM inbound_messages WHERE lower(from_addr) LIKE ? ESCAPE '\'`, []any{like}},
		{`DELETE FROM auto_answer_limits WHERE lower(limit_key) LIKE ? ESCAPE '\'`, []any{escapeLike(email) + "|%"}},
		{`UPDATE outbox SET raw = NULL, recipient = NULL, last_error = NULL,
			state = CASE WHEN state = 'pending' THEN '` + OutboxDropped + `' ELSE state END WHERE ticket_id IS NULL AND lower(recipient) = ?`, []any{email}},
	} {
		if _, err := tx.ExecContext(ctx, s.q(st.query), st.args...); err != nil {
			return fmt.Errorf("storage: erase mentions: %w", wrapConn(err))
		}
	}
	return nil
}

// escapeLike escapes LIKE's wildcards in a literal.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
