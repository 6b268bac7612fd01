package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/tickets"
)

// ValidationError is bad input to a lifecycle operation: what is wrong, by field.
type ValidationError struct {
	Fields map[string]string
	// Keys names, by field, the message (pages_i18n.go) that words the problem for a customer:
	// a customer's call is answered in the customer's language.
	Keys map[string]string
}

func (e *ValidationError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for name := range e.Fields {
		names = append(names, name)
	}
	return "api: invalid " + strings.Join(names, ", ")
}

// Queue page sizes.
const (
	defaultQueueLimit = 50
	maxQueueLimit     = 200
)

// CustomerReply adds a customer's message to one of their tickets, moves it to customer_reply
// and notifies the department. A closed ticket is storage.ErrTicketClosed; a ticket that does not
// exist or is another customer's, storage.ErrNotFound; bad text, a *ValidationError.
func (s *Server) CustomerReply(ctx context.Context, customerID, number, text string) (storage.Ticket, error) {
	return s.CustomerReplyWith(ctx, customerID, number, text, nil)
}

// CustomerReplyWith is CustomerReply with the customer's uploads attached; an upload that is not
// theirs to use is a *ValidationError on the field attachments.
func (s *Server) CustomerReplyWith(ctx context.Context, customerID, number, text string, uploads []string) (storage.Ticket, error) {
	body, err := checkMessage(text)
	if err != nil {
		return storage.Ticket{}, err
	}
	if !storable(customerID) || !storable(number) {
		return storage.Ticket{}, storage.ErrNotFound
	}
	if key, err := s.checkAttachments(ctx, storage.OwnerCustomer, customerID, uploads); err != nil {
		return storage.Ticket{}, err
	} else if key != "" {
		return storage.Ticket{}, attachmentsInvalid(key)
	}
	att := s.attach(storage.OwnerCustomer, customerID, uploads)
	t, ids, err := s.store.AddCustomerMessageWith(ctx, customerID, number, body, att, s.emails.CustomerReply)
	if err != nil {
		return storage.Ticket{}, attachmentProblem(err)
	}
	s.scheduleDestruction(ctx, att)
	s.enqueueEmails(ctx, ids)
	s.clockMoved(ctx, t)
	return t, nil
}

// CustomerClose closes one of a customer's tickets; closing it again changes nothing.
func (s *Server) CustomerClose(ctx context.Context, customerID, number string) (storage.Ticket, error) {
	if !storable(customerID) || !storable(number) {
		return storage.Ticket{}, storage.ErrNotFound
	}
	t, _, err := s.store.CloseByCustomer(ctx, customerID, number, nil)
	return t, err
}

// StaffAnswer adds a member's answer to a ticket within reach and sets the ticket's status
// (answered when status is ""), and emails the customer the update. A closed ticket is
// storage.ErrTicketClosed; an unknown status, storage.ErrInvalidTransition; a ticket out of reach,
// storage.ErrNotFound.
func (s *Server) StaffAnswer(ctx context.Context, reach storage.Reach, number, staff, text string, status tickets.Status) (storage.Ticket, error) {
	return s.StaffAnswerWith(ctx, reach, number, staff, text, status, nil)
}

// StaffAnswerWith is StaffAnswer with the member's uploads attached.
func (s *Server) StaffAnswerWith(ctx context.Context, reach storage.Reach, number, staff, text string, status tickets.Status, uploads []string) (storage.Ticket, error) {
	staff, body, err := s.checkStaffPost(ctx, staff, text, uploads)
	if err != nil {
		return storage.Ticket{}, err
	}
	if !storable(number) {
		return storage.Ticket{}, storage.ErrNotFound
	}
	att := s.attach(storage.OwnerStaff, staff, uploads)
	t, ids, err := s.store.AddStaffMessageWith(ctx, reach, number, staff, body, status, att, s.emails.Update)
	if err != nil {
		return storage.Ticket{}, attachmentProblem(err)
	}
	s.scheduleDestruction(ctx, att)
	s.enqueueEmails(ctx, ids)
	s.clockMoved(ctx, t)
	return t, nil
}

