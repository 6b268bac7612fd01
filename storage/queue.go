package storage

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/assistd/assistd/tickets"
)

// QueueQuery selects a page of a department's queue.
type QueueQuery struct {
	// Reach is the caller's: a department out of reach lists nothing.
	Reach        Reach
	DepartmentID string
	// Status filters the queue; "" means every ticket still open in any way (all but closed).
	Status tickets.Status
	Limit  int
	Order  QueueOrder
	// Assignee keeps the tickets of one member; Unassigned those of nobody.
	Assignee   string
	Unassigned bool
	// After continues from the last ticket of the previous page.
	After *QueueCursor
}

// QueueOrder is the order of a queue.
type QueueOrder string

// Orders of a queue.
const (
	// OrderWaiting puts the ticket waiting longest (oldest last activity) first.
	OrderWaiting QueueOrder = ""
	// OrderDue puts the earliest due time of a running service-level clock first, tickets
	// without one last.
	OrderDue QueueOrder = "due"
	// OrderPriority puts the most urgent first and, within a priority, the one waiting longest.
	OrderPriority QueueOrder = "priority"
)

// QueueCursor is a position in a queue: keyset paging keeps a deep page as cheap as the first.
type QueueCursor struct {
	// Rank is the priority rank, in a queue ordered by priority.
	Rank      *int
	UpdatedAt time.Time
	ID        int64
}

// CursorAfter is the cursor that continues after a ticket in a queue of the given order (its
// UpdatedAt holds the due time in a queue by due time).
func CursorAfter(t Ticket, order QueueOrder) QueueCursor {
	switch order {
	case OrderDue:
		return QueueCursor{UpdatedAt: t.SLADue.UTC(), ID: t.ID}
	case OrderPriority:
		rank := t.PriorityRank
		return QueueCursor{Rank: &rank, UpdatedAt: t.UpdatedAt, ID: t.ID}
	}
	return QueueCursor{UpdatedAt: t.UpdatedAt, ID: t.ID}
}

// String encodes the cursor for a URL: nanoseconds since 1970, or "u" and microseconds for a
// time past what nanoseconds can count (NoDue, a ticket without a running clock); in a queue by
// priority, the rank and a colon first.
func (c QueueCursor) String() string {
	at := strconv.FormatInt(c.UpdatedAt.UnixNano(), 10)
	if c.UpdatedAt.Year() >= 2262 {
		at = "u" + strconv.FormatInt(c.UpdatedAt.UnixMicro(), 10)
	}
	if c.Rank != nil {
		at = strconv.Itoa(*c.Rank) + ":" + at
	}
	return at + "-" + strconv.FormatInt(c.ID, 10)
}

// ErrBadCursor is returned by ParseQueueCursor for a cursor it did not make.
var ErrBadCursor = errors.New("storage: bad queue cursor")

