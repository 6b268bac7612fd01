package api

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/tickets"
)

// The console's forms for notes, priority, transfers and saved replies. Each is a plain form
// that works without JavaScript; a refused one shows the ticket again with what was typed.

// workflowControls are what the ticket page offers beside answers: the department's saved
// replies filled for the ticket, the priorities, and the departments a lead may transfer to.
type workflowControls struct {
	Replies     []storage.SavedReply
	Reply       string // the saved reply inserted into the answer box
	Priorities  []tickets.Priority
	CanTransfer bool
	Departments []storage.Department // every department but the ticket's
	// DepartmentNames names every department by id in the page's language (the history's
	// transfers).
	DepartmentNames map[string]string
	Note            string
	NoteError       string
	WorkError       string // a refused priority, transfer or assignment
	// Me is the member looking; CanAssign whether they may assign others (a lead or admin of
	// the ticket's department), Members whom to (the department's active members).
	Me        string
	CanAssign bool
	Members   []storage.StaffMember
}

// loadWorkflow fills a ticket page's workflow controls for the member of staff asking.
func (s *Server) loadWorkflow(q *request, p *staffTicketPage) error {
	ctx := q.ctx()
	p.Priorities = tickets.Priorities
	var err error
	if p.Replies, err = s.filledReplies(ctx, s.reach(q.r), p.Ticket); err != nil {
		return err
	}
	depts, err := s.store.Departments(ctx)
	if err != nil {
		return err
	}
	p.CanTransfer = mayLead(s.staffRole(q.r, p.Ticket.DepartmentID))
	p.Me, p.CanAssign = q.staff, p.CanTransfer
	if p.CanAssign {
		all, err := s.store.StaffMembers(ctx)
		if err != nil {
			return err
		}
		for _, m := range all {
			if _, ok := m.Departments[p.Ticket.DepartmentID]; ok && m.Active {
				p.Members = append(p.Members, m)
			}
		}
	}
	p.DepartmentNames = make(map[string]string, len(depts))
	for _, d := range depts {
		p.DepartmentNames[d.ID] = departmentName(d, q.lang)
		if p.CanTransfer && d.ID != p.Ticket.DepartmentID {
			p.Departments = append(p.Departments, d)
		}
	}
	return nil
}

func departmentName(d storage.Department, lang string) string {
	if lang == "en" && d.NameEn != "" {
		return d.NameEn
	}
	return d.Name
}

// PriorityLabel names a priority in the page's language.
func (v *view) PriorityLabel(p tickets.Priority) string { return p.Label(v.Lang) }

// AssigneeOf is the member who owns a ticket, "" for nobody.
func (v *view) AssigneeOf(t storage.Ticket) string {
	if t.AssigneeID == nil {
		return ""
	}
	return *t.AssigneeID
}

// DepartmentName names a department in the page's language.
func (v *view) DepartmentName(d storage.Department) string { return departmentName(d, v.Lang) }

// insertReply puts a saved reply, filled for the ticket, into the answer box (the chooser's
// GET ?reply=id); an unknown one leaves the box as it is.
func insertReply(p *staffTicketPage, id string) {
	for _, r := range p.Replies {
		if r.ID == id {
			p.Answer, p.Reply = r.Body, r.ID
			return
		}
	}
}

// workflowFormDone answers a console form on a ticket: a refused one (a *ValidationError, or
// errNotPermitted) shows the ticket again with the refusal, worded by the message key, beside the
// note form (note, with the note as typed) or the priority and transfer forms; a done one goes to
// next with a notice.
func (s *Server) workflowFormDone(q *request, t storage.Ticket, err error, note *string, key, next string) {
	var ve *ValidationError
	code := http.StatusUnprocessableEntity
	switch {
	case errors.Is(err, errNotPermitted):
		code, key = http.StatusForbidden, "staff.transfer.forbidden"
	case errors.As(err, &ve):
	case errors.Is(err, storage.ErrNotFound):
		s.notFound(q)
		return
	case err != nil:
		s.pageError(q, err)
		return
	default:
		http.Redirect(q.w, q.r, next, http.StatusSeeOther)
		return
	}
	var refused workflowControls
	if text := s.newView(q, "", nil).T(key); note != nil {
		refused.Note, refused.NoteError = *note, text
	} else {
		refused.WorkError = text
	}
	s.showStaffTicket(q, code, staffTicketPage{Ticket: t, workflowControls: refused})
}

