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

// SetSearchLimits changes the search's window, the matches a search reads through the index
// and the documents it walks, until the test ends.
func SetSearchLimits(t interface{ Cleanup(func()) }, window, common, walk int) {
	w, c, k := searchWindow, searchCommon, searchWalk
	searchWindow, searchCommon, searchWalk = window, common, walk
	t.Cleanup(func() { searchWindow, searchCommon, searchWalk = w, c, k })
}
