package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/assistd/assistd/storage"
)

// Ownership: a ticket's assignee, and a department's automatic assignment.

// assignRefused words storage.ErrAssignRefused for the member field.
const assignRefused = "an agent takes a ticket for themselves or releases their own; a lead of the ticket's department or an admin assigns an active member of that department"

// Assign sets (member) or clears (nil) a ticket's assignee for the member caller, whose role in
// the ticket's department role gives: an agent takes it or releases their own, a lead or an
// admin assigns anyone of the department. Anything else is a *ValidationError on member.
func (s *Server) Assign(ctx context.Context, reach storage.Reach, role func(department string) string, number, caller string, member *string) (storage.Ticket, error) {
	if !storable(number) {
		return storage.Ticket{}, storage.ErrNotFound
	}
	if member != nil && !storable(*member) {
		return storage.Ticket{}, &ValidationError{Fields: map[string]string{"member": assignRefused}}
	}
	t, err := s.store.TicketByNumber(ctx, reach, number)
	if err != nil {
		return storage.Ticket{}, err
	}
	// Assign locks the ticket where it was found: a ticket moved meanwhile is not found.
	t, err = s.store.Assign(ctx, storage.ReachOnly(t.DepartmentID), number, member,
		storage.AssignRule{Caller: caller, Others: mayLead(role(t.DepartmentID))})
	if errors.Is(err, storage.ErrAssignRefused) {
		return storage.Ticket{}, &ValidationError{Fields: map[string]string{"member": assignRefused}}
	}
	return t, err
}

func (s *Server) postAssignee(w http.ResponseWriter, r *http.Request) {
	number := r.PathValue("number")
	var in struct {
		Staff  string          `json:"staff"`
		Member json.RawMessage `json:"member"`
	}
	if !decodeJSON(w, r, &in) || !s.actAs(w, r, in.Staff) {
		return
	}
	var member *string
	if len(in.Member) == 0 || (!bytes.Equal(in.Member, []byte("null")) && json.Unmarshal(in.Member, &member) != nil) {
		validationFailed(w, map[string]string{"member": `name the member ("member": "rita"), or null to release the ticket`})
		return
	}
	role := func(dept string) string { return s.staffRole(r, dept) }
	t, err := s.Assign(r.Context(), s.reach(r), role, number, s.member(r).ID, member)
	if err != nil {
		s.lifecycleError(w, r, err, number, "")
		return
	}
	s.writeTicket(w, r, http.StatusOK, t, "pt-PT", true)
}

// assigneeFilter reads a queue's assignee parameter: "me" (the caller), "none", or a member's id.
func (s *Server) assigneeFilter(r *http.Request, qq *storage.QueueQuery) string {
	switch v := r.URL.Query().Get("assignee"); {
	case v == "":
	case v == "none":
		qq.Unassigned = true
	case v == "me" && s.member(r) != nil:
		qq.Assignee = s.member(r).ID
	case v == "me":
		return "me names the member making the call; this call names none"
	case !storable(v):
		return "me, none, or a member's id"
	default:
		qq.Assignee = v
	}
	return ""
}

type settingsJSON struct {
	Department string `json:"department"`
	AutoAssign string `json:"auto_assign"`
}

func (s *Server) putSettings(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Staff      string `json:"staff"`
		AutoAssign string `json:"auto_assign"`
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	if !storage.ValidAutoAssign(in.AutoAssign) {
		validationFailed(w, map[string]string{"auto_assign": "one of off, round_robin, least_open"})
		return
	}
	dept := r.PathValue("dept")
	if !storable(dept) {
		writeError(w, http.StatusNotFound, "department_not_found", "No such department.", nil)
		return
	}
	// The route is an admin's or the service token's: every department.
	ds, err := s.store.SetSettings(r.Context(), storage.ReachAll(), storage.DepartmentSettings{DepartmentID: dept, AutoAssign: in.AutoAssign})
	if !s.found(w, r, err, "department_not_found", "No such department.") {
		return
	}
	writeJSON(w, http.StatusOK, settingsJSON{Department: ds.DepartmentID, AutoAssign: ds.AutoAssign})
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) {
	dept := r.PathValue("dept")
	if !storable(dept) {
		writeError(w, http.StatusNotFound, "department_not_found", "No such department.", nil)
		return
	}
	ds, err := s.store.Settings(r.Context(), storage.ReachAll(), dept)
	if !s.found(w, r, err, "department_not_found", "No such department.") {
		return
	}
	writeJSON(w, http.StatusOK, settingsJSON{Department: ds.DepartmentID, AutoAssign: ds.AutoAssign})
}