func (s *Server) staffNoteForm(q *request) {
	t, ok := s.staffTicketOf(q)
	if !ok {
		return
	}
	text := q.r.PostFormValue("note")
	ids, _, fileProblem, err := s.formAttachments(q)
	if err != nil {
		s.pageError(q, err)
		return
	}
	// An empty or overlong note is refused as the answer form refuses one, in the same words; a
	// refused file, in its own (the files received are kept as uploads, swept if never used).
	err = &ValidationError{}
	key := messageProblem(text)
	if key == "" && fileProblem != "" {
		key = fileProblem
	}
	if key == "" {
		key = "staff.note.invalid"
		_, err = s.AddNoteWith(q.ctx(), s.reach(q.r), t.Number, q.staff, text, ids)
	}
	s.workflowFormDone(q, t, err, &text, key, "/staff/tickets/"+t.Number+"?done=note#thread-heading")
}

func (s *Server) staffPriorityForm(q *request) {
	t, ok := s.staffTicketOf(q)
	if !ok {
		return
	}
	_, err := s.SetPriority(q.ctx(), s.reach(q.r), t.Number, tickets.Priority(q.r.PostFormValue("priority")))
	s.workflowFormDone(q, t, err, nil, "staff.priority.invalid", "/staff/tickets/"+t.Number+"?done=priority")
}

func (s *Server) staffTransferForm(q *request) {
	t, ok := s.staffTicketOf(q)
	if !ok {
		return
	}
	role := func(dept string) string { return s.staffRole(q.r, dept) }
	moved, err := s.Transfer(q.ctx(), s.reach(q.r), role, t.Number, q.staff, q.r.PostFormValue("department"))
	next := "/staff/tickets/" + t.Number + "?done=transfer"
	if err == nil && !s.reach(q.r).Allows(moved.DepartmentID) {
		// Moved out of the member's departments: the ticket is no longer theirs to see.
		next = "/staff/departments/" + url.PathEscape(t.DepartmentID) + "?done=transfer"
	}
	s.workflowFormDone(q, t, err, nil, "staff.transfer.invalid", next)
}

// staffAssignForm takes (member = me), releases (member empty) or assigns a ticket.
func (s *Server) staffAssignForm(q *request) {
	t, ok := s.staffTicketOf(q)
	if !ok {
		return
	}
	var member *string
	if m := q.r.PostFormValue("member"); m != "" {
		member = &m
	}
	role := func(dept string) string { return s.staffRole(q.r, dept) }
	_, err := s.Assign(q.ctx(), s.reach(q.r), role, t.Number, q.staff, member)
	s.workflowFormDone(q, t, err, nil, "staff.assign.refused", "/staff/tickets/"+t.Number+"?done=assignee")
}

// staffMinePage is "Os meus pedidos": the tickets not closed assigned to the member.
type staffMinePage struct {
	Tickets []storage.Ticket
	Limit   int
}

func (s *Server) staffMine(q *request) {
	list, err := s.store.AssignedTo(q.ctx(), s.reach(q.r), q.staff, staffQueueLimit)
	if err != nil {
		s.pageError(q, err)
		return
	}
	s.render(q.w, q.r, http.StatusOK, "staff_mine", s.newView(q, "staff.mine.title", staffMinePage{Tickets: list, Limit: staffQueueLimit}))
}

