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

// SearchLimits are the search's window and how it looks for it (see searchGlance), and the
// shifts of its buckets of ticket ids (see searchBuckets; 0 keeps them as they are).
type SearchLimits struct{ Window, Glance, Walk, Span, FineBucket, CoarseBucket int }

// SetSearchLimits changes the search's limits until the test ends.
func SetSearchLimits(t interface{ Cleanup(func()) }, l SearchLimits) {
	was := SearchLimits{searchWindow, searchGlance, searchWalk, searchSpan, searchFineBucket, searchCoarseBucket}
	set := func(l SearchLimits) {
		searchWindow, searchGlance, searchWalk, searchSpan = l.Window, l.Glance, l.Walk, l.Span
		if l.FineBucket > 0 {
			searchFineBucket, searchCoarseBucket = l.FineBucket, l.CoarseBucket
		}
	}
	set(l)
	t.Cleanup(func() { set(was) })
}
