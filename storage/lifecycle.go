package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/assistd/assistd/sla"
	"github.com/assistd/assistd/tickets"
)

// Errors of a ticket's lifecycle.
var (
	ErrTicketClosed      = errors.New("storage: ticket is closed")
	ErrInvalidTransition = errors.New("storage: invalid status transition")
)

// Who made a change, as the status history tells it.
const (
	ActorCustomer = "customer"
	ActorStaff    = "staff"
	ActorSystem   = "system"
)

// StatusChange is one entry of a ticket's status history.
type StatusChange struct {
	ID       int64
	TicketID int64
	From     tickets.Status // "" for the ticket's creation
	To       tickets.Status
	Actor    string // ActorCustomer, ActorStaff or ActorSystem
	Staff    string // the member of staff, when Actor is ActorStaff
	// FromDepartment and ToDepartment are set on a transfer between departments (the status
	// then stays as it was), "" on every other change.
	FromDepartment, ToDepartment string
	At                           time.Time
}

// ChangeMail is what the emails of a change are made of: the ticket as the change left it.
type ChangeMail struct {
	Ticket   Ticket
	Customer Customer
	From     tickets.Status
	Message  string // the message the change added to the thread, "" for none
	Staff    string
	// FromDepartment is the department a transfer moved the ticket from (Ticket has the new
	// one); the zero value for any other change.
	FromDepartment Department
	// Attachments are the files the message carries: emails list them, never attach them.
	Attachments []AttachmentRef
	// Assignee is the ticket's assignee as the change left it, nil for none: staff mail goes to
	// them rather than to the department.
	Assignee *Assignee
}

// Compose renders the emails of a change inside the transaction that makes it, so that the change
// and its emails are stored together or not at all.
type Compose func(ChangeMail) ([]Email, error)

// step is what a change does to a ticket in a given status.
type step struct {
	to      tickets.Status
	author  string // of the message, when message is not ""
	message string
	attach  Attach // uploads the message carries
}

// decision turns the ticket's current status into a step; ok=false leaves the ticket as it is.
type decision func(cur tickets.Status) (st step, ok bool, err error)

// AddCustomerMessage adds a customer's message to one of their tickets and moves it to
// customer_reply. A closed ticket is ErrTicketClosed; another customer's ticket ErrNotFound.
func (s *Store) AddCustomerMessage(ctx context.Context, customerID, number, body string, compose Compose) (Ticket, []int64, error) {
	return s.AddCustomerMessageWith(ctx, customerID, number, body, Attach{}, compose)
}

// AddCustomerMessageWith is AddCustomerMessage with uploads attached to the message (AttachTx).
func (s *Store) AddCustomerMessageWith(ctx context.Context, customerID, number, body string, att Attach, compose Compose) (Ticket, []int64, error) {
	return s.change(ctx, ` WHERE t.customer_id = ? AND t.number = ?`, []any{customerID, number}, ActorCustomer, "", compose,
		func(cur tickets.Status) (step, bool, error) {
			if !cur.CustomerMayReply() {
				return step{}, false, ErrTicketClosed
			}
			return checked(cur, step{to: tickets.CustomerReply, author: ActorCustomer, message: body, attach: att})
		})
}

// CloseByCustomer closes one of a customer's tickets. Closing a closed ticket changes nothing.
func (s *Store) CloseByCustomer(ctx context.Context, customerID, number string, compose Compose) (Ticket, []int64, error) {
	return s.change(ctx, ` WHERE t.customer_id = ? AND t.number = ?`, []any{customerID, number}, ActorCustomer, "", compose,
		func(cur tickets.Status) (step, bool, error) {
			if cur == tickets.Closed {
				return step{}, false, nil
			}
			return checked(cur, step{to: tickets.Closed})
		})
}

// AddStaffMessage adds a staff answer to a ticket and moves it to a status (answered unless
// told otherwise). A closed ticket is ErrTicketClosed; an unknown status ErrInvalidTransition.
func (s *Store) AddStaffMessage(ctx context.Context, reach Reach, number, staff, body string, to tickets.Status, compose Compose) (Ticket, []int64, error) {
	return s.AddStaffMessageWith(ctx, reach, number, staff, body, to, Attach{}, compose)
}

// AddStaffMessageWith is AddStaffMessage with uploads attached to the answer (AttachTx).
func (s *Store) AddStaffMessageWith(ctx context.Context, reach Reach, number, staff, body string, to tickets.Status, att Attach, compose Compose) (Ticket, []int64, error) {
	if to == "" {
		to = tickets.Answered
	}
	if !to.Valid() {
		return Ticket{}, nil, ErrInvalidTransition
	}
	where, args := staffTicketWhere(reach, number)
	return s.change(ctx, where, args, ActorStaff, staff, compose,
		func(cur tickets.Status) (step, bool, error) {
			if cur == tickets.Closed {
				return step{}, false, ErrTicketClosed
			}
			return checked(cur, step{to: to, author: ActorStaff, message: body, attach: att})
		})
}

