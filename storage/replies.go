package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// SavedReply is one of a department's standard answers. Its body may hold placeholders that are
// filled for a ticket when a member inserts it into an answer (tickets.FillReply).
type SavedReply struct {
	DepartmentID string    `db:"department_id"`
	ID           string    `db:"id"`
	Title        string    `db:"title"`
	Body         string    `db:"body"`
	UpdatedAt    time.Time `db:"updated_at"`
}

const savedReplyColumns = `SELECT department_id, id, title, body, updated_at FROM saved_replies`

// Replies lists a department's saved replies within reach, by title.
func (s *Store) Replies(ctx context.Context, reach Reach, departmentID string) ([]SavedReply, error) {
	cond, args := reach.clause("department_id")
	out := []SavedReply{}
	err := s.db.SelectContext(ctx, &out, s.q(savedReplyColumns+` WHERE department_id = ? AND `+cond+` ORDER BY title, id`),
		append([]any{departmentID}, args...)...)
	return out, wrapConn(err)
}

// Reply returns one saved reply of a department within reach, or ErrNotFound.
func (s *Store) Reply(ctx context.Context, reach Reach, departmentID, id string) (SavedReply, error) {
	return s.reply(ctx, s.db, reach, departmentID, id)
}

func (s *Store) reply(ctx context.Context, q sqlx.QueryerContext, reach Reach, departmentID, id string) (SavedReply, error) {
	cond, args := reach.clause("department_id")
	var r SavedReply
	err := sqlx.GetContext(ctx, q, &r, s.q(savedReplyColumns+` WHERE department_id = ? AND id = ? AND `+cond),
		append([]any{departmentID, id}, args...)...)
	return r, notFound(err)
}

// PutReply creates or replaces a saved reply of a department within reach and returns it as
// stored; a department unknown or out of reach is ErrNotFound.
func (s *Store) PutReply(ctx context.Context, reach Reach, r SavedReply) (SavedReply, error) {
	if !reach.Allows(r.DepartmentID) {
		return SavedReply{}, ErrNotFound
	}
	r.UpdatedAt = now()
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, s.q(`SELECT COUNT(*) FROM departments WHERE id = ?`), r.DepartmentID); err != nil {
			return wrapConn(err)
		}
		if n == 0 {
			return ErrNotFound
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO saved_replies (department_id, id, title, body, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (department_id, id) DO UPDATE SET title = excluded.title, body = excluded.body, updated_at = excluded.updated_at`),
			r.DepartmentID, r.ID, r.Title, r.Body, r.UpdatedAt)
		if err != nil {
			return fmt.Errorf("storage: put saved reply: %w", wrapConn(err))
		}
		return nil
	})
	if err != nil {
		return SavedReply{}, err
	}
	return r, nil
}

// DeleteReply deletes a saved reply of a department within reach and returns what it was;
// ErrNotFound when there is none.
func (s *Store) DeleteReply(ctx context.Context, reach Reach, departmentID, id string) (SavedReply, error) {
	var r SavedReply
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if r, err = s.reply(ctx, tx, reach, departmentID, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM saved_replies WHERE department_id = ? AND id = ?`), departmentID, id); err != nil {
			return fmt.Errorf("storage: delete saved reply: %w", wrapConn(err))
		}
		return nil
	})
	return r, err
}
