package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/assistd/assistd/sla"
	"github.com/assistd/assistd/tickets"
)

// The console's daily work on a ticket beside answers and status changes: internal notes,
// priority and transfers between departments. Every function takes the caller's Reach and puts
// it in the SQL: a ticket out of reach is ErrNotFound, exactly as one that does not exist.

// lockedWithin returns a ticket within reach by number (never an erased one), its row locked for
// the transaction.
func (s *Store) lockedWithin(ctx context.Context, q sqlx.QueryerContext, reach Reach, number string) (Ticket, error) {
	cond, args := reach.clause("t.department_id")
	// The lock is taken on the ticket's row alone (not the joined catalog rows).
	var id int64
	if err := sqlx.GetContext(ctx, q, &id, s.q(`SELECT t.id FROM tickets t WHERE t.number = ? AND t.erasure_id IS NULL AND `+cond+s.forUpdate()),
		append([]any{number}, args...)...); err != nil {
		return Ticket{}, notFound(err)
	}
	return s.ticket(ctx, q, ` WHERE t.id = ?`, id)
}

// AddNote adds an internal note by a member of staff to a ticket within reach, closed or not.
// A note is never emailed, never shown to the customer and never counts as an answer: the
// ticket's status, last activity and service-level clocks stay as they were.
func (s *Store) AddNote(ctx context.Context, reach Reach, number, member, body string) (Ticket, Message, error) {
	return s.AddNoteWith(ctx, reach, number, member, body, Attach{})
}

// AddNoteWith is AddNote with the member's uploads attached to the note (AttachTx).
func (s *Store) AddNoteWith(ctx context.Context, reach Reach, number, member, body string, att Attach) (Ticket, Message, error) {
	var (
		t Ticket
		m Message
	)
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if t, err = s.lockedWithin(ctx, tx, reach, number); err != nil {
			return err
		}
		m = Message{Author: ActorStaff, Staff: &member, Member: &member, Internal: true, Body: body, CreatedAt: now()}
		err = tx.GetContext(ctx, &m.ID, s.q(`INSERT INTO messages (ticket_id, author, staff, member, internal, body, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`), t.ID, m.Author, member, member, true, body, m.CreatedAt)
		if err != nil {
			return fmt.Errorf("storage: insert note: %w", wrapConn(err))
		}
		return s.AttachTx(ctx, tx, att, t.ID, m.ID, m.CreatedAt)
	})
	if err != nil {
		return Ticket{}, Message{}, err
	}
	return t, m, nil
}

// SetPriority sets the priority of a ticket within reach and returns the ticket as it is after.
func (s *Store) SetPriority(ctx context.Context, reach Reach, number string, p tickets.Priority) (Ticket, error) {
	if !p.Valid() {
		return Ticket{}, fmt.Errorf("storage: unknown priority %q", p)
	}
	var t Ticket
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if t, err = s.lockedWithin(ctx, tx, reach, number); err != nil || t.Priority() == p {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE tickets SET priority = ? WHERE id = ?`), p.Rank(), t.ID); err != nil {
			return fmt.Errorf("storage: set priority: %w", wrapConn(err))
		}
		t.PriorityRank = p.Rank()
		return nil
	})
	return t, err
}

// Transfer moves a ticket to another department, for a member of staff who may move it out of
// its department: from is the reach of that permission (the departments the member leads, or
// all), and a ticket outside it is ErrNotFound. The ticket keeps its number, status, messages and
// history; the move is an entry of its status history; its service-level clocks take the new
// department's policy; its assignee stays only if a member there; and compose renders, in the
// same transaction, the emails that tell the assignee, or else the new department. A transfer to the department the ticket is in changes nothing and sends
// nothing; an unknown department is ErrUnknownDepartment. It returns the ticket as it is after
// and the outbox ids of the emails.
func (s *Store) Transfer(ctx context.Context, from Reach, number, member, to string, compose Compose) (Ticket, []int64, error) {
	var (
		out Ticket
		ids []int64
	)
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		cur, err := s.lockedWithin(ctx, tx, from, number)
		if err != nil {
			return err
		}
		var dest Department
		if err := tx.GetContext(ctx, &dest, s.q(`SELECT id, name, name_en, email FROM departments WHERE id = ?`), to); err != nil {
			if err = notFound(err); errors.Is(err, ErrNotFound) {
				return ErrUnknownDepartment
			}
			return err
		}
		if dest.ID == cur.DepartmentID {
			out = cur
			return nil
		}
		at := now()
		// The assignee stays only if they may own the new department's tickets.
		assignee := cur.AssigneeID
		if assignee != nil {
			ok, err := s.eligible(ctx, tx, *assignee, dest.ID)
			if err != nil {
				return err
			}
			if !ok {
				assignee = nil
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE tickets SET department_id = ?, assignee = ? WHERE id = ?`), dest.ID, assignee, cur.ID); err != nil {
			return fmt.Errorf("storage: transfer: %w", wrapConn(err))
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO status_changes (ticket_id, from_status, to_status, actor, from_department, to_department, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`), cur.ID, cur.Status, cur.Status, ActorStaff+":"+member, cur.DepartmentID, dest.ID, at); err != nil {
			return fmt.Errorf("storage: record transfer: %w", wrapConn(err))
		}
		// The clocks were set under the old department's policy: moveClocks sets them again
		// from the ticket's creation under the new one's, keeping what already happened.
		if cur.Status != tickets.Closed {
			ev := sla.Event{Paused: cur.Status == tickets.Answered || cur.Status == tickets.OnHold}
			if err := s.moveClocks(ctx, tx, cur.ID, ev, at); err != nil {
				return err
			}
		}
		if out, err = s.ticket(ctx, tx, ` WHERE t.id = ?`, cur.ID); err != nil {
			return err
		}
		if compose == nil {
			return nil
		}
		old := Department{ID: cur.DepartmentID, Name: cur.DepartmentName, NameEn: cur.DepartmentNameEn, Email: cur.DepartmentEmail}
		ids, err = s.composeEmails(ctx, tx, ChangeMail{Ticket: out, From: cur.Status, Staff: member, FromDepartment: old}, compose, at)
		return err
	})
	if err != nil {
		return Ticket{}, nil, err
	}
	return out, ids, nil
}
