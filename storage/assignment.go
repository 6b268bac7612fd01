package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/assistd/assistd/tickets"
)

// Ownership of tickets: an assignee per ticket, set by staff or, when a department asks for it,
// automatically as each new ticket is processed.

// ErrAssignRefused is an assignment the caller may not make: an agent assigning someone else or
// releasing another's ticket, or a member who is not an active member of the ticket's department.
var ErrAssignRefused = errors.New("storage: assignment refused")

// Automatic assignment modes of a department.
const (
	AutoAssignOff        = "off"
	AutoAssignRoundRobin = "round_robin"
	AutoAssignLeastOpen  = "least_open"
)

// AssignRule is who asks for an assignment and what they may do.
type AssignRule struct {
	Caller string // the member asking
	// Others: the caller may assign anyone of the department and release anyone's ticket (a
	// lead of the ticket's department, or an admin); otherwise only take the ticket for
	// themselves or release their own.
	Others bool
}

// Assignee is a ticket's assignee as their emails need them.
type Assignee struct {
	ID       string `db:"id"`
	Name     string `db:"name"`
	Email    string `db:"email"`
	Language string `db:"language"`
}

// eligibleClause holds for an active member of a department (a row of staff_departments) or an
// active admin: who may own that department's tickets. Its arguments are the member, then the
// department.
const eligibleClause = `SELECT COUNT(*) FROM staff_members m WHERE ` + eligibleWhere

// eligibleWhere is eligibleClause's condition on a row m of staff_members.
const eligibleWhere = `m.id = ? AND m.active
	AND (m.admin OR EXISTS (SELECT 1 FROM staff_departments sd WHERE sd.member_id = m.id AND sd.department_id = ?))`

func (s *Store) eligible(ctx context.Context, q sqlx.QueryerContext, member, department string) (bool, error) {
	var n int
	if err := sqlx.GetContext(ctx, q, &n, s.q(eligibleClause), member, department); err != nil {
		return false, wrapConn(err)
	}
	return n > 0, nil
}

