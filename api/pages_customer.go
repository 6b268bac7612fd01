package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/tickets"
)

const historyPerPage = 20

// noDomain is the form's value for "O produto não está associado a um domínio"; a domain always
// has a dot, so it is never a customer's domain.
const noDomain = "none"

type historyPage struct {
	Tickets    []storage.Ticket
	Status     tickets.Status
	Page       int
	Pages      int
	Total      int
	PrevURL    string
	NextURL    string
	BadFilters bool
}

func (s *Server) historyPage(q *request) {
	query := q.r.URL.Query()
	p := historyPage{Page: 1}
	if st := tickets.Status(query.Get("status")); st.Valid() {
		p.Status = st
	} else if st != "" {
		p.BadFilters = true
	}
	if n, err := strconv.Atoi(query.Get("page")); err == nil && n >= 1 && n <= 100000 {
		p.Page = n
	}
	list, total, err := s.store.History(q.ctx(), storage.HistoryQuery{CustomerID: q.customer.ID, Status: p.Status, Page: p.Page, PerPage: historyPerPage})
	if err != nil {
		s.pageError(q, err)
		return
	}
	p.Tickets, p.Total = list, total
	p.Pages = max(1, (total+historyPerPage-1)/historyPerPage)
	pageURL := func(n int) string {
		v := url.Values{}
		if p.Status != "" {
			v.Set("status", string(p.Status))
		}
		if n > 1 {
			v.Set("page", strconv.Itoa(n))
		}
		if len(v) == 0 {
			return "/tickets"
		}
		return "/tickets?" + v.Encode()
	}
	if len(list) == 0 && p.Page > p.Pages {
		// Past the last page the list would read as "no requests at all".
		http.Redirect(q.w, q.r, pageURL(p.Pages), http.StatusSeeOther)
		return
	}
	if p.Page > 1 {
		p.PrevURL = pageURL(min(p.Page-1, p.Pages))
	}
	if p.Page < p.Pages {
		p.NextURL = pageURL(p.Page + 1)
	}
	s.render(q.w, q.r, http.StatusOK, "history", s.newView(q, "history.title", p))
}

type subjectItem struct {
	ID, Name, Department, Search, URL string
	Hidden                            bool // not matching the search; shown again when the live filter is cleared
}

type subjectsPage struct {
	Query         string
	RelatedTicket string
	Subjects      []subjectItem // the matches, best first, then the others
	Matches       int
}

// ticketNumber reports whether an address can name a ticket: numbers are digits, and nothing
// else (a NUL or bytes that are not UTF-8, which Postgres refuses in a query) reaches the database.
func ticketNumber(v string) bool {
	return v != "" && len(v) <= 20 && strings.Trim(v, "0123456789") == ""
}

// relatedParam keeps a "referring to #N" choice only when it is a plain number.
func relatedParam(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "#")
	if v == "" || len(v) > 20 || strings.Trim(v, "0123456789") != "" {
		return ""
	}
	return v
}

// newTicketPage is the subject list, or the request form once a subject is chosen.
func (s *Server) newTicketPage(q *request) {
	if q.r.URL.Query().Get("subject_id") != "" {
		s.ticketFormPage(q)
		return
	}
	s.subjectsPage(q)
}

