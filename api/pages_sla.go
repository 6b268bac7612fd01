package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/assistd/assistd/sla"
	"github.com/assistd/assistd/storage"
)

// dueLine is one due time a ticket page shows, in the policy's time zone.
type dueLine struct {
	Key      string // the message that names it: sla.respond_by, sla.resolve_by, sla.reply_expected
	At       time.Time
	Location *time.Location
	Breached bool
}

// DueDate writes a due time in its policy's time zone, the way the page's language writes dates,
// with the zone's abbreviation.
func (v *view) DueDate(d dueLine) string {
	t := d.At.In(d.Location)
	if v.Lang == "en" {
		return t.Format("2 Jan 2006, 15:04 MST")
	}
	return t.Format("02/01/2006 15:04 MST")
}

// ticketDues lists what a ticket page says of its clocks: for staff the pending answer's and
// the resolution's due times (breached ones marked), for the customer when an answer is
// expected. Nothing when no clock runs.
func (s *Server) ticketDues(ctx context.Context, t storage.Ticket, staff bool) ([]dueLine, error) {
	c := t.Clocks()
	reply := c.ReplyExpectedBy()
	if reply == nil && (!staff || c.ResolutionDue == nil || c.PausedAt != nil) {
		return nil, nil
	}
	p, err := s.store.Policy(ctx, t.DepartmentID)
	if errors.Is(err, storage.ErrNoPolicy) {
		p, err = sla.Policy{}, nil
	}
	if err != nil {
		return nil, err
	}
	loc, now := p.Location(), s.now()
	breached := func(target string, at time.Time) bool { return !now.Before(at) || slices.Contains(c.Breached, target) }
	if !staff {
		return []dueLine{{Key: "sla.reply_expected", At: *reply, Location: loc}}, nil
	}
	var out []dueLine
	if reply != nil {
		target := sla.NextResponse
		if c.FirstResponseAt == nil {
			target = sla.FirstResponse
		}
		out = append(out, dueLine{Key: "sla.respond_by", At: *reply, Location: loc, Breached: breached(target, *reply)})
	}
	if c.ResolutionDue != nil && c.PausedAt == nil {
		out = append(out, dueLine{Key: "sla.resolve_by", At: *c.ResolutionDue, Location: loc, Breached: breached(sla.Resolution, *c.ResolutionDue)})
	}
	return out, nil
}

// weekdayFields are the policy form's days, Monday first, with their message keys.
var weekdayFields = []struct{ Key, Label string }{
	{"mon", "sla.form.mon"}, {"tue", "sla.form.tue"}, {"wed", "sla.form.wed"}, {"thu", "sla.form.thu"},
	{"fri", "sla.form.fri"}, {"sat", "sla.form.sat"}, {"sun", "sla.form.sun"},
}

// policyForm is the console's form of a department's policy, as typed.
type policyForm struct {
	FirstResponse, NextResponse, Resolution, WarnBefore string
	RoundTheClock                                       bool
	Timezone                                            string
	Holidays                                            bool
	Week                                                map[string]string // "09:00-13:00, 14:00-18:00"
	Closed                                              string            // "2026-12-24 2026-12-31"
}

type policyPage struct {
	Department storage.Department
	Name       string
	Form       policyForm
	Days       []struct{ Key, Label string }
	Targets    []struct{ Name, Value string }
	Errors     map[string]string
	Saved      bool
}

func formOf(doc sla.Document) policyForm {
	f := policyForm{FirstResponse: doc.FirstResponse, NextResponse: doc.NextResponse, Resolution: doc.Resolution, WarnBefore: doc.WarnBefore,
		RoundTheClock: doc.Hours == nil, Timezone: "Europe/Lisbon", Holidays: true, Week: map[string]string{}}
	if h := doc.Hours; h != nil {
		f.Timezone, f.Holidays, f.Closed = h.Timezone, h.Holidays == sla.HolidaysPT, strings.Join(h.Closed, " ")
		for day, spans := range h.Week {
			f.Week[day] = strings.Join(spans, ", ")
		}
	}
	return f
}

func (f policyForm) document() sla.Document {
	doc := sla.Document{FirstResponse: strings.TrimSpace(f.FirstResponse), NextResponse: strings.TrimSpace(f.NextResponse),
		Resolution: strings.TrimSpace(f.Resolution), WarnBefore: strings.TrimSpace(f.WarnBefore)}
	if f.RoundTheClock {
		return doc
	}
	h := &sla.HoursDocument{Timezone: strings.TrimSpace(f.Timezone), Week: map[string][]string{}, Closed: strings.Fields(strings.ReplaceAll(f.Closed, ",", " "))}
	if f.Holidays {
		h.Holidays = sla.HolidaysPT
	}
	for day, text := range f.Week {
		for _, span := range strings.Split(text, ",") {
			if span = strings.ReplaceAll(span, " ", ""); span != "" {
				h.Week[day] = append(h.Week[day], span)
			}
		}
	}
	doc.Hours = h
	return doc
}