// ChangeStatus sets the status of a ticket within reach for a member and emails the customer the
// update; setting the status the ticket has changes nothing. An unknown status or a change out of
// closed is storage.ErrInvalidTransition.
func (s *Server) ChangeStatus(ctx context.Context, reach storage.Reach, number, staff string, status tickets.Status) (storage.Ticket, error) {
	fields := map[string]string{}
	staff, staffErr := checkStaff(staff)
	if staffErr != "" {
		fields["staff"] = staffErr
	}
	if status == "" {
		fields["status"] = "choose the new status: " + statusList()
	}
	if len(fields) > 0 {
		return storage.Ticket{}, &ValidationError{Fields: fields}
	}
	if !storable(number) {
		return storage.Ticket{}, storage.ErrNotFound
	}
	t, ids, err := s.store.SetStatus(ctx, reach, number, staff, status, s.emails.Update)
	if err != nil {
		return storage.Ticket{}, err
	}
	s.enqueueEmails(ctx, ids)
	s.clockMoved(ctx, t)
	return t, nil
}

// Queue returns the first tickets of a department's queue, the one waiting longest first, with
// the department's counts by status (closed is not counted). status "" lists every ticket that
// is not closed. An unknown department, or one out of reach, is storage.ErrNotFound.
func (s *Server) Queue(ctx context.Context, reach storage.Reach, departmentID string, status tickets.Status, limit int) ([]storage.Ticket, map[tickets.Status]int, error) {
	page, err := s.queuePage(ctx, storage.QueueQuery{Reach: reach, DepartmentID: departmentID, Status: status, Limit: limit})
	return page.tickets, page.counts, err
}

// queue is a page of a department's queue.
type queue struct {
	department storage.Department
	tickets    []storage.Ticket
	counts     map[tickets.Status]int
}

// queuePage reads a page of a department's queue and the department's counts.
func (s *Server) queuePage(ctx context.Context, qq storage.QueueQuery) (queue, error) {
	if qq.Status != "" && !qq.Status.Valid() {
		return queue{}, &ValidationError{Fields: map[string]string{"status": "unknown status; one of " + statusList()}}
	}
	if qq.Limit <= 0 {
		qq.Limit = defaultQueueLimit
	}
	qq.Limit = min(qq.Limit, maxQueueLimit)
	departmentID := qq.DepartmentID
	if !storable(departmentID) {
		return queue{}, storage.ErrNotFound
	}
	var (
		page queue
		err  error
	)
	// The department (with its counts) and the page are read side by side, each a millisecond's
	// work for the server at a million tickets; a department out of reach has an empty page, and
	// is answered as unknown.
	var g errgroup.Group // no cancelling on a first error: a cancelled statement costs its connection
	g.Go(func() (err error) {
		page.department, page.counts, err = s.store.QueueDepartment(ctx, qq.Reach, departmentID)
		return err
	})
	g.Go(func() (err error) { page.tickets, err = s.store.Queue(ctx, qq); return err })
	if err = g.Wait(); err != nil {
		return queue{}, err
	}
	return page, nil
}

// StatusHistory returns every status a ticket had, oldest first.
func (s *Server) StatusHistory(ctx context.Context, ticketID int64) ([]storage.StatusChange, error) {
	return s.store.StatusHistory(ctx, ticketID)
}

// enqueueEmails queues the sending of outbox emails; what fails is left to the outbox relay.
func (s *Server) enqueueEmails(ctx context.Context, ids []int64) {
	for _, id := range ids {
		s.enqueue(ctx, jobs.NewEmailSendTask(id))
	}
}

