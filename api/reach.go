package api

import (
	"net/http"

	"github.com/assistd/assistd/storage"
)

// reach is the set of departments the staff caller of r may reach: an admin's every department,
// a member's own, and none when the request acts as nobody. Every staff handler passes it to the
// store, which puts it in the SQL.
func (s *Server) reach(r *http.Request) storage.Reach {
	if m := s.member(r); m != nil {
		return m.Reach()
	}
	return storage.Reach{}
}

// staffRole is the staff caller's role in a department: "admin" (every department), "lead",
// "agent", or "" when the department is out of reach.
func (s *Server) staffRole(r *http.Request, department string) string {
	if m := s.member(r); m != nil {
		return m.Role(department)
	}
	return ""
}
