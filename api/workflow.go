package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/tickets"
)

// The console's daily work on a ticket beside answers and status changes: internal notes,
// priority and transfers. The operations are shared by the JSON API and the console's forms;
// each takes the caller's reach, which the store puts in its SQL.

// mayLead reports whether a role may do what a department's lead does (assign to others,
// transfer out, manage saved replies).
func mayLead(role string) bool { return role == storage.RoleAdmin || role == storage.RoleLead }

// errNotPermitted is an operation the caller's role in the ticket's department does not allow.
var errNotPermitted = errors.New("api: not permitted by the caller's role")

// AddNote adds an internal note to a ticket within reach: nothing is emailed, and the status, the
// last activity and the service-level clocks stay as they were.
func (s *Server) AddNote(ctx context.Context, reach storage.Reach, number, staff, text string) (storage.Ticket, error) {
	return s.AddNoteWith(ctx, reach, number, staff, text, nil)
}

// AddNoteWith is AddNote with the member's uploads attached to the note.
func (s *Server) AddNoteWith(ctx context.Context, reach storage.Reach, number, staff, text string, uploads []string) (storage.Ticket, error) {
	staff, body, err := checkStaffMessage(staff, text)
	if err != nil {
		return storage.Ticket{}, err
	}
	if !storable(number) {
		return storage.Ticket{}, storage.ErrNotFound
	}
	if key, err := s.checkAttachments(ctx, storage.OwnerStaff, staff, uploads); err != nil {
		return storage.Ticket{}, err
	} else if key != "" {
		return storage.Ticket{}, attachmentsInvalid(key)
	}
	att := s.attach(storage.OwnerStaff, staff, uploads)
	t, _, err := s.store.AddNoteWith(ctx, reach, number, staff, body, att)
	if err != nil {
		return storage.Ticket{}, attachmentProblem(err)
	}
	s.scheduleDestruction(ctx, att)
	return t, nil
}

// SetPriority sets the priority of a ticket within reach.
func (s *Server) SetPriority(ctx context.Context, reach storage.Reach, number string, p tickets.Priority) (storage.Ticket, error) {
	if !p.Valid() {
		return storage.Ticket{}, &ValidationError{Fields: map[string]string{"priority": "one of " + priorityList()}}
	}
	if !storable(number) {
		return storage.Ticket{}, storage.ErrNotFound
	}
	return s.store.SetPriority(ctx, reach, number, p)
}

// Transfer moves a ticket within reach to another department, for a lead of its department or
// an admin (errNotPermitted for anyone else), and tells the new department by email. role is the
// caller's role in the ticket's department. An unknown department is a *ValidationError.
func (s *Server) Transfer(ctx context.Context, reach storage.Reach, role func(department string) string, number, staff, to string) (storage.Ticket, error) {
	fields := map[string]string{}
	staff, staffErr := checkStaff(staff)
	if staffErr != "" {
		fields["staff"] = staffErr
	}
	to = strings.TrimSpace(to)
	if to == "" || !storable(to) {
		fields["department"] = "name the department to move the ticket to"
	}
	if len(fields) > 0 {
		return storage.Ticket{}, &ValidationError{Fields: fields}
	}
	if !storable(number) {
		return storage.Ticket{}, storage.ErrNotFound
	}
	t, err := s.store.TicketByNumber(ctx, reach, number)
	if err != nil {
		return storage.Ticket{}, err
	}
	from := storage.ReachOnly(t.DepartmentID)
	switch r := role(t.DepartmentID); {
	case r == storage.RoleAdmin:
		from = storage.ReachAll()
	case r != storage.RoleLead:
		return storage.Ticket{}, errNotPermitted
	}
	// The move is made only while the ticket is still where the role was decided.
	moved, ids, err := s.store.Transfer(ctx, from, number, staff, to, s.emails.Transferred)
	if errors.Is(err, storage.ErrUnknownDepartment) {
		return storage.Ticket{}, &ValidationError{Fields: map[string]string{"department": "unknown department"}}
	}
	if err != nil {
		return storage.Ticket{}, err
	}
	s.enqueueEmails(ctx, ids)
	s.clockMoved(ctx, moved)
	return moved, nil
}

func priorityList() string {
	names := make([]string, len(tickets.Priorities))
	for i, p := range tickets.Priorities {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// workflowError answers for an error of a workflow operation on a ticket.
func (s *Server) workflowError(w http.ResponseWriter, r *http.Request, err error, number string) {
	if errors.Is(err, errNotPermitted) {
		writeError(w, http.StatusForbidden, "forbidden", "Only a lead of the ticket's department, or an admin, may do this.", nil)
		return
	}
	s.lifecycleError(w, r, err, number, "")
}

func (s *Server) postNote(w http.ResponseWriter, r *http.Request) {
	number := r.PathValue("number")
	var in struct {
		Staff       string   `json:"staff"`
		Message     string   `json:"message"`
		Attachments []string `json:"attachments"`
	}
	if !decodeJSON(w, r, &in) || !s.actAs(w, r, in.Staff) {
		return
	}
	t, err := s.AddNoteWith(r.Context(), s.reach(r), number, s.member(r).ID, in.Message, in.Attachments)
	if err != nil {
		s.workflowError(w, r, err, number)
		return
	}
	s.writeTicket(w, r, http.StatusCreated, t, "pt-PT", true)
}

func (s *Server) postPriority(w http.ResponseWriter, r *http.Request) {
	number := r.PathValue("number")
	var in struct {
		Staff    string           `json:"staff"`
		Priority tickets.Priority `json:"priority"`
	}
	if !decodeJSON(w, r, &in) || !s.actAs(w, r, in.Staff) {
		return
	}
	t, err := s.SetPriority(r.Context(), s.reach(r), number, in.Priority)
	if err != nil {
		s.workflowError(w, r, err, number)
		return
	}
	s.writeTicket(w, r, http.StatusOK, t, "pt-PT", true)
}

func (s *Server) postTransfer(w http.ResponseWriter, r *http.Request) {
	number := r.PathValue("number")
	var in struct {
		Staff      string `json:"staff"`
		Department string `json:"department"`
	}
	if !decodeJSON(w, r, &in) || !s.actAs(w, r, in.Staff) {
		return
	}
	role := func(dept string) string { return s.staffRole(r, dept) }
	t, err := s.Transfer(r.Context(), s.reach(r), role, number, s.member(r).ID, in.Department)
	if err != nil {
		s.workflowError(w, r, err, number)
		return
	}
	s.writeTicket(w, r, http.StatusOK, t, "pt-PT", true)
}
