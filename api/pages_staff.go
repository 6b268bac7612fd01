package api

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/tickets"
)

const staffQueueLimit = 100

type staffLoginPage struct {
	Next string
	// Links is whether staff links are on (ASSISTD_STAFF_LINK_SECRET set); Methods are the other
	// ways of signing in offered beside them, each a button to its start.
	Links   bool
	Methods []signInMethod
}

// signInMethod is a way of signing in to the console offered on its sign-in page.
type signInMethod struct {
	Label string // a message key
	URL   string
}

// staffLoginPage shows how to sign in to the console or, for a signed sign-in link, the button
// that signs its member in. Staff links are handed over by email or chat, where previews and
// scanners open them: opening one signs nobody in and does not use it up; the button, a form
// only this page can post, does.
func (s *Server) staffLoginPage(w http.ResponseWriter, r *http.Request) {
	q := &request{w: w, r: r, lang: s.pageLanguage(w, r, "")}
	next := localPath(r.URL.Query().Get("next"), "/staff")
	if token := r.URL.Query().Get("token"); token != "" {
		link, m, ok := s.staffLink(q, token)
		if !ok || !s.linkAlive(q, link, staffCookie, kindStaff, "staff.signin.used", pageLink{"staff.signin", "/staff/login"}) {
			return
		}
		q.session = s.startSession(w, loginCookie, kindLogin, "", loginLifetime)
		s.render(w, r, http.StatusOK, "login_confirm", s.newView(q, "staff.signin", loginConfirmPage{Heading: "staff.signin",
			Whose: "staff.signin.link.whose", Text: "staff.signin.link.text", Button: "staff.signin.button", Action: "/staff/login", Field: "link",
			Name: m.Name + " (" + m.ID + ")", Token: token, Next: next}))
		return
	}
	s.render(w, r, http.StatusOK, "staff_login", s.newView(q, "staff.signin", staffLoginPage{Next: next, Links: s.cfg.StaffLinkSecret != "",
		Methods: s.signInMethods}))
}

// staffLink verifies a staff sign-in link's token, signed with the staff link key, and finds the
// active member it names; when either fails it has answered.
func (s *Server) staffLink(q *request, token string) (signInLink, storage.StaffMember, bool) {
	link, err := verifyLoginToken(s.cfg.StaffLinkSecret, kindStaff, token, s.now())
	var m storage.StaffMember
	if err == nil {
		m, err = s.activeMember(q.ctx(), link.subject)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.pageError(q, err)
			return signInLink{}, m, false
		}
	}
	if err != nil {
		if !s.pageAuthFailed(q, "staff_link") {
			s.showMessage(q, http.StatusUnauthorized, "signin.bad.title", "staff.signin.bad", pageLink{"staff.signin", "/staff/login"})
		}
		return signInLink{}, m, false
	}
	return link, m, true
}

func (s *Server) staffLoginForm(w http.ResponseWriter, r *http.Request) {
	q := &request{w: w, r: r, lang: s.pageLanguage(w, r, "")}
	ss, ok := s.readSession(r, loginCookie, kindLogin)
	if ok {
		q.session = ss
	}
	if !ok || !s.parseForm(q) {
		if !ok {
			s.showMessage(q, http.StatusForbidden, "error.csrf.title", "error.csrf.text", pageLink{"staff.signin", "/staff/login"})
		}
		return
	}
	next := localPath(r.PostFormValue("next"), "/staff")
	link, _, ok := s.staffLink(q, r.PostFormValue("link"))
	if !ok || !s.signInOnce(q, link, staffCookie, kindStaff, staffLifetime, "staff.signin.used", pageLink{"staff.signin", "/staff/login"}) {
		return
	}
	s.endSession(w, loginCookie)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) staffLogout(q *request) {
	if err := s.revokeSession(q.r.Context(), q.session); err != nil {
		s.pageError(q, err)
		return
	}
	s.endSession(q.w, staffCookie)
	q.staff, q.session = "", session{}
	s.showMessage(q, http.StatusOK, "signout.title", "staff.signout.text", pageLink{"staff.signin", "/staff/login"})
}

type departmentCounts struct {
	Department storage.Department
	Name       string
	Counts     map[tickets.Status]int
	Waiting    int
}

type staffIndexPage struct {
	Departments []departmentCounts
}

// staffIndexPage lists the member's departments with the counts of what they may open.
func (s *Server) staffIndexPage(q *request) {
	reach := s.reach(q.r)
	depts, err := s.store.StaffDepartments(q.ctx(), reach)
	if err != nil {
		s.pageError(q, err)
		return
	}
	var p staffIndexPage
	for _, d := range depts {
		counts, err := s.store.QueueCounts(q.ctx(), reach, d.ID)
		if err != nil {
			s.pageError(q, err)
			return
		}
		dc := departmentCounts{Department: d, Name: d.Name, Counts: counts}
		if q.lang == "en" {
			dc.Name = d.NameEn
		}
		for _, n := range counts {
			dc.Waiting += n
		}
		p.Departments = append(p.Departments, dc)
	}
	s.render(q.w, q.r, http.StatusOK, "staff_index", s.newView(q, "staff.title", p))
}

