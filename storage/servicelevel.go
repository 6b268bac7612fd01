package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/assistd/assistd/sla"
	"github.com/assistd/assistd/tickets"
)

// ClockColumns are a ticket's service-level clocks as stored (see sla.Clocks).
type ClockColumns struct {
	SLADepartmentID      *string    `db:"sla_department_id"`
	FirstResponseDue     *time.Time `db:"sla_first_response_due"`
	NextResponseDue      *time.Time `db:"sla_next_response_due"`
	ResolutionDue        *time.Time `db:"sla_resolution_due"`
	FirstResponseAt      *time.Time `db:"sla_first_response_at"`
	SLAPausedAt          *time.Time `db:"sla_paused_at"`
	SLARound             int        `db:"sla_round"`
	SLABreached          string     `db:"sla_breached"`
	SLAFired             string     `db:"sla_fired"`
	FirstResponseSeconds *int64     `db:"sla_first_response_secs"`
	ResolutionSeconds    *int64     `db:"sla_resolution_secs"`
	SLANextMoment        *time.Time `db:"sla_next_moment"`
	// SLADue is the earliest due time of a running clock, NoDue when none runs.
	SLADue time.Time `db:"sla_due"`
}

const clockColumns = `, t.sla_department_id, t.sla_first_response_due, t.sla_next_response_due, t.sla_resolution_due,
	t.sla_first_response_at, t.sla_paused_at, t.sla_round, t.sla_breached, t.sla_fired, t.sla_first_response_secs,
	t.sla_resolution_secs, t.sla_next_moment, t.sla_due`

