package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/tickets"
)

// Saved replies: a department's standard answers. Any member of the department reads them and
// inserts one, its placeholders filled for the ticket, into an answer they still edit and send;
// its leads and admins write and delete them.

// maxReplyTitleRunes bounds a saved reply's title.
const maxReplyTitleRunes = 200

// replyID is the form of a saved reply's id: a short slug, as it appears in URLs.
var replyID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

type savedReplyJSON struct {
	ID         string    `json:"id"`
	Department string    `json:"department"`
	Title      string    `json:"title"`
	Body       string    `json:"body"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func replyView(r storage.SavedReply) savedReplyJSON {
	return savedReplyJSON{ID: r.ID, Department: r.DepartmentID, Title: r.Title, Body: r.Body, UpdatedAt: r.UpdatedAt.UTC()}
}

// checkReply validates a saved reply as a lead writes it, by field.
func checkReply(id, title, body string) (storage.SavedReply, map[string]string) {
	fields := map[string]string{}
	if !replyID.MatchString(id) {
		fields["id"] = "1 to 64 lower-case letters, digits, - and _, starting with a letter or digit"
	}
	title = strings.TrimSpace(cleanText(title))
	if n := utf8.RuneCountInString(title); n == 0 || n > maxReplyTitleRunes || strings.ContainsAny(title, "\r\n") {
		fields["title"] = "a title of 1 to " + strconv.Itoa(maxReplyTitleRunes) + " characters on one line"
	}
	text, err := checkMessage(body)
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		fields["body"] = ve.Fields["message"]
	case len(tickets.UnknownPlaceholders(text)) > 0:
		fields["body"] = "unknown placeholder " + strings.Join(tickets.UnknownPlaceholders(text), ", ") +
			"; the placeholders are " + tickets.PlaceholderCustomerName + ", " + tickets.PlaceholderTicketNumber + " and " + tickets.PlaceholderDepartment
	}
	return storage.SavedReply{ID: id, Title: title, Body: text}, fields
}

// replyAccess is what the caller of a saved-reply route may do: the service token naming nobody
// reaches every department as an admin; a member, their departments in their role.
func (s *Server) replyAccess(r *http.Request) (storage.Reach, func(dept string) string) {
	if c := callerOf(r); c.member == nil && c.service {
		return storage.ReachAll(), func(string) string { return storage.RoleAdmin }
	}
	return s.reach(r), func(dept string) string { return s.staffRole(r, dept) }
}

// replyDepartment answers for a department's replies: the department must exist and be within
// the caller's reach (else 404 department_not_found), and, to write, the caller must lead it.
func (s *Server) replyDepartment(w http.ResponseWriter, r *http.Request, write bool) (string, storage.Reach, bool) {
	reach, role := s.replyAccess(r)
	dept := r.PathValue("dept")
	if !storable(dept) || !reach.Allows(dept) {
		writeError(w, http.StatusNotFound, "department_not_found", "No such department.", nil)
		return "", reach, false
	}
	if _, err := s.store.Department(r.Context(), dept); !s.found(w, r, err, "department_not_found", "No such department.") {
		return "", reach, false
	}
	if write && !mayLead(role(dept)) {
		writeError(w, http.StatusForbidden, "forbidden", "Only a lead of the department, or an admin, may change its saved replies.", nil)
		return "", reach, false
	}
	return dept, reach, true
}

func (s *Server) listReplies(w http.ResponseWriter, r *http.Request) {
	dept, reach, ok := s.replyDepartment(w, r, false)
	if !ok {
		return
	}
	list, err := s.store.Replies(r.Context(), reach, dept)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := make([]savedReplyJSON, 0, len(list))
	for _, rp := range list {
		out = append(out, replyView(rp))
	}
	writeJSON(w, http.StatusOK, map[string]any{"department": dept, "replies": out})
}

func (s *Server) putReply(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Staff string `json:"staff"`
		Title string `json:"title"`
		Body  string `json:"body"`
	}
	if !decodeJSON(w, r, &in) || (in.Staff != "" && !s.actAs(w, r, in.Staff)) {
		return
	}
	dept, reach, ok := s.replyDepartment(w, r, true)
	if !ok {
		return
	}
	rp, fields := checkReply(r.PathValue("id"), in.Title, in.Body)
	if len(fields) > 0 {
		validationFailed(w, fields)
		return
	}
	rp.DepartmentID = dept
	stored, err := s.store.PutReply(r.Context(), reach, rp)
	if !s.found(w, r, err, "department_not_found", "No such department.") {
		return
	}
	writeJSON(w, http.StatusOK, replyView(stored))
}

func (s *Server) deleteReply(w http.ResponseWriter, r *http.Request) {
	dept, reach, ok := s.replyDepartment(w, r, true)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !storable(id) {
		writeError(w, http.StatusNotFound, "reply_not_found", "No such saved reply.", nil)
		return
	}
	rp, err := s.store.DeleteReply(r.Context(), reach, dept, id)
	if !s.found(w, r, err, "reply_not_found", "No such saved reply.") {
		return
	}
	writeJSON(w, http.StatusOK, replyView(rp))
}

// ticketReplies lists the saved replies of a ticket's department with their placeholders filled
// for that ticket, ready to be put into an answer.
func (s *Server) ticketReplies(w http.ResponseWriter, r *http.Request) {
	number := r.PathValue("number")
	if !storable(number) {
		writeError(w, http.StatusNotFound, "ticket_not_found", "No such ticket.", nil)
		return
	}
	t, err := s.store.TicketByNumber(r.Context(), s.reach(r), number)
	if !s.found(w, r, err, "ticket_not_found", "No such ticket.") {
		return
	}
	filled, err := s.filledReplies(r.Context(), s.reach(r), t)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := make([]savedReplyJSON, 0, len(filled))
	for _, rp := range filled {
		out = append(out, replyView(rp))
	}
	writeJSON(w, http.StatusOK, map[string]any{"number": t.Number, "replies": out})
}

// filledReplies is the saved replies of a ticket's department, their placeholders filled for it:
// the customer's name, the ticket's number and the department's name in the customer's language.
func (s *Server) filledReplies(ctx context.Context, reach storage.Reach, t storage.Ticket) ([]storage.SavedReply, error) {
	list, err := s.store.Replies(ctx, reach, t.DepartmentID)
	if err != nil || len(list) == 0 {
		return list, err
	}
	c, err := s.store.Customer(ctx, t.CustomerID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	v := tickets.ReplyValues{CustomerName: c.Name, TicketNumber: t.Number, Department: t.DepartmentLabel(c.Language)}
	for i := range list {
		list[i].Body = tickets.FillReply(list[i].Body, v)
	}
	return list, nil
}
