package storage

import "github.com/jmoiron/sqlx"

// GroupedSession and GroupedStatements let tests check the plans Postgres keeps for the grouped
// statements.
var GroupedSession = groupedSession

var GroupedStatements = map[string]string{
	"intake":           intakePostgres,
	"ticket_processed": recordPostgres,
	"new_ticket_read":  newTicketMailsPostgres,
	"customer":         customersPostgres,
}

// GroupedDB is the pool the grouped statements run on.
func (s *Store) GroupedDB() *sqlx.DB { return s.grouped }

// SetSearchLimits changes the search's window and walk until the test ends.
func SetSearchLimits(t interface{ Cleanup(func()) }, window, walk int) {
	w, k := searchWindow, searchWalk
	searchWindow, searchWalk = window, walk
	t.Cleanup(func() { searchWindow, searchWalk = w, k })
}