// Assign sets (member) or clears (nil) the assignee of a ticket within reach, as rule allows;
// ErrAssignRefused otherwise. Setting what is already set changes nothing.
func (s *Store) Assign(ctx context.Context, reach Reach, number string, member *string, rule AssignRule) (Ticket, error) {
	var out Ticket
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		t, err := s.lockedWithin(ctx, tx, reach, number)
		if err != nil {
			return err
		}
		cur := t.AssigneeID
		switch {
		case member == nil:
			if !rule.Others && cur != nil && *cur != rule.Caller {
				return ErrAssignRefused
			}
		default:
			if !rule.Others && (*member != rule.Caller || (cur != nil && *cur != rule.Caller)) {
				return ErrAssignRefused
			}
			ok, err := s.eligible(ctx, tx, *member, t.DepartmentID)
			if err != nil {
				return err
			}
			if !ok {
				return ErrAssignRefused
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE tickets SET assignee = ? WHERE id = ?`), member, t.ID); err != nil {
			return fmt.Errorf("storage: assign: %w", wrapConn(err))
		}
		t.AssigneeID = member
		out = t
		return nil
	})
	return out, err
}

// assigneeOf reads a ticket's assignee for their emails; nil for none, or for one who may no
// longer own the tickets of department, the ticket's (disabled, or moved out of it since): their
// emails then go to the department.
func (s *Store) assigneeOf(ctx context.Context, q sqlx.QueryerContext, id *string, department string) (*Assignee, error) {
	if id == nil {
		return nil, nil
	}
	var a Assignee
	err := sqlx.GetContext(ctx, q, &a, s.q(`SELECT m.id, m.name, m.email, m.language FROM staff_members m WHERE `+eligibleWhere), *id, department)
	if err = notFound(err); errors.Is(err, ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &a, nil
}

// AssignedTo lists the tickets not closed assigned to a member, within reach, the one waiting
// longest first: "Os meus pedidos".
func (s *Store) AssignedTo(ctx context.Context, reach Reach, member string, limit int) ([]Ticket, error) {
	cond, args := reach.clause("t.department_id")
	var ts []Ticket
	err := s.db.SelectContext(ctx, &ts, s.q(`SELECT `+ticketColumns+ticketFrom+` WHERE t.assignee = ? AND t.status <> 'closed' AND `+cond+
		` ORDER BY t.updated_at, t.id LIMIT ?`), append(append([]any{member}, args...), limit)...)
	return ts, wrapConn(err)
}

// DepartmentSettings are a department's settings.
type DepartmentSettings struct {
	DepartmentID string    `db:"department_id"`
	AutoAssign   string    `db:"auto_assign"`
	UpdatedAt    time.Time `db:"updated_at"`
}

// ValidAutoAssign reports whether mode is one of the automatic assignment modes.
func ValidAutoAssign(mode string) bool {
	return mode == AutoAssignOff || mode == AutoAssignRoundRobin || mode == AutoAssignLeastOpen
}

// Settings returns a department's settings (automatic assignment off when never set); an unknown
// department, or one out of reach, is ErrNotFound.
func (s *Store) Settings(ctx context.Context, reach Reach, departmentID string) (DepartmentSettings, error) {
	if !reach.Allows(departmentID) {
		return DepartmentSettings{}, ErrNotFound
	}
	if _, err := s.Department(ctx, departmentID); err != nil {
		return DepartmentSettings{}, err
	}
	out := DepartmentSettings{DepartmentID: departmentID, AutoAssign: AutoAssignOff}
	err := s.db.GetContext(ctx, &out, s.q(`SELECT department_id, auto_assign, updated_at FROM department_settings WHERE department_id = ?`), departmentID)
	if err = notFound(err); err != nil && !errors.Is(err, ErrNotFound) {
		return DepartmentSettings{}, err
	}
	return out, nil
}

// SetSettings stores a department's settings and returns them as stored.
func (s *Store) SetSettings(ctx context.Context, reach Reach, ds DepartmentSettings) (DepartmentSettings, error) {
	if !ValidAutoAssign(ds.AutoAssign) {
		return DepartmentSettings{}, fmt.Errorf("storage: unknown automatic assignment %q", ds.AutoAssign)
	}
	if !reach.Allows(ds.DepartmentID) {
		return DepartmentSettings{}, ErrNotFound
	}
	if _, err := s.Department(ctx, ds.DepartmentID); err != nil {
		return DepartmentSettings{}, err
	}
	ds.UpdatedAt = now()
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO department_settings (department_id, auto_assign, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (department_id) DO UPDATE SET auto_assign = excluded.auto_assign, updated_at = excluded.updated_at`),
		ds.DepartmentID, ds.AutoAssign, ds.UpdatedAt)
	if err != nil {
		return DepartmentSettings{}, fmt.Errorf("storage: set department settings: %w", wrapConn(err))
	}
	return ds, nil
}