func (s *Server) subjectsPage(q *request) {
	query := q.r.URL.Query()
	p := subjectsPage{Query: query.Get("q"), RelatedTicket: relatedParam(query.Get("related_ticket"))}
	if len(p.Query) > 200 {
		p.Query = strings.ToValidUTF8(p.Query[:200], "") // without a character cut in two
	}
	all, err := s.store.Subjects(q.ctx())
	if err != nil {
		s.pageError(q, err)
		return
	}
	depts, err := s.store.Departments(q.ctx())
	if err != nil {
		s.pageError(q, err)
		return
	}
	names := map[string]storage.Department{}
	for _, d := range depts {
		names[d.ID] = d
	}
	matches := storage.SearchSubjects(all, p.Query)
	p.Matches = len(matches)
	matched := map[string]bool{}
	for _, sub := range matches {
		matched[sub.ID] = true
	}
	for _, sub := range all {
		if !matched[sub.ID] {
			matches = append(matches, sub)
		}
	}
	for _, sub := range matches {
		item := subjectItem{ID: sub.ID, Name: sub.Name, Department: names[sub.DepartmentID].Name,
			Search: strings.Join(strings.Fields(storage.Fold(sub.Name+" "+sub.NameEn+" "+sub.Keywords)), " "),
			URL:    "/tickets/new?subject_id=" + url.QueryEscape(sub.ID), Hidden: !matched[sub.ID]}
		if q.lang == "en" {
			item.Name, item.Department = sub.NameEn, names[sub.DepartmentID].NameEn
		}
		if p.RelatedTicket != "" {
			item.URL += "&related_ticket=" + p.RelatedTicket
		}
		p.Subjects = append(p.Subjects, item)
	}
	s.render(q.w, q.r, http.StatusOK, "subjects", s.newView(q, "subjects.title", p))
}

// ticketForm is the request form, as shown and as submitted.
type ticketForm struct {
	Subject        storage.Subject
	SubjectName    string
	Department     string
	Message        string
	Domain         string // a domain, noDomain, or "" when none was chosen yet
	Domains        []string
	RelatedTicket  string
	IdempotencyKey string
	Errors         map[string]string // field -> message in the page's language
	// PasswordDropped is set when a password was typed but the form came back with errors:
	// it is never sent back into the page, so it must be typed again.
	PasswordDropped bool
	General         string
	// Kept are the files received with an earlier try, attached when the form goes through.
	Kept []storage.Attachment
}

func (s *Server) loadSubjectForm(q *request, subjectID string) (ticketForm, bool) {
	sub, err := s.subject(q.ctx(), subjectID)
	if errors.Is(err, storage.ErrNotFound) {
		s.notFound(q)
		return ticketForm{}, false
	} else if err != nil {
		s.pageError(q, err)
		return ticketForm{}, false
	}
	f := ticketForm{Subject: sub, SubjectName: sub.Name, Domains: q.customer.Domains, IdempotencyKey: newNonce()}
	if q.lang == "en" {
		f.SubjectName = sub.NameEn
	}
	if d, err := s.store.Department(q.ctx(), sub.DepartmentID); err == nil {
		f.Department = d.Name
		if q.lang == "en" {
			f.Department = d.NameEn
		}
	}
	if len(f.Domains) == 0 {
		f.Domain = noDomain
	}
	return f, true
}

func (s *Server) ticketFormPage(q *request) {
	f, ok := s.loadSubjectForm(q, q.r.URL.Query().Get("subject_id"))
	if !ok {
		return
	}
	f.RelatedTicket = relatedParam(q.r.URL.Query().Get("related_ticket"))
	s.render(q.w, q.r, http.StatusOK, "ticket_form", s.newView(q, "form.title", f))
}

// formProblems words the problems of a ticketRequest for the form and for the API.
var formProblems = map[string]string{
	problemIdempotencyKeyTooLong: "form.error.resubmit",
	problemSubjectUnknown:        "form.error.subject",
	problemDomainNotOwned:        "form.error.domain",
	problemMessageEmpty:          "form.error.message_empty",
	problemMessageTooLong:        "form.error.message_long",
	problemPasswordTooLong:       "form.error.password_long",
	problemRelatedUnknown:        "form.error.related",
	"attachment.too_many":        "attachment.too_many",
	"attachment.not_yours":       "attachment.not_yours",
}