// checkMessage cleans and trims a message and checks its length.
func checkMessage(text string) (string, error) {
	body := strings.TrimSpace(cleanText(text))
	switch n := utf8.RuneCountInString(body); {
	case n == 0:
		return "", &ValidationError{Fields: map[string]string{"message": "write the message; it cannot be empty"},
			Keys: map[string]string{"message": "form.error.reply_empty"}}
	case n > MaxMessageRunes:
		return "", &ValidationError{Fields: map[string]string{"message": "the message is limited to " + strconv.Itoa(MaxMessageRunes) + " characters"},
			Keys: map[string]string{"message": "form.error.message_long"}}
	}
	return body, nil
}

// checkStaffMessage checks a staff message and the name of the member writing it: it returns
// both cleaned, or a *ValidationError naming what is wrong with each.
func checkStaffMessage(staff, text string) (string, string, error) {
	fields := map[string]string{}
	staff, staffErr := checkStaff(staff)
	if staffErr != "" {
		fields["staff"] = staffErr
	}
	body, err := checkMessage(text)
	var ve *ValidationError
	if errors.As(err, &ve) {
		fields["message"] = ve.Fields["message"]
	}
	if len(fields) > 0 {
		return "", "", &ValidationError{Fields: fields}
	}
	return staff, body, nil
}

// checkStaffPost checks what a member posts to a thread as an answer: the member's name,
// the message and the member's uploads. It returns the name and the message cleaned, a
// *ValidationError naming what is wrong by field, or a storage error.
func (s *Server) checkStaffPost(ctx context.Context, staff, text string, uploads []string) (string, string, error) {
	fields := map[string]string{}
	staff, body, err := checkStaffMessage(staff, text)
	var ve *ValidationError
	if errors.As(err, &ve) {
		fields = ve.Fields
	}
	if _, badStaff := fields["staff"]; !badStaff {
		key, err := s.checkAttachments(ctx, storage.OwnerStaff, staff, uploads)
		if err != nil {
			return "", "", err
		}
		if key != "" {
			fields["attachments"] = translate("en", key)
		}
	}
	if len(fields) > 0 {
		return "", "", &ValidationError{Fields: fields}
	}
	return staff, body, nil
}

// checkStaff trims a member of staff's name and says what is wrong with it, if anything.
func checkStaff(name string) (string, string) {
	name = strings.TrimSpace(name)
	if !validStaffName(name) {
		return name, "name the member of staff (1 to 100 characters on one line)"
	}
	return name, ""
}

func statusList() string {
	names := make([]string, len(tickets.Statuses))
	for i, st := range tickets.Statuses {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// closedMessage tells how to go on with a closed request: the customer in their language, staff
// (lang "") in Portuguese.
func closedMessage(number, lang string) string {
	switch lang {
	case "":
		return "O pedido #" + number + " está fechado e já não aceita respostas; o cliente pode abrir um novo pedido referente a este."
	case "en":
		return "Request #" + number + " is closed and can no longer be answered. Please open a new request referring to #" + number + "."
	default:
		return "O pedido #" + number + " está fechado e já não pode ser respondido. Crie um novo pedido referente ao pedido #" + number + "."
	}
}

// lifecycleError answers for an error of a lifecycle operation; lang is the customer's, or "" for
// staff.
func (s *Server) lifecycleError(w http.ResponseWriter, r *http.Request, err error, number, lang string) {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve) && lang != "":
		fields := make(map[string]string, len(ve.Fields))
		for f, text := range ve.Fields {
			if key, ok := ve.Keys[f]; ok {
				text = translate(lang, key)
			}
			fields[f] = text
		}
		customerValidationFailed(w, lang, fields)
	case errors.As(err, &ve):
		validationFailed(w, ve.Fields)
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, "ticket_not_found", "No such ticket.", nil)
	case errors.Is(err, storage.ErrTicketClosed):
		writeError(w, http.StatusConflict, "ticket_closed", closedMessage(number, lang), nil)
	case errors.Is(err, storage.ErrInvalidTransition):
		writeError(w, http.StatusConflict, "invalid_transition",
			"This status change is not allowed: the status must be one of "+statusList()+", and a closed ticket never changes again.", nil)
	default:
		s.storeError(w, r, err)
	}
}