// AutoAssign gives a new ticket an assignee when its department assigns automatically and the
// ticket has none: round_robin the next member in turn, least_open the member with the fewest
// tickets not closed (in turn among equals), never a member away or inactive. The department's
// settings row is locked first, so any number of API and worker instances assigning at once take
// turns and each sees the counts the one before left; the ticket is then locked and checked
// again. Running it again for the same ticket changes nothing. It reports whether this call
// assigned the ticket and, when it did, the ticket as it is after.
func (s *Store) AutoAssign(ctx context.Context, ticketID int64) (Ticket, bool, error) {
	var (
		out      Ticket
		assigned bool
	)
	// Most departments assign by hand: one read, outside a transaction, says so, and keeps the
	// lock off the path of every new ticket.
	var mode string
	err := s.db.GetContext(ctx, &mode, s.q(`SELECT ds.auto_assign FROM tickets t JOIN department_settings ds ON ds.department_id = t.department_id
		WHERE t.id = ? AND t.assignee IS NULL`), ticketID)
	if err = notFound(err); errors.Is(err, ErrNotFound) || (err == nil && mode == AutoAssignOff) {
		return Ticket{}, false, nil
	} else if err != nil {
		return Ticket{}, false, err
	}
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		var dept string
		if err := tx.GetContext(ctx, &dept, s.q(`SELECT department_id FROM tickets WHERE id = ?`), ticketID); err != nil {
			return notFound(err)
		}
		var settings struct {
			Mode string  `db:"auto_assign"`
			Last *string `db:"last_assigned"`
		}
		err := tx.GetContext(ctx, &settings, s.q(`SELECT auto_assign, last_assigned FROM department_settings WHERE department_id = ?`+s.forUpdate()), dept)
		if err = notFound(err); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if settings.Mode == "" || settings.Mode == AutoAssignOff {
			return nil
		}
		var live int64
		err = tx.GetContext(ctx, &live, s.q(`SELECT id FROM tickets WHERE id = ? AND erasure_id IS NULL`+s.forUpdate()), ticketID)
		if err = notFound(err); errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if out, err = s.ticket(ctx, tx, ` WHERE t.id = ?`, ticketID); err != nil {
			return err
		}
		if out.AssigneeID != nil || out.Status == tickets.Closed || out.DepartmentID != dept {
			return nil
		}
		var members []string
		if err := tx.SelectContext(ctx, &members, s.q(`SELECT m.id FROM staff_members m JOIN staff_departments sd ON sd.member_id = m.id
			WHERE sd.department_id = ? AND m.active AND NOT m.away ORDER BY m.id`), dept); err != nil {
			return fmt.Errorf("storage: assignable members: %w", wrapConn(err))
		}
		if len(members) == 0 {
			return nil
		}
		// In turn: the members after the last one assigned come first.
		turn := members
		if settings.Last != nil {
			i, _ := slices.BinarySearch(members, *settings.Last)
			for i < len(members) && members[i] <= *settings.Last {
				i++
			}
			turn = append(slices.Clone(members[i:]), members[:i]...)
		}
		pick := turn[0]
		if settings.Mode == AutoAssignLeastOpen {
			if pick, err = s.leastOpen(ctx, tx, turn); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE tickets SET assignee = ? WHERE id = ?`), pick, ticketID); err != nil {
			return fmt.Errorf("storage: auto-assign: %w", wrapConn(err))
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE department_settings SET last_assigned = ? WHERE department_id = ?`), pick, dept); err != nil {
			return fmt.Errorf("storage: auto-assign: %w", wrapConn(err))
		}
		out.AssigneeID, assigned = &pick, true
		return nil
	})
	if err != nil {
		return Ticket{}, false, err
	}
	return out, assigned, nil
}

// leastOpen is the member of turn with the fewest tickets not closed, the first in turn among
// equals.
func (s *Store) leastOpen(ctx context.Context, tx *sqlx.Tx, turn []string) (string, error) {
	q, args, err := sqlx.In(`SELECT assignee, COUNT(*) AS n FROM tickets WHERE assignee IN (?) AND status <> 'closed' GROUP BY assignee`, turn)
	if err != nil {
		return "", err
	}
	var rows []struct {
		Assignee string `db:"assignee"`
		N        int    `db:"n"`
	}
	if err := tx.SelectContext(ctx, &rows, s.q(q), args...); err != nil {
		return "", fmt.Errorf("storage: open tickets by member: %w", wrapConn(err))
	}
	open := make(map[string]int, len(rows))
	for _, r := range rows {
		open[r.Assignee] = r.N
	}
	pick := turn[0]
	for _, m := range turn[1:] {
		if open[m] < open[pick] {
			pick = m
		}
	}
	return pick, nil
}