// NoDue is the sla_due of a ticket without a running clock: it sorts after every real one.
var NoDue = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// Clocks reads the stored clocks.
func (c ClockColumns) Clocks() sla.Clocks {
	out := sla.Clocks{
		FirstResponseDue: utcPtr(c.FirstResponseDue), NextResponseDue: utcPtr(c.NextResponseDue), ResolutionDue: utcPtr(c.ResolutionDue),
		FirstResponseAt: utcPtr(c.FirstResponseAt), PausedAt: utcPtr(c.SLAPausedAt), Round: c.SLARound,
		Breached: sla.SplitList(c.SLABreached), Fired: sla.SplitList(c.SLAFired),
	}
	if c.FirstResponseSeconds != nil {
		d := time.Duration(*c.FirstResponseSeconds) * time.Second
		out.FirstResponseTime = &d
	}
	if c.ResolutionSeconds != nil {
		d := time.Duration(*c.ResolutionSeconds) * time.Second
		out.ResolutionTime = &d
	}
	return out
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func seconds(d *time.Duration) *int64 {
	if d == nil {
		return nil
	}
	s := int64(d.Round(time.Second) / time.Second)
	return &s
}

// ErrNoPolicy is returned for a department without a service-level policy.
var ErrNoPolicy = fmt.Errorf("storage: no service-level policy: %w", ErrNotFound)

// SetPolicy stores a department's policy; an unknown department is ErrNotFound.
func (s *Store) SetPolicy(ctx context.Context, departmentID string, p sla.Policy) error {
	doc, err := json.Marshal(p.Document())
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, s.q(`SELECT COUNT(*) FROM departments WHERE id = ?`), departmentID); err != nil {
			return wrapConn(err)
		}
		if n == 0 {
			return ErrNotFound
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO department_sla (department_id, policy, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (department_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`), departmentID, string(doc), now())
		return wrapConn(err)
	})
	if err == nil {
		s.policies.forget()
	}
	return err
}

// Policy returns a department's policy; ErrNoPolicy when it has none.
func (s *Store) Policy(ctx context.Context, departmentID string) (sla.Policy, error) {
	p, err := s.policyIn(ctx, s.db, departmentID)
	if err != nil {
		return sla.Policy{}, err
	}
	if p == nil {
		return sla.Policy{}, ErrNoPolicy
	}
	return *p, nil
}

// policyIn reads a department's policy in a transaction (or not); nil when it has none.
func (s *Store) policyIn(ctx context.Context, q sqlx.QueryerContext, departmentID string) (*sla.Policy, error) {
	var doc string
	err := sqlx.GetContext(ctx, q, &doc, s.q(`SELECT policy FROM department_sla WHERE department_id = ?`), departmentID)
	if notFound(err) == ErrNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, wrapConn(err)
	}
	return parsePolicy(doc)
}

func parsePolicy(doc string) (*sla.Policy, error) {
	var d sla.Document
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return nil, fmt.Errorf("storage: stored policy: %w", err)
	}
	p, problems := d.Policy()
	if len(problems) != 0 {
		return nil, fmt.Errorf("storage: stored policy: %v", problems)
	}
	return &p, nil
}

// policyCache keeps every subject's policy for the grouped intake, which computes a new
// ticket's due times before its statement: a policy changed on another instance reaches it
// within policyCacheTTL, and ticket:create sets the clocks again from the stored policy when
// the ticket's department had another.
type policyCache struct {
	mu        sync.Mutex
	loadedAt  time.Time
	bySubject map[string]subjectPolicy
}

type subjectPolicy struct {
	departmentID string
	policy       *sla.Policy
}

const policyCacheTTL = time.Second

func (c *policyCache) forget() {
	c.mu.Lock()
	c.loadedAt = time.Time{}
	c.mu.Unlock()
}

// subjectPolicy returns the department a subject files to and that department's policy.
func (s *Store) subjectPolicy(ctx context.Context, subjectID string) (subjectPolicy, error) {
	c := &s.policies
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.loadedAt) > policyCacheTTL {
		var rows []struct {
			SubjectID    string  `db:"subject_id"`
			DepartmentID string  `db:"department_id"`
			Policy       *string `db:"policy"`
		}
		if err := s.db.SelectContext(ctx, &rows, `SELECT s.id AS subject_id, s.department_id, p.policy FROM subjects s
			LEFT JOIN department_sla p ON p.department_id = s.department_id`); err != nil {
			return subjectPolicy{}, fmt.Errorf("storage: read policies: %w", wrapConn(err))
		}
		m := make(map[string]subjectPolicy, len(rows))
		for _, r := range rows {
			sp := subjectPolicy{departmentID: r.DepartmentID}
			if r.Policy != nil {
				p, err := parsePolicy(*r.Policy)
				if err != nil {
					return subjectPolicy{}, err
				}
				sp.policy = p
			}
			m[r.SubjectID] = sp
		}
		c.bySubject, c.loadedAt = m, time.Now()
	}
	return c.bySubject[subjectID], nil
}

// clockValues are the stored form of clocks, in the order of setClocks' columns.
func clockValues(departmentID string, c sla.Clocks, p *sla.Policy) []any {
	due := NoDue
	if d := c.Due(); d != nil {
		due = *d
	}
	return []any{departmentID, c.FirstResponseDue, c.NextResponseDue, c.ResolutionDue, c.FirstResponseAt, c.PausedAt,
		c.Round, sla.JoinList(c.Breached), sla.JoinList(c.Fired), seconds(c.FirstResponseTime), seconds(c.ResolutionTime),
		due, c.NextMoment(p)}
}

const setClocks = `UPDATE tickets SET sla_department_id = ?, sla_first_response_due = ?, sla_next_response_due = ?,
	sla_resolution_due = ?, sla_first_response_at = ?, sla_paused_at = ?, sla_round = ?, sla_breached = ?, sla_fired = ?,
	sla_first_response_secs = ?, sla_resolution_secs = ?, sla_due = ?, sla_next_moment = ? WHERE id = ?`

func (s *Store) writeClocks(ctx context.Context, tx *sqlx.Tx, ticketID int64, departmentID string, c sla.Clocks, p *sla.Policy) error {
	if _, err := tx.ExecContext(ctx, s.q(setClocks), append(clockValues(departmentID, c, p), ticketID)...); err != nil {
		return fmt.Errorf("storage: set clocks: %w", wrapConn(err))
	}
	return nil
}

// clockEvent is what a step does to a ticket's clocks.
func clockEvent(st step) sla.Event {
	return sla.Event{
		StaffAnswer:      st.message != "" && st.author == ActorStaff,
		CustomerAddition: st.message != "" && st.author == ActorCustomer,
		Paused:           st.to == tickets.Answered || st.to == tickets.OnHold,
		Closed:           st.to == tickets.Closed,
	}
}

// moveClocks applies an event to a locked ticket's clocks with its department's policy and
// stores them, in the event's transaction.
func (s *Store) moveClocks(ctx context.Context, tx *sqlx.Tx, ticketID int64, e sla.Event, at time.Time) error {
	var row struct {
		ClockColumns
		DepartmentID string    `db:"department_id"`
		CreatedAt    time.Time `db:"created_at"`
	}
	if err := tx.GetContext(ctx, &row, s.q(`SELECT t.department_id, t.created_at`+clockColumns+` FROM tickets t WHERE t.id = ?`), ticketID); err != nil {
		return notFound(err)
	}
	p, err := s.policyIn(ctx, tx, row.DepartmentID)
	if err != nil {
		return err
	}
	c := row.Clocks()
	// A ticket from before service levels (no department recorded) keeps no clocks rather than
	// breaching at once; one whose clocks another department's policy set takes its own's.
	if row.SLADepartmentID != nil && *row.SLADepartmentID != row.DepartmentID {
		restart(&c, p, row.CreatedAt)
	}
	c.Apply(p, e, row.CreatedAt, at)
	return s.writeClocks(ctx, tx, ticketID, row.DepartmentID, c, p)
}

// restart sets a ticket's clocks again from its creation, under another department's policy;
// what already happened (the first response, breaches, sent warnings) is kept.
func restart(c *sla.Clocks, p *sla.Policy, created time.Time) {
	kept := *c
	c.Start(p, created)
	c.Breached, c.Fired, c.Round = kept.Breached, kept.Fired, kept.Round
	if kept.FirstResponseAt != nil {
		c.FirstResponseDue = nil
	}
}

// RestartClocks sets a ticket's clocks from its department's current policy when they were
// set under another department's (its subject moved before it was processed). It reports the
// ticket as it is after.
func (s *Store) RestartClocks(ctx context.Context, ticketID int64) (Ticket, error) {
	var out Ticket
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		var st tickets.Status
		if err := tx.GetContext(ctx, &st, s.q(`SELECT status FROM tickets WHERE id = ?`+s.forUpdate()), ticketID); err != nil {
			return notFound(err)
		}
		if st != tickets.Closed {
			ev := sla.Event{Paused: st == tickets.Answered || st == tickets.OnHold}
			if err := s.moveClocks(ctx, tx, ticketID, ev, now()); err != nil {
				return err
			}
		}
		var err error
		out, err = s.ticket(ctx, tx, ` WHERE t.id = ?`, ticketID)
		return err
	})
	return out, err
}

// startClocks sets a new ticket's clocks in its creation's transaction (SQLite).
func (s *Store) startClocks(ctx context.Context, tx *sqlx.Tx, ticketID int64, subjectID string, created time.Time) error {
	var dept string
	if err := tx.GetContext(ctx, &dept, s.q(`SELECT department_id FROM subjects WHERE id = ?`), subjectID); err != nil {
		return notFound(err)
	}
	p, err := s.policyIn(ctx, tx, dept)
	if err != nil {
		return err
	}
	var c sla.Clocks
	c.Start(p, created)
	return s.writeClocks(ctx, tx, ticketID, dept, c, p)
}

// Alert is one warning or breach to send about a ticket.
type Alert struct {
	Ticket Ticket
	Moment sla.Moment
	Policy sla.Policy
	// Assignee gets the alert when the ticket has one; the department otherwise.
	Assignee *Assignee
}

// ComposeAlert renders the emails of an alert inside the transaction that records it.
type ComposeAlert func(Alert) ([]Email, error)

// FireDue sends a ticket's warnings and breaches whose moment has come by a time: in one
// transaction it locks the ticket, marks each moment fired (so that it goes once, whatever the
// number of tasks and sweeps that ask), and queues the emails compose renders. It returns the
// moments fired, their emails' outbox ids and the ticket as it is after (its SLANextMoment is
// when to look again).
func (s *Store) FireDue(ctx context.Context, ticketID int64, at time.Time, compose ComposeAlert) ([]sla.Moment, []int64, Ticket, error) {
	var (
		fired []sla.Moment
		ids   []int64
		out   Ticket
	)
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		var row struct {
			ClockColumns
			DepartmentID string         `db:"department_id"`
			Status       tickets.Status `db:"status"`
		}
		if err := tx.GetContext(ctx, &row, s.q(`SELECT t.department_id, t.status`+clockColumns+` FROM tickets t WHERE t.id = ?`+s.forUpdate()), ticketID); err != nil {
			return notFound(err)
		}
		var err error
		if out, err = s.ticket(ctx, tx, ` WHERE t.id = ?`, ticketID); err != nil {
			return err
		}
		p, err := s.policyIn(ctx, tx, row.DepartmentID)
		if err != nil || p == nil || row.Status == tickets.Closed {
			return err
		}
		c := row.Clocks()
		assignee, err := s.assigneeOf(ctx, tx, out.AssigneeID, out.DepartmentID)
		if err != nil {
			return err
		}
		for _, m := range c.Moments(p) {
			if m.At.After(at) {
				break
			}
			if _, ok := c.Fire(p, m.Key(), m.Due, at); !ok {
				continue
			}
			fired = append(fired, m)
			emails, err := compose(Alert{Ticket: out, Moment: m, Policy: *p, Assignee: assignee})
			if err != nil {
				return err
			}
			got, err := s.insertEmails(ctx, tx, emails, nil, at)
			if err != nil {
				return err
			}
			ids = append(ids, got...)
		}
		if len(fired) == 0 {
			return nil
		}
		if err := s.writeClocks(ctx, tx, ticketID, row.DepartmentID, c, p); err != nil {
			return err
		}
		out, err = s.ticket(ctx, tx, ` WHERE t.id = ?`, ticketID)
		return err
	})
	if err != nil {
		return nil, nil, Ticket{}, err
	}
	return fired, ids, out, nil
}

// TicketsWithMomentsDue lists tickets with a warning or breach due by a time, earliest first:
// the sweep's work when Redis lost the scheduled tasks.
func (s *Store) TicketsWithMomentsDue(ctx context.Context, by time.Time, limit int) ([]int64, error) {
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, s.q(`SELECT id FROM tickets WHERE sla_next_moment <= ? ORDER BY sla_next_moment LIMIT ?`), by, limit)
	return ids, wrapConn(err)
}

// DepartmentTimes is one department's part of a response-time report.
type DepartmentTimes struct {
	Department    Department
	Tickets       int
	FirstResponse []int64 // business seconds, one per ticket answered
	Resolution    []int64 // business seconds, one per ticket closed
	Breaches      map[string]int
}

// ResponseTimes gathers, per department within reach (one, or all when departmentID is ""), the tickets
// created in [from, to), the business time their first response and resolution took, and the
// targets they missed. Every department is listed, with zeros when it had no ticket.
func (s *Store) ResponseTimes(ctx context.Context, reach Reach, from, to time.Time, departmentID string) ([]DepartmentTimes, error) {
	depts, err := s.StaffDepartments(ctx, reach)
	if err != nil {
		return nil, err
	}
	in, args := reach.clause("department_id")
	where := ` WHERE created_at >= ? AND created_at < ? AND ` + in
	args = append([]any{from, to}, args...)
	if departmentID != "" {
		where += ` AND department_id = ?`
		args = append(args, departmentID)
	}
	var rows []struct {
		DepartmentID  *string `db:"department_id"`
		FirstResponse *int64  `db:"sla_first_response_secs"`
		Resolution    *int64  `db:"sla_resolution_secs"`
		Breached      string  `db:"sla_breached"`
	}
	if err := s.db.SelectContext(ctx, &rows, s.q(`SELECT department_id, sla_first_response_secs, sla_resolution_secs, sla_breached FROM tickets`+where), args...); err != nil {
		return nil, fmt.Errorf("storage: response times: %w", wrapConn(err))
	}
	byID := map[string]*DepartmentTimes{}
	var out []DepartmentTimes
	for _, d := range depts {
		if departmentID == "" || d.ID == departmentID {
			out = append(out, DepartmentTimes{Department: d, Breaches: map[string]int{sla.FirstResponse: 0, sla.NextResponse: 0, sla.Resolution: 0}})
		}
	}
	for i := range out {
		byID[out[i].Department.ID] = &out[i]
	}
	for _, r := range rows {
		if r.DepartmentID == nil || byID[*r.DepartmentID] == nil {
			continue
		}
		d := byID[*r.DepartmentID]
		d.Tickets++
		if r.FirstResponse != nil {
			d.FirstResponse = append(d.FirstResponse, *r.FirstResponse)
		}
		if r.Resolution != nil {
			d.Resolution = append(d.Resolution, *r.Resolution)
		}
		for _, target := range sla.SplitList(r.Breached) {
			d.Breaches[target]++
		}
	}
	return out, nil
}