func (s *Server) submitTicketForm(q *request) {
	f, ok := s.loadSubjectForm(q, q.r.PostFormValue("subject_id"))
	if !ok {
		return
	}
	r := q.r
	f.Message = r.PostFormValue("message")
	f.Domain = r.PostFormValue("domain")
	f.RelatedTicket = strings.TrimSpace(r.PostFormValue("related_ticket"))
	if k := r.PostFormValue("idempotency_key"); k != "" {
		f.IdempotencyKey = k
	}
	in := ticketRequest{SubjectID: f.Subject.ID, Message: f.Message, IdempotencyKey: "form:" + f.IdempotencyKey}
	ids, kept, fileProblem, err := s.formAttachments(q)
	if err != nil {
		s.pageError(q, err)
		return
	}
	in.Attachments, f.Kept = ids, kept
	if pw := r.PostFormValue("password"); pw != "" {
		in.Password = &pw
	}
	if f.RelatedTicket != "" {
		in.RelatedTicket = &f.RelatedTicket
	}
	v := s.newView(q, "form.title", nil)
	problems := map[string]string{}
	if fileProblem != "" {
		problems["attachments"] = fileProblem
	}
	switch f.Domain {
	case noDomain:
	case "":
		problems["domain"] = "form.error.domain_choose"
	default:
		in.Domain = &f.Domain
	}
	nt, found, err := s.prepareTicket(q.ctx(), q.customer, in)
	if err != nil {
		s.pageError(q, err)
		return
	}
	for field, p := range found {
		if _, ok := problems[field]; !ok {
			problems[field] = formProblems[p]
		}
	}
	if len(problems) == 0 {
		// The form's key stands for what the form says: the same form sent twice (a double click,
		// a retry after a failure) is one request, and a form the customer edited after a failure
		// is a new one, under a new key, rather than a conflict with what the first one stored.
		if nt.RequestDigest != "" {
			nt.IdempotencyKey += ":" + nt.RequestDigest[:22]
		}
		res, err := s.submitTicket(q.ctx(), nt)
		switch {
		case err == nil:
			http.Redirect(q.w, r, "/tickets/"+res.Number+"/confirmation", http.StatusSeeOther)
			return
		case errors.Is(err, storage.ErrUploadUnusable):
			// A file was used by another request meanwhile: the form comes back without it.
			problems["attachments"], f.Kept = "attachment.not_yours", nil
		case errors.Is(err, storage.ErrIdempotencyMismatch):
			f.General = v.T("form.error.resubmit")
			f.IdempotencyKey = newNonce()
		case errors.Is(err, storage.ErrUnavailable):
			f.General = v.T("form.error.unavailable")
		default:
			s.pageError(q, err)
			return
		}
	}
	f.Errors = map[string]string{}
	for field, key := range problems {
		if field == "subject_id" || field == "Idempotency-Key" {
			f.General = v.T(key)
			f.IdempotencyKey = newNonce()
			continue
		}
		f.Errors[field] = s.problemText(v, key)
	}
	f.PasswordDropped = in.Password != nil
	v.Page = f
	code := http.StatusUnprocessableEntity
	if len(problems) == 0 {
		code = http.StatusServiceUnavailable
	}
	s.render(q.w, r, code, "ticket_form", v)
}

type confirmationPage struct {
	Ticket storage.Ticket
	Email  string
}

func (s *Server) confirmationPage(q *request) {
	t, ok := s.ownTicket(q)
	if !ok {
		return
	}
	s.render(q.w, q.r, http.StatusOK, "confirmation", s.newView(q, "confirm.title", confirmationPage{Ticket: t, Email: q.customer.Email}))
}

// ownTicket loads the ticket of the URL if it is the signed-in customer's; any other number is
// "not found", whoever it belongs to.
func (s *Server) ownTicket(q *request) (storage.Ticket, bool) {
	number := q.r.PathValue("number")
	if !ticketNumber(number) {
		s.notFound(q)
		return storage.Ticket{}, false
	}
	t, err := s.store.CustomerTicket(q.ctx(), q.customer.ID, number)
	if errors.Is(err, storage.ErrNotFound) {
		s.notFound(q)
		return t, false
	} else if err != nil {
		s.pageError(q, err)
		return t, false
	}
	return t, true
}