// customerLanguage is the language of a customer's answers; pt-PT when the customer is unknown.
func (s *Server) customerLanguage(ctx context.Context, customerID string) (string, error) {
	c, err := s.customer(ctx, customerID)
	if errors.Is(err, storage.ErrNotFound) {
		return "pt-PT", nil
	}
	return c.Language, err
}

func (s *Server) postCustomerMessage(w http.ResponseWriter, r *http.Request) {
	cid, number := r.PathValue("cid"), r.PathValue("number")
	var in struct {
		Message     string   `json:"message"`
		Attachments []string `json:"attachments"`
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	lang, err := s.customerLanguage(r.Context(), cid)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	t, err := s.CustomerReplyWith(r.Context(), cid, number, in.Message, in.Attachments)
	if err != nil {
		s.lifecycleError(w, r, err, number, lang)
		return
	}
	s.writeTicket(w, r, http.StatusCreated, t, lang, false)
}

func (s *Server) postCustomerClose(w http.ResponseWriter, r *http.Request) {
	cid, number := r.PathValue("cid"), r.PathValue("number")
	lang, err := s.customerLanguage(r.Context(), cid)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	t, err := s.CustomerClose(r.Context(), cid, number)
	if err != nil {
		s.lifecycleError(w, r, err, number, lang)
		return
	}
	s.writeTicket(w, r, http.StatusOK, t, lang, false)
}

func (s *Server) postStaffMessage(w http.ResponseWriter, r *http.Request) {
	number := r.PathValue("number")
	var in struct {
		Staff       string         `json:"staff"`
		Message     string         `json:"message"`
		Status      tickets.Status `json:"status"`
		Attachments []string       `json:"attachments"`
	}
	if !decodeJSON(w, r, &in) || !s.actAs(w, r, in.Staff) {
		return
	}
	t, err := s.StaffAnswerWith(r.Context(), s.reach(r), number, s.member(r).ID, in.Message, in.Status, in.Attachments)
	if err != nil {
		s.lifecycleError(w, r, err, number, "")
		return
	}
	s.writeTicket(w, r, http.StatusCreated, t, "pt-PT", true)
}

func (s *Server) postStatus(w http.ResponseWriter, r *http.Request) {
	number := r.PathValue("number")
	var in struct {
		Staff  string         `json:"staff"`
		Status tickets.Status `json:"status"`
	}
	if !decodeJSON(w, r, &in) || !s.actAs(w, r, in.Staff) {
		return
	}
	t, err := s.ChangeStatus(r.Context(), s.reach(r), number, s.member(r).ID, in.Status)
	if err != nil {
		s.lifecycleError(w, r, err, number, "")
		return
	}
	s.writeTicket(w, r, http.StatusOK, t, "pt-PT", true)
}

func (s *Server) writeTicket(w http.ResponseWriter, r *http.Request, code int, t storage.Ticket, lang string, staffView bool) {
	v, err := s.ticketView(r, t, lang, staffView)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, code, v)
}

type queueTicketJSON struct {
	ticketSummaryJSON
	Priority   string   `json:"priority"`
	Assignee   *string  `json:"assignee"`
	CustomerID string   `json:"customer_id"`
	Domain     *string  `json:"domain"`
	URL        string   `json:"url"`
	SLA        *slaJSON `json:"sla"`
}

type statusCountJSON struct {
	Status string `json:"status"`
	Label  string `json:"label"`
	Count  int    `json:"count"`
}