// SetStatus changes a ticket's status for staff. Setting the status it already has changes
// nothing; an unknown status, or any change out of closed, is ErrInvalidTransition.
func (s *Store) SetStatus(ctx context.Context, reach Reach, number, staff string, to tickets.Status, compose Compose) (Ticket, []int64, error) {
	if !to.Valid() {
		return Ticket{}, nil, ErrInvalidTransition
	}
	where, args := staffTicketWhere(reach, number)
	return s.change(ctx, where, args, ActorStaff, staff, compose,
		func(cur tickets.Status) (step, bool, error) {
			if cur == to {
				return step{}, false, nil
			}
			return checked(cur, step{to: to})
		})
}

// staffTicketWhere selects a ticket by number for a staff caller, within their reach.
func staffTicketWhere(reach Reach, number string) (string, []any) {
	in, args := reach.clause("t.department_id")
	return ` WHERE t.number = ? AND t.erasure_id IS NULL AND ` + in, append([]any{number}, args...)
}

// checked lets a step through when tickets.CanChange allows it, or when it keeps the status.
func checked(cur tickets.Status, st step) (step, bool, error) {
	if st.to != cur && !tickets.CanChange(cur, st.to) {
		return step{}, false, ErrInvalidTransition
	}
	return st, true, nil
}

// change runs one step of a ticket's life in a transaction: it locks the ticket, lets decide
// look at its current status, stores the message, the status and its history entry, and queues
// the emails compose renders. It returns the ticket as the transaction left it and the outbox ids
// of the emails.
func (s *Store) change(ctx context.Context, where string, args []any, actor, staff string, compose Compose, decide decision) (Ticket, []int64, error) {
	var (
		out Ticket
		ids []int64
	)
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		// The row lock orders concurrent changes of one ticket (SQLite transactions already
		// hold the database's write lock), so each decision sees the status the last one left.
		var cur struct {
			ID     int64          `db:"id"`
			Status tickets.Status `db:"status"`
		}
		if err := tx.GetContext(ctx, &cur, s.q(`SELECT t.id, t.status FROM tickets t`+where+s.forUpdate()), args...); err != nil {
			return notFound(err)
		}
		st, ok, err := decide(cur.Status)
		if err != nil {
			return err
		}
		if !ok {
			out, err = s.ticket(ctx, tx, ` WHERE t.id = ?`, cur.ID)
			return err
		}
		at := now()
		var attached []AttachmentRef
		if st.message != "" {
			var staffName *string
			if st.author == ActorStaff {
				staffName = &staff
			}
			var msgID int64
			if err := tx.GetContext(ctx, &msgID, s.q(`INSERT INTO messages (ticket_id, author, staff, member, body, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`),
				cur.ID, st.author, staffName, staffName, st.message, at); err != nil {
				return fmt.Errorf("storage: insert message: %w", wrapConn(err))
			}
			if err := s.AttachTx(ctx, tx, st.attach, cur.ID, msgID, at); err != nil {
				return err
			}
			if len(st.attach.IDs) > 0 {
				if attached, err = s.attachmentRefs(ctx, tx, msgID); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE tickets SET status = ?, updated_at = ? WHERE id = ?`), st.to, at, cur.ID); err != nil {
			return fmt.Errorf("storage: update ticket: %w", wrapConn(err))
		}
		if st.to != cur.Status {
			if err := s.insertStatusChange(ctx, tx, cur.ID, cur.Status, st.to, actor, staff, at); err != nil {
				return err
			}
		}
		if err := s.moveClocks(ctx, tx, cur.ID, clockEvent(st), at); err != nil {
			return err
		}
		if out, err = s.ticket(ctx, tx, ` WHERE t.id = ?`, cur.ID); err != nil {
			return err
		}
		if compose == nil {
			return nil
		}
		ids, err = s.composeEmails(ctx, tx, ChangeMail{Ticket: out, From: cur.Status, Message: st.message, Staff: staff, Attachments: attached}, compose, at)
		return err
	})
	if err != nil {
		return Ticket{}, nil, err
	}
	return out, ids, nil
}

func (s *Store) composeEmails(ctx context.Context, tx *sqlx.Tx, m ChangeMail, compose Compose, at time.Time) ([]int64, error) {
	if err := tx.GetContext(ctx, &m.Customer, s.q(`SELECT id, name, email, language, email_undeliverable_at, created_at, updated_at FROM customers WHERE id = ?`),
		m.Ticket.CustomerID); err != nil {
		return nil, notFound(err)
	}
	var err error
	if m.Assignee, err = s.assigneeOf(ctx, tx, m.Ticket.AssigneeID, m.Ticket.DepartmentID); err != nil {
		return nil, err
	}
	emails, err := compose(m)
	if err != nil {
		return nil, err
	}
	return s.insertEmails(ctx, tx, emails, nil, at)
}

func (s *Store) insertStatusChange(ctx context.Context, tx *sqlx.Tx, ticketID int64, from, to tickets.Status, actor, staff string, at time.Time) error {
	if actor == ActorStaff {
		actor = ActorStaff + ":" + staff
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO status_changes (ticket_id, from_status, to_status, actor, created_at) VALUES (?, ?, ?, ?, ?)`),
		ticketID, from, to, actor, at)
	if err != nil {
		return fmt.Errorf("storage: insert status change: %w", wrapConn(err))
	}
	return nil
}

