package storage

import "strings"

// Reach is the set of departments a staff caller may reach. Every staff query puts it in its
// WHERE clause, as every customer query carries the customer id: a ticket out of reach is not
// found, exactly as one that does not exist.
type Reach struct {
	// All reaches every department: an administrator, or the system itself.
	All bool
	// Departments are the department ids reached when All is false; none reaches nothing.
	Departments []string
}

// ReachAll reaches every department.
func ReachAll() Reach { return Reach{All: true} }

// ReachOnly reaches the given departments.
func ReachOnly(departments ...string) Reach { return Reach{Departments: departments} }

// Allows reports whether a department is within reach.
func (r Reach) Allows(department string) bool {
	if r.All {
		return true
	}
	for _, d := range r.Departments {
		if d == department {
			return true
		}
	}
	return false
}

// clause is the condition that keeps column within reach, to be ANDed into a WHERE clause, with
// its arguments ("?" placeholders, rebound by Store.q).
func (r Reach) clause(column string) (string, []any) {
	if r.All {
		return "1 = 1", nil
	}
	if len(r.Departments) == 0 {
		return "1 = 0", nil
	}
	args := make([]any, len(r.Departments))
	for i, d := range r.Departments {
		args[i] = d
	}
	return column + " IN (?" + strings.Repeat(", ?", len(args)-1) + ")", args
}