func (s *Server) departmentQueue(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	fields := map[string]string{}
	limit := defaultQueueLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxQueueLimit {
			fields["limit"] = "limit is a number from 1 to " + strconv.Itoa(maxQueueLimit)
		}
		limit = n
	}
	var after *storage.QueueCursor
	if v := q.Get("after"); v != "" {
		c, err := storage.ParseQueueCursor(v)
		if err != nil {
			fields["after"] = "use the next value of the previous page"
		}
		after = &c
	}
	status := tickets.Status(q.Get("status"))
	if status != "" && !status.Valid() {
		fields["status"] = "unknown status; one of " + statusList()
	}
	order, problem := queueOrder(q.Get("order"))
	if problem != "" {
		fields["order"] = problem
	}
	if after != nil && (order == storage.OrderPriority) != (after.Rank != nil) {
		fields["after"] = "use the next value of the previous page, in the same order"
	}
	if len(fields) > 0 {
		validationFailed(w, fields)
		return
	}
	qq := storage.QueueQuery{Reach: s.reach(r), DepartmentID: r.PathValue("dept"), Status: status, Limit: limit, After: after, Order: order}
	if problem := s.assigneeFilter(r, &qq); problem != "" {
		validationFailed(w, map[string]string{"assignee": problem})
		return
	}
	page, err := s.queuePage(ctx, qq)
	if !s.found(w, r, err, "department_not_found", "No such department.") {
		return
	}
	list, counts := page.tickets, page.counts
	out := make([]queueTicketJSON, 0, len(list))
	for _, t := range list {
		out = append(out, queueTicketJSON{ticketSummaryJSON: summaryView(t, "pt-PT"), Priority: string(t.Priority()), Assignee: t.AssigneeID, CustomerID: t.CustomerID, Domain: t.Domain, URL: s.ticketURL(t.Number),
			SLA: slaView(t, s.now())})
	}
	byStatus := make([]statusCountJSON, 0, len(counts))
	for _, st := range tickets.Statuses {
		if n, ok := counts[st]; ok {
			byStatus = append(byStatus, statusCountJSON{Status: string(st), Label: st.Label("pt-PT"), Count: n})
		}
	}
	var next *string
	if len(list) == limit {
		c := storage.CursorAfter(list[len(list)-1], order).String()
		next = &c
	}
	writeJSON(w, http.StatusOK, map[string]any{"department": r.PathValue("dept"), "status": string(status), "tickets": out, "counts": byStatus, "next": next})
}

type statusChangeJSON struct {
	From      *string `json:"from"`
	FromLabel *string `json:"from_label"`
	To        string  `json:"to"`
	ToLabel   string  `json:"to_label"`
	Actor     string  `json:"actor"`
	Staff     string  `json:"staff,omitempty"`
	// FromDepartment and ToDepartment are set on a transfer between departments (staff views).
	FromDepartment string    `json:"from_department,omitempty"`
	ToDepartment   string    `json:"to_department,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

// statusHistoryView is a ticket's status history for staff.
func (s *Server) statusHistoryView(ctx context.Context, ticketID int64) ([]statusChangeJSON, error) {
	changes, err := s.StatusHistory(ctx, ticketID)
	if err != nil {
		return nil, err
	}
	return statusChangesView(changes, "pt-PT", true), nil
}

// statusChangesView shows status changes with labels in a language; only staff see who of staff
// made them.
func statusChangesView(changes []storage.StatusChange, lang string, staffView bool) []statusChangeJSON {
	out := make([]statusChangeJSON, 0, len(changes))
	for _, c := range changes {
		v := statusChangeJSON{To: string(c.To), ToLabel: c.To.Label(lang), Actor: c.Actor, CreatedAt: c.At.UTC()}
		if staffView {
			v.Staff, v.FromDepartment, v.ToDepartment = c.Staff, c.FromDepartment, c.ToDepartment
		}
		if c.From != "" {
			from, label := string(c.From), c.From.Label(lang)
			v.From, v.FromLabel = &from, &label
		}
		out = append(out, v)
	}
	return out
}
