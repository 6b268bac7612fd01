package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/sla"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/tickets"
)

// slaJSON is a ticket's service-level clocks for staff. A paused clock shows no due time.
type slaJSON struct {
	FirstResponseDue *time.Time `json:"first_response_due"`
	NextResponseDue  *time.Time `json:"next_response_due"`
	ResolutionDue    *time.Time `json:"resolution_due"`
	FirstResponseAt  *time.Time `json:"first_response_at"`
	Breached         []string   `json:"breached"`
	Paused           bool       `json:"paused"`
}

// slaView shows a ticket's clocks at a time: a running clock past its due time is breached
// even before its breach alert has gone out.
func slaView(t storage.Ticket, now time.Time) *slaJSON {
	c := t.Clocks()
	v := &slaJSON{FirstResponseAt: c.FirstResponseAt, Breached: slices.Clone(c.Breached), Paused: c.PausedAt != nil}
	if v.Breached == nil {
		v.Breached = []string{}
	}
	if c.PausedAt == nil {
		v.FirstResponseDue, v.NextResponseDue, v.ResolutionDue = c.FirstResponseDue, c.NextResponseDue, c.ResolutionDue
		for _, d := range []struct {
			target string
			due    *time.Time
		}{{sla.FirstResponse, c.FirstResponseDue}, {sla.NextResponse, c.NextResponseDue}, {sla.Resolution, c.ResolutionDue}} {
			if d.due != nil && !now.Before(*d.due) && !slices.Contains(v.Breached, d.target) {
				v.Breached = append(v.Breached, d.target)
			}
		}
	}
	return v
}

// replyExpectedBy is when the customer may expect the pending answer, nil when no clock runs.
func replyExpectedBy(t storage.Ticket) *time.Time {
	c := t.Clocks()
	return c.ReplyExpectedBy()
}

// queueOrder reads a queue's order parameter: "due" orders by due time, "priority" by priority.
func queueOrder(v string) (storage.QueueOrder, string) {
	switch v {
	case "", "waiting":
		return storage.OrderWaiting, ""
	case "due":
		return storage.OrderDue, ""
	case "priority":
		return storage.OrderPriority, ""
	default:
		return storage.OrderWaiting, `"due" (earliest due time first), "priority" (most urgent first) or "waiting" (the default: longest waiting first)`
	}
}

// SetPolicy validates and stores a department's service-level policy, and returns it as
// stored. Bad values are a *ValidationError; an unknown department storage.ErrNotFound.
func (s *Server) SetPolicy(ctx context.Context, departmentID string, doc sla.Document) (sla.Policy, error) {
	p, problems := doc.Policy()
	if len(problems) > 0 {
		return sla.Policy{}, &ValidationError{Fields: problems}
	}
	if !storable(departmentID) {
		return sla.Policy{}, storage.ErrNotFound
	}
	if err := s.store.SetPolicy(ctx, departmentID, p); err != nil {
		return sla.Policy{}, err
	}
	return s.store.Policy(ctx, departmentID)
}

func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request) {
	var doc sla.Document
	if !decodeJSON(w, r, &doc) {
		return
	}
	p, err := s.SetPolicy(r.Context(), r.PathValue("dept"), doc)
	var ve *ValidationError
	if errors.As(err, &ve) {
		validationFailed(w, ve.Fields)
		return
	}
	if !s.found(w, r, err, "department_not_found", "No such department.") {
		return
	}
	writeJSON(w, http.StatusOK, p.Document())
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) {
	dept := r.PathValue("dept")
	if !storable(dept) {
		writeError(w, http.StatusNotFound, "department_not_found", "No such department.", nil)
		return
	}
	p, err := s.store.Policy(r.Context(), dept)
	if errors.Is(err, storage.ErrNoPolicy) {
		if _, err := s.store.Department(r.Context(), dept); !s.found(w, r, err, "department_not_found", "No such department.") {
			return
		}
		writeError(w, http.StatusNotFound, "no_policy", "This department has no service-level policy: its tickets have no due times.", nil)
		return
	}
	if !s.found(w, r, err, "department_not_found", "No such department.") {
		return
	}
	writeJSON(w, http.StatusOK, p.Document())
}