type statusFilter struct {
	Status tickets.Status
	Count  int
	URL    string
	Active bool
}

type staffQueuePage struct {
	Department storage.Department
	Name       string
	Status     tickets.Status
	Filters    []statusFilter
	Tickets    []storage.Ticket
	Limit      int
	First      string // the first page, when this one is not it
	Next       string // the page after this one, when this one is full
}

func (s *Server) staffQueuePage(q *request) {
	dept := q.r.PathValue("dept")
	status := tickets.Status(q.r.URL.Query().Get("status"))
	if !status.Valid() {
		status = ""
	}
	// Pages follow the API's keyset cursor: a cursor that does not parse shows the first page.
	var after *storage.QueueCursor
	if c, err := storage.ParseQueueCursor(q.r.URL.Query().Get("after")); err == nil {
		after = &c
	}
	order, _ := queueOrder(q.r.URL.Query().Get("order"))
	if after != nil && (order == storage.OrderPriority) != (after.Rank != nil) {
		after = nil
	}
	page, err := s.queuePage(q.ctx(), storage.QueueQuery{Reach: s.reach(q.r), DepartmentID: dept, Status: status, Limit: staffQueueLimit, After: after, Order: order})
	if !s.pageFound(q, err) {
		return
	}
	d, list, counts := page.department, page.tickets, page.counts
	p := staffQueuePage{Department: d, Name: d.Name, Status: status, Tickets: list, Limit: staffQueueLimit}
	if q.lang == "en" {
		p.Name = d.NameEn
	}
	base := "/staff/departments/" + url.PathEscape(d.ID)
	query := url.Values{}
	if status != "" {
		query.Set("status", string(status))
	}
	if order != storage.OrderWaiting {
		query.Set("order", string(order))
	}
	if after != nil {
		p.First = base + "?" + query.Encode()
	}
	if len(list) == staffQueueLimit {
		query.Set("after", storage.CursorAfter(list[len(list)-1], order).String())
		p.Next = base + "?" + query.Encode()
	}
	for _, st := range tickets.Statuses {
		p.Filters = append(p.Filters, statusFilter{Status: st, Count: counts[st], URL: base + "?status=" + string(st), Active: st == status})
	}
	v := s.newView(q, "staff.queue.title", p)
	v.Title = v.T("staff.queue.title", p.Name)
	s.render(q.w, q.r, http.StatusOK, "staff_queue", v)
}

// staffFindTicket opens a ticket by its number (GET /staff/tickets?number=); the search box
// finds numbers too, and opens the ticket. One out of the member's reach is not found, as one
// that does not exist.
func (s *Server) staffFindTicket(q *request) {
	n := relatedParam(q.r.URL.Query().Get("number"))
	if n == "" {
		s.notFound(q)
		return
	}
	t, err := s.store.TicketByNumber(q.ctx(), s.reach(q.r), n)
	if !s.pageFound(q, err) {
		return
	}
	http.Redirect(q.w, q.r, "/staff/tickets/"+t.Number, http.StatusSeeOther)
}

type staffTicketPage struct {
	Ticket      storage.Ticket
	Customer    storage.Customer
	Messages    []storage.Message
	History     []storage.StatusChange
	Reveals     []storage.Reveal
	Answer      string
	AnswerError string
	StatusError string
	Revealed    *revealedPassword
	Due         []dueLine
	Files       map[int64][]storage.Attachment // by message
	Kept        []storage.Attachment           // files received with an answer that came back
	FileError   string
	workflowControls
}

type revealedPassword struct {
	Password  string
	ExpiresAt time.Time
}

func (s *Server) staffTicketOf(q *request) (storage.Ticket, bool) {
	number := q.r.PathValue("number")
	if !ticketNumber(number) {
		s.notFound(q)
		return storage.Ticket{}, false
	}
	t, err := s.store.TicketByNumber(q.ctx(), s.reach(q.r), number)
	return t, s.pageFound(q, err)
}

func (s *Server) staffTicketPage(q *request) {
	t, ok := s.staffTicketOf(q)
	if !ok {
		return
	}
	s.showStaffTicket(q, http.StatusOK, staffTicketPage{Ticket: t, workflowControls: workflowControls{Reply: q.r.URL.Query().Get("reply")}})
}