// staffPolicyPage shows a department's policy in a form; only an admin may change it.
func (s *Server) staffPolicyPage(q *request) {
	d, ok := s.pageDepartment(q)
	if !ok {
		return
	}
	p := policyPage{Department: d, Form: formOf(sla.Document{}), Saved: q.r.URL.Query().Get("done") == "sla"}
	if stored, err := s.store.Policy(q.ctx(), d.ID); err == nil {
		p.Form = formOf(stored.Document())
	} else if !errors.Is(err, storage.ErrNoPolicy) {
		s.pageError(q, err)
		return
	}
	s.showPolicy(q, http.StatusOK, p)
}

func (s *Server) showPolicy(q *request, code int, p policyPage) {
	p.Name, p.Days = p.Department.Name, weekdayFields
	p.Targets = []struct{ Name, Value string }{{sla.FirstResponse, p.Form.FirstResponse}, {sla.NextResponse, p.Form.NextResponse},
		{sla.Resolution, p.Form.Resolution}, {"warn_before", p.Form.WarnBefore}}
	if q.lang == "en" {
		p.Name = p.Department.NameEn
	}
	v := s.newView(q, "sla.form.title", p)
	v.Title = v.T("sla.form.title", p.Name)
	if p.Saved {
		v.Notice = v.T("notice.sla")
	}
	s.render(q.w, q.r, code, "staff_sla", v)
}

// staffPolicyForm stores the policy typed in the console, or shows the form again with what is
// wrong beside each field.
func (s *Server) staffPolicyForm(q *request) {
	d, ok := s.pageDepartment(q)
	if !ok {
		return
	}
	if s.staffRole(q.r, d.ID) != storage.RoleAdmin {
		s.showMessage(q, http.StatusForbidden, "staff.forbidden.title", "staff.forbidden.admin", pageLink{"staff.back.home", "/staff"})
		return
	}
	r := q.r
	f := policyForm{FirstResponse: r.PostFormValue("first_response"), NextResponse: r.PostFormValue("next_response"),
		Resolution: r.PostFormValue("resolution"), WarnBefore: r.PostFormValue("warn_before"),
		RoundTheClock: r.PostFormValue("round_the_clock") != "", Timezone: r.PostFormValue("timezone"),
		Holidays: r.PostFormValue("holidays") != "", Closed: r.PostFormValue("closed"), Week: map[string]string{}}
	for _, day := range weekdayFields {
		f.Week[day.Key] = r.PostFormValue("week_" + day.Key)
	}
	_, err := s.SetPolicy(q.ctx(), d.ID, f.document())
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		s.showPolicy(q, http.StatusBadRequest, policyPage{Department: d, Form: f, Errors: ve.Fields})
	case err != nil:
		s.pageError(q, err)
	default:
		http.Redirect(q.w, q.r, "/staff/departments/"+url.PathEscape(d.ID)+"/sla?done=sla", http.StatusSeeOther)
	}
}

// pageDepartment reads the department a console page names, within the member's reach,
// answering the page itself when there is none or the database is away.
func (s *Server) pageDepartment(q *request) (storage.Department, bool) {
	d, err := s.store.StaffDepartment(q.ctx(), s.reach(q.r), q.r.PathValue("dept"))
	return d, s.pageFound(q, err)
}

// reportPage is the response-time report of the console.
type reportPage struct {
	From, To string // YYYY-MM-DD, as the form shows them
	Rows     []departmentReportJSON
	Error    string
}

// Seconds writes a business time in hours and minutes ("—" when unknown).
func (v *view) Seconds(secs *float64) string {
	if secs == nil {
		return "—"
	}
	d := time.Duration(*secs) * time.Second
	return v.T("time.remaining", int(d.Hours()), int(d.Minutes())%60)
}

// staffReportPage shows, per department, the period's tickets, first response and resolution
// p50/p90 in business time, and the targets missed: the last 30 days unless the form says.
func (s *Server) staffReportPage(q *request) {
	loc := sla.Policy{}.Location()
	to := s.now().In(loc)
	from := to.AddDate(0, 0, -30)
	p := reportPage{}
	day := func(name string, def time.Time) time.Time {
		v := q.r.URL.Query().Get(name)
		if v == "" {
			return def
		}
		t, err := time.ParseInLocation(time.DateOnly, v, loc)
		if err != nil {
			p.Error = translate(q.lang, "report.bad_date")
			return def
		}
		return t
	}
	from, to = day("from", from), day("to", to)
	if q.r.URL.Query().Get("to") != "" {
		to = to.AddDate(0, 0, 1) // the whole of the last day
	}
	p.From, p.To = from.Format(time.DateOnly), to.Format(time.DateOnly)
	rows, err := s.ResponseTimes(q.ctx(), s.reach(q.r), from, to, "")
	if err != nil {
		s.pageError(q, err)
		return
	}
	p.Rows = rows
	v := s.newView(q, "report.title", p)
	s.render(q.w, q.r, http.StatusOK, "staff_report", v)
}