// reportWindow is the default period of a report.
const reportWindow = 30 * 24 * time.Hour

type percentilesJSON struct {
	Measured int      `json:"measured"`
	P50      *float64 `json:"p50_seconds"`
	P90      *float64 `json:"p90_seconds"`
}

type departmentReportJSON struct {
	Department    departmentJSON  `json:"department"`
	Tickets       int             `json:"tickets"`
	FirstResponse percentilesJSON `json:"first_response"`
	Resolution    percentilesJSON `json:"resolution"`
	Breaches      map[string]int  `json:"breaches"`
}

func percentiles(secs []int64) percentilesJSON {
	out := percentilesJSON{Measured: len(secs)}
	if len(secs) == 0 {
		return out
	}
	slices.Sort(secs)
	at := func(q float64) *float64 {
		// Nearest rank: the smallest value with at least q of the values at or below it.
		i := int(q*float64(len(secs))+0.999999) - 1
		v := float64(secs[max(0, min(i, len(secs)-1))])
		return &v
	}
	out.P50, out.P90 = at(0.5), at(0.9)
	return out
}

// ResponseTimes reports, per department, the tickets created in a period, their first
// response and resolution times in business time, and the targets they missed: the departments
// within reach only.
func (s *Server) ResponseTimes(ctx context.Context, reach storage.Reach, from, to time.Time, departmentID string) ([]departmentReportJSON, error) {
	rows, err := s.store.ResponseTimes(ctx, reach, from, to, departmentID)
	if err != nil {
		return nil, err
	}
	out := make([]departmentReportJSON, 0, len(rows))
	for _, r := range rows {
		out = append(out, departmentReportJSON{
			Department: departmentJSON{ID: r.Department.ID, Name: r.Department.Name}, Tickets: r.Tickets,
			FirstResponse: percentiles(r.FirstResponse), Resolution: percentiles(r.Resolution), Breaches: r.Breaches,
		})
	}
	return out, nil
}

func (s *Server) responseTimes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fields := map[string]string{}
	to := s.now().UTC()
	if v := q.Get("to"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			fields["to"] = "an RFC 3339 time, such as 2026-12-01T00:00:00Z"
		}
		to = t
	}
	from := to.Add(-reportWindow)
	if v := q.Get("from"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			fields["from"] = "an RFC 3339 time, such as 2026-11-01T00:00:00Z"
		}
		from = t
	}
	if len(fields) == 0 && !from.Before(to) {
		fields["from"] = "before to"
	}
	dept := q.Get("department")
	if !storable(dept) {
		fields["department"] = "unknown department"
	}
	if len(fields) > 0 {
		validationFailed(w, fields)
		return
	}
	if dept != "" {
		if _, err := s.store.StaffDepartment(r.Context(), s.reach(r), dept); !s.found(w, r, err, "department_not_found", "No such department.") {
			return
		}
	}
	report, err := s.ResponseTimes(r.Context(), s.reach(r), from, to, dept)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": from.UTC(), "to": to.UTC(), "departments": report})
}

// clockMoved follows a change that moved a ticket's clocks: it counts a first response the
// change made, and queues the warning or breach now next (Redis away: the service-level sweep
// sends it at its time instead).
func (s *Server) clockMoved(ctx context.Context, t storage.Ticket) {
	if t.FirstResponseAt != nil && t.FirstResponseSeconds != nil && t.FirstResponseAt.Equal(t.UpdatedAt) {
		metrics.FirstResponseSeconds.WithLabelValues(t.DepartmentID).Observe(float64(*t.FirstResponseSeconds))
	}
	if t.SLANextMoment != nil && t.Status != tickets.Closed {
		s.enqueue(ctx, jobs.NewSLAMomentTask(t.ID, *t.SLANextMoment))
	}
}