type customerTicketPage struct {
	Ticket     storage.Ticket
	Messages   []storage.Message
	Files      map[int64][]storage.Attachment // by message
	Reply      string
	ReplyError string
	Due        []dueLine
	// PasswordViews are when staff revealed the password: times only, never who.
	PasswordViews []time.Time
	Kept          []storage.Attachment // files received with a reply that came back
	FileError     string
}

func (s *Server) customerTicketPage(q *request) {
	t, ok := s.ownTicket(q)
	if !ok {
		return
	}
	s.showCustomerTicket(q, http.StatusOK, customerTicketPage{Ticket: t})
}

func (s *Server) showCustomerTicket(q *request, code int, p customerTicketPage) {
	msgs, err := s.store.Messages(q.ctx(), p.Ticket.ID)
	if err != nil {
		s.pageError(q, err)
		return
	}
	p.Messages = msgs
	if p.Files, err = s.threadFiles(q.ctx(), p.Ticket.ID, msgs); err != nil {
		s.pageError(q, err)
		return
	}
	if p.PasswordViews, err = s.passwordViews(q.ctx(), p.Ticket); err != nil {
		s.pageError(q, err)
		return
	}
	if p.Due, err = s.ticketDues(q.ctx(), p.Ticket, false); err != nil {
		s.pageError(q, err)
		return
	}
	v := s.newView(q, "ticket.title", p)
	v.Title = v.T("ticket.title", p.Ticket.Number)
	s.render(q.w, q.r, code, "ticket", v)
}

// messageProblem checks a reply's text as checkMessage will store it (cleaned, then trimmed) and
// returns the message key of what is wrong.
func messageProblem(text string) string {
	switch n := utf8.RuneCountInString(strings.TrimSpace(cleanText(text))); {
	case n == 0:
		return "form.error.reply_empty"
	case n > MaxMessageRunes:
		return "form.error.message_long"
	}
	return ""
}

func (s *Server) customerReplyForm(q *request) {
	t, ok := s.ownTicket(q)
	if !ok {
		return
	}
	text := q.r.PostFormValue("message")
	ids, kept, fileProblem, err := s.formAttachments(q)
	if err != nil {
		s.pageError(q, err)
		return
	}
	v := s.newView(q, "", nil)
	back := customerTicketPage{Ticket: t, Reply: text, Kept: kept, FileError: s.problemText(v, fileProblem)}
	if p := messageProblem(text); p != "" || fileProblem != "" {
		if p != "" {
			back.ReplyError = v.T(p)
		}
		s.showCustomerTicket(q, http.StatusUnprocessableEntity, back)
		return
	}
	_, err = s.CustomerReplyWith(q.ctx(), q.customer.ID, t.Number, strings.TrimSpace(text), ids)
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		back.Kept, back.FileError = nil, v.T("attachment.not_yours")
		s.showCustomerTicket(q, http.StatusUnprocessableEntity, back)
	case errors.Is(err, storage.ErrNotFound):
		s.notFound(q)
	case errors.Is(err, storage.ErrTicketClosed):
		t.Status = tickets.Closed
		// The text is given back, so that it can go into a new request referring to this one.
		s.showCustomerTicket(q, http.StatusConflict, customerTicketPage{Ticket: t, Reply: text, ReplyError: v.T("ticket.closed.reply")})
	case err != nil:
		s.pageError(q, err)
	default:
		http.Redirect(q.w, q.r, "/tickets/"+t.Number+"?done=reply", http.StatusSeeOther)
	}
}

func (s *Server) customerCloseForm(q *request) {
	t, ok := s.ownTicket(q)
	if !ok {
		return
	}
	_, err := s.CustomerClose(q.ctx(), q.customer.ID, t.Number)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.notFound(q)
	case err != nil && !errors.Is(err, storage.ErrTicketClosed):
		s.pageError(q, err)
	default:
		http.Redirect(q.w, q.r, "/tickets/"+t.Number+"?done=closed", http.StatusSeeOther)
	}
}
