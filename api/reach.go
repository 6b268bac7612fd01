package api

import (
	"net/http"

	"github.com/assistd/assistd/storage"
)

// reach is the set of departments the staff caller of r may reach; every staff handler passes it
// to the store, which puts it in the SQL.
func (s *Server) reach(r *http.Request) storage.Reach {
	return storage.ReachAll()
}

// staffRole is the staff caller's role in a department: "admin" (every department), "lead",
// "agent", or "" when the department is out of reach.
func (s *Server) staffRole(r *http.Request, department string) string {
	if s.reach(r).Allows(department) {
		return "admin"
	}
	return ""
}