// ParseQueueCursor reads a cursor made by QueueCursor.String.
func ParseQueueCursor(s string) (QueueCursor, error) {
	var rank *int
	if r, rest, found := strings.Cut(s, ":"); found {
		n, err := strconv.Atoi(r)
		if err != nil || n < 0 || n > 9 {
			return QueueCursor{}, ErrBadCursor
		}
		rank, s = &n, rest
	}
	at, id, ok := strings.Cut(s, "-")
	micro, isMicro := strings.CutPrefix(at, "u")
	nanos, err1 := strconv.ParseInt(micro, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || nanos < 0 || n < 0 {
		return QueueCursor{}, ErrBadCursor
	}
	if isMicro {
		return QueueCursor{Rank: rank, UpdatedAt: time.UnixMicro(nanos).UTC(), ID: n}, nil
	}
	return QueueCursor{Rank: rank, UpdatedAt: time.Unix(0, nanos).UTC(), ID: n}, nil
}

// Queue returns a page of the tickets routed to a department, the one waiting longest (oldest
// last activity) first.
func (s *Store) Queue(ctx context.Context, qq QueueQuery) ([]Ticket, error) {
	// The literal status test lets Postgres use the partial index of tickets not closed.
	where, args := ` WHERE t.department_id = ? AND t.status <> 'closed'`, []any{qq.DepartmentID}
	if qq.Status != "" {
		where, args = ` WHERE t.department_id = ? AND t.status = ?`, append(args, qq.Status)
	}
	switch {
	case qq.Unassigned:
		where += ` AND t.assignee IS NULL`
	case qq.Assignee != "":
		where, args = where+` AND t.assignee = ?`, append(args, qq.Assignee)
	}
	// Tickets without a running clock hold NoDue, so one ascending index walk (department_id,
	// sla_due, id) serves the queue by due time as (department_id, updated_at, id) serves it by
	// waiting time, and (department_id, priority, updated_at, id) by priority.
	order := "t.updated_at"
	switch qq.Order {
	case OrderDue:
		order = "t.sla_due"
	case OrderPriority:
		order = "t.priority, t.updated_at"
	}
	in, inArgs := qq.Reach.clause("t.department_id")
	where += ` AND ` + in
	args = append(args, inArgs...)
	if qq.After != nil {
		switch {
		case qq.Order == OrderPriority && qq.After.Rank != nil:
			where += ` AND (t.priority, t.updated_at, t.id) > (?, ?, ?)`
			args = append(args, *qq.After.Rank, qq.After.UpdatedAt, qq.After.ID)
		case qq.Order == OrderPriority:
			return nil, ErrBadCursor
		default:
			where += ` AND (` + order + `, t.id) > (?, ?)`
			args = append(args, qq.After.UpdatedAt, qq.After.ID)
		}
	}
	var ts []Ticket
	err := s.db.SelectContext(ctx, &ts, s.q(`SELECT `+ticketColumns+ticketFrom+where+` ORDER BY `+order+`, t.id LIMIT ?`),
		append(args, qq.Limit)...)
	return ts, wrapConn(err)
}

// QueueCounts counts a department's tickets by status, within a caller's reach (a department out
// of reach counts none). Closed tickets are not counted: they only ever grow, and a queue is
// about the work left.
func (s *Store) QueueCounts(ctx context.Context, reach Reach, departmentID string) (map[tickets.Status]int, error) {
	var rows []statusCount
	in, args := reach.clause("department_id")
	if err := s.db.SelectContext(ctx, &rows, s.q(`SELECT status, COUNT(*) AS n FROM tickets WHERE department_id = ? AND status <> 'closed' AND `+in+` GROUP BY status`),
		append([]any{departmentID}, args...)...); err != nil {
		return nil, wrapConn(err)
	}
	return statusCounts(rows), nil
}

type statusCount struct {
	Status *tickets.Status `db:"status"`
	N      int             `db:"n"`
}

// statusCounts is every status but closed, with its count (0 for those not in rows).
func statusCounts(rows []statusCount) map[tickets.Status]int {
	counts := make(map[tickets.Status]int, len(tickets.Statuses))
	for _, st := range tickets.Statuses {
		if st != tickets.Closed {
			counts[st] = 0
		}
	}
	for _, r := range rows {
		if r.Status != nil {
			counts[*r.Status] = r.N
		}
	}
	return counts
}

// QueueDepartment returns a department within reach, with its QueueCounts, in one statement;
// ErrNotFound for a department out of reach, exactly like one that does not exist.
func (s *Store) QueueDepartment(ctx context.Context, reach Reach, departmentID string) (Department, map[tickets.Status]int, error) {
	var rows []struct {
		Department
		statusCount
	}
	in, args := reach.clause("d.id")
	err := s.db.SelectContext(ctx, &rows, s.q(`SELECT d.id, d.name, d.name_en, d.email, c.status, COALESCE(c.n, 0) AS n
		FROM departments d
		LEFT JOIN (SELECT status, COUNT(*) AS n FROM tickets WHERE department_id = ? AND status <> 'closed' GROUP BY status) c ON 1 = 1
		WHERE d.id = ? AND `+in), append([]any{departmentID, departmentID}, args...)...)
	if err != nil {
		return Department{}, nil, wrapConn(err)
	}
	if len(rows) == 0 {
		return Department{}, nil, ErrNotFound
	}
	counts := make([]statusCount, len(rows))
	for i, r := range rows {
		counts[i] = r.statusCount
	}
	return rows[0].Department, statusCounts(counts), nil
}