func (s *Server) showStaffTicket(q *request, code int, p staffTicketPage) {
	ctx := q.ctx()
	var err error
	if p.Customer, err = s.store.Customer(ctx, p.Ticket.CustomerID); err != nil {
		s.pageError(q, err)
		return
	}
	if p.Messages, err = s.store.StaffMessages(ctx, p.Ticket.ID); err != nil {
		s.pageError(q, err)
		return
	}
	if p.Files, err = s.threadFiles(ctx, p.Ticket.ID, p.Messages); err != nil {
		s.pageError(q, err)
		return
	}
	if p.History, err = s.StatusHistory(ctx, p.Ticket.ID); err != nil {
		s.pageError(q, err)
		return
	}
	if p.Reveals, err = s.reveals(ctx, p.Ticket); err != nil {
		s.pageError(q, err)
		return
	}
	if p.Due, err = s.ticketDues(ctx, p.Ticket, true); err != nil {
		s.pageError(q, err)
		return
	}
	if err = s.loadWorkflow(q, &p); err != nil {
		s.pageError(q, err)
		return
	}
	if p.Reply != "" && p.Answer == "" {
		insertReply(&p, p.Reply)
	}
	v := s.newView(q, "staff.ticket.title", p)
	v.Title = v.T("staff.ticket.title", p.Ticket.Number)
	if p.Revealed != nil {
		v.Title = v.T("staff.reveal.title", p.Ticket.Number)
	}
	s.render(q.w, q.r, code, "staff_ticket", v)
}

// staffRevealForm reveals the password (audited) on a page that is never cached.
func (s *Server) staffRevealForm(q *request) {
	t, ok := s.staffTicketOf(q)
	if !ok {
		return
	}
	reason, _ := checkReason(q.r.PostFormValue("reason"))
	rv, err := s.revealTicketPassword(q.ctx(), s.reach(q.r), t, s.revealer(q.r, reason))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.showMessage(q, http.StatusNotFound, "staff.reveal.none.title", "staff.reveal.none.text", pageLink{"staff.back", "/staff/tickets/" + t.Number})
	case errors.Is(err, secret.ErrOpen):
		s.showMessage(q, http.StatusInternalServerError, "staff.reveal.failed.title", "staff.reveal.failed.text", pageLink{"staff.back", "/staff/tickets/" + t.Number})
	case err != nil:
		s.pageError(q, err)
	case rv.Outcome == storage.RevealGranted:
		// Reload so the audit on the page includes this reveal.
		if t, err = s.store.TicketByID(q.ctx(), t.ID); err != nil {
			s.pageError(q, err)
			return
		}
		s.showStaffTicket(q, http.StatusOK, staffTicketPage{Ticket: t, Revealed: &revealedPassword{Password: rv.Password.Reveal(), ExpiresAt: rv.ExpiresAt}})
	default:
		s.showStaffTicket(q, http.StatusGone, staffTicketPage{Ticket: t})
	}
}

func (s *Server) staffAnswerForm(q *request) {
	t, ok := s.staffTicketOf(q)
	if !ok {
		return
	}
	text := q.r.PostFormValue("message")
	status := tickets.Status(q.r.PostFormValue("status"))
	v := s.newView(q, "", nil)
	ids, kept, fileProblem, err := s.formAttachments(q)
	if err != nil {
		s.pageError(q, err)
		return
	}
	if p := messageProblem(text); p != "" || fileProblem != "" {
		back := staffTicketPage{Ticket: t, Answer: text, Kept: kept, FileError: s.problemText(v, fileProblem)}
		if p != "" {
			back.AnswerError = v.T(p)
		}
		s.showStaffTicket(q, http.StatusUnprocessableEntity, back)
		return
	}
	_, err = s.StaffAnswerWith(q.ctx(), s.reach(q.r), t.Number, q.staff, text, status, ids)
	var ve *ValidationError
	switch {
	case errors.As(err, &ve) && ve.Fields["attachments"] != "":
		s.showStaffTicket(q, http.StatusUnprocessableEntity, staffTicketPage{Ticket: t, Answer: text, FileError: v.T("attachment.not_yours")})
	case errors.Is(err, storage.ErrTicketClosed):
		t.Status = tickets.Closed
		s.showStaffTicket(q, http.StatusConflict, staffTicketPage{Ticket: t, Answer: text, AnswerError: v.T("staff.answer.closed")})
	case errors.Is(err, storage.ErrInvalidTransition), errors.As(err, &ve):
		s.showStaffTicket(q, http.StatusUnprocessableEntity, staffTicketPage{Ticket: t, Answer: text, AnswerError: v.T("staff.answer.invalid")})
	case err != nil:
		s.pageError(q, err)
	default:
		http.Redirect(q.w, q.r, "/staff/tickets/"+t.Number+"?done=answer", http.StatusSeeOther)
	}
}

func (s *Server) staffStatusForm(q *request) {
	t, ok := s.staffTicketOf(q)
	if !ok {
		return
	}
	_, err := s.ChangeStatus(q.ctx(), s.reach(q.r), t.Number, q.staff, tickets.Status(q.r.PostFormValue("status")))
	var ve *ValidationError
	switch {
	case errors.Is(err, storage.ErrInvalidTransition), errors.Is(err, storage.ErrTicketClosed), errors.As(err, &ve):
		v := s.newView(q, "", nil)
		s.showStaffTicket(q, http.StatusConflict, staffTicketPage{Ticket: t, StatusError: v.T("staff.status.invalid")})
	case err != nil:
		s.pageError(q, err)
	default:
		http.Redirect(q.w, q.r, "/staff/tickets/"+t.Number+"?done=status", http.StatusSeeOther)
	}
}