// statusChangeRow is a status_changes row as stored.
type statusChangeRow struct {
	ID             int64     `db:"id"`
	TicketID       int64     `db:"ticket_id"`
	From           *string   `db:"from_status"`
	To             string    `db:"to_status"`
	Actor          string    `db:"actor"`
	FromDepartment *string   `db:"from_department"`
	ToDepartment   *string   `db:"to_department"`
	CreatedAt      time.Time `db:"created_at"`
}

func (r statusChangeRow) change() StatusChange {
	c := StatusChange{ID: r.ID, TicketID: r.TicketID, To: tickets.Status(r.To), Actor: r.Actor, At: r.CreatedAt.UTC()}
	if r.From != nil {
		c.From = tickets.Status(*r.From)
	}
	if r.FromDepartment != nil && r.ToDepartment != nil {
		c.FromDepartment, c.ToDepartment = *r.FromDepartment, *r.ToDepartment
	}
	if name, ok := strings.CutPrefix(r.Actor, ActorStaff+":"); ok {
		c.Actor, c.Staff = ActorStaff, name
	}
	return c
}

const statusChangeColumns = `SELECT id, ticket_id, from_status, to_status, actor, from_department, to_department, created_at FROM status_changes`

// StatusHistory returns every status a ticket had, oldest first: who changed it, when, from what.
func (s *Store) StatusHistory(ctx context.Context, ticketID int64) ([]StatusChange, error) {
	var rows []statusChangeRow
	if err := s.db.SelectContext(ctx, &rows, s.q(statusChangeColumns+` WHERE ticket_id = ? ORDER BY id`), ticketID); err != nil {
		return nil, wrapConn(err)
	}
	out := make([]StatusChange, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.change())
	}
	return out, nil
}

// AnsweredBefore lists tickets answered and untouched since before a time, oldest first, past
// the first skip of them: the candidates for automatic closing.
func (s *Store) AnsweredBefore(ctx context.Context, before time.Time, skip, limit int) ([]int64, error) {
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, s.q(`SELECT id FROM tickets WHERE status = 'answered' AND updated_at < ? AND erasure_id IS NULL ORDER BY updated_at, id LIMIT ? OFFSET ?`),
		before, limit, skip)
	return ids, wrapConn(err)
}

// AutoClose closes a ticket that is still answered and untouched since before a time, with the
// emails compose renders, in one transaction. The conditional UPDATE makes it safe to run from
// any number of instances and against a customer acting at the same moment: only one of them
// sees the ticket still answered. closed=false means the ticket no longer qualified.
func (s *Store) AutoClose(ctx context.Context, ticketID int64, before time.Time, compose Compose) (emailIDs []int64, closed bool, err error) {
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		at := now()
		res, err := tx.ExecContext(ctx, s.q(`UPDATE tickets SET status = 'closed', updated_at = ? WHERE id = ? AND status = 'answered' AND updated_at < ? AND erasure_id IS NULL`),
			at, ticketID, before)
		if err != nil {
			return fmt.Errorf("storage: auto-close: %w", wrapConn(err))
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return wrapConn(err)
		}
		closed = true
		if err := s.insertStatusChange(ctx, tx, ticketID, tickets.Answered, tickets.Closed, ActorSystem, "", at); err != nil {
			return err
		}
		if err := s.moveClocks(ctx, tx, ticketID, sla.Event{Closed: true}, at); err != nil {
			return err
		}
		t, err := s.ticket(ctx, tx, ` WHERE t.id = ?`, ticketID)
		if err != nil {
			return err
		}
		emailIDs, err = s.composeEmails(ctx, tx, ChangeMail{Ticket: t, From: tickets.Answered}, compose, at)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return emailIDs, closed, nil
}