// staffRepliesPage lists a department's saved replies, with a form to write one (or to edit
// the one named by ?edit=) for its leads.
type staffRepliesPage struct {
	Department storage.Department
	Name       string
	Replies    []storage.SavedReply
	CanEdit    bool
	Form       storage.SavedReply
	Editing    bool
	Errors     map[string]string
}

func (s *Server) staffReplies(q *request) {
	s.showReplies(q, http.StatusOK, staffRepliesPage{})
}

func (s *Server) showReplies(q *request, code int, p staffRepliesPage) {
	dept := q.r.PathValue("dept")
	if !storable(dept) || !s.reach(q.r).Allows(dept) {
		s.notFound(q)
		return
	}
	d, err := s.store.Department(q.ctx(), dept)
	if errors.Is(err, storage.ErrNotFound) {
		s.notFound(q)
		return
	} else if err != nil {
		s.pageError(q, err)
		return
	}
	if p.Replies, err = s.store.Replies(q.ctx(), s.reach(q.r), dept); err != nil {
		s.pageError(q, err)
		return
	}
	p.Department, p.Name, p.CanEdit = d, departmentName(d, q.lang), mayLead(s.staffRole(q.r, dept))
	if id := q.r.URL.Query().Get("edit"); id != "" && p.Errors == nil {
		for _, r := range p.Replies {
			if r.ID == id {
				p.Form, p.Editing = r, true
			}
		}
	}
	v := s.newView(q, "staff.replies.title", p)
	v.Title = v.T("staff.replies.title", p.Name)
	s.render(q.w, q.r, code, "staff_replies", v)
}

func (s *Server) staffReplyForm(q *request) {
	dept := q.r.PathValue("dept")
	if !storable(dept) || !s.reach(q.r).Allows(dept) {
		s.notFound(q)
		return
	}
	v := s.newView(q, "", nil)
	if !mayLead(s.staffRole(q.r, dept)) {
		s.showMessage(q, http.StatusForbidden, "staff.replies.forbidden.title", "staff.replies.forbidden.text", pageLink{"staff.back.replies", "/staff/departments/" + url.PathEscape(dept) + "/replies"})
		return
	}
	f := q.r.PostForm
	rp, fields := checkReply(f.Get("id"), f.Get("title"), f.Get("body"))
	if len(fields) > 0 {
		shown := make(map[string]string, len(fields))
		for name := range fields {
			shown[name] = v.T("staff.replies.error." + name)
		}
		s.showReplies(q, http.StatusUnprocessableEntity, staffRepliesPage{Form: storage.SavedReply{ID: f.Get("id"), Title: f.Get("title"), Body: f.Get("body")},
			Editing: f.Get("editing") != "", Errors: shown})
		return
	}
	rp.DepartmentID = dept
	if _, err := s.store.PutReply(q.ctx(), s.reach(q.r), rp); errors.Is(err, storage.ErrNotFound) {
		s.notFound(q)
		return
	} else if err != nil {
		s.pageError(q, err)
		return
	}
	http.Redirect(q.w, q.r, "/staff/departments/"+url.PathEscape(dept)+"/replies?done=saved_reply", http.StatusSeeOther)
}

func (s *Server) staffReplyDeleteForm(q *request) {
	dept := q.r.PathValue("dept")
	if !storable(dept) || !s.reach(q.r).Allows(dept) {
		s.notFound(q)
		return
	}
	back := "/staff/departments/" + url.PathEscape(dept) + "/replies"
	if !mayLead(s.staffRole(q.r, dept)) {
		s.showMessage(q, http.StatusForbidden, "staff.replies.forbidden.title", "staff.replies.forbidden.text", pageLink{"staff.back.replies", back})
		return
	}
	_, err := s.store.DeleteReply(q.ctx(), s.reach(q.r), dept, q.r.PathValue("id"))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.pageError(q, err)
		return
	}
	http.Redirect(q.w, q.r, back+"?done=saved_reply_deleted", http.StatusSeeOther)
}
