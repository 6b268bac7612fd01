package storage

// GroupedSession and GroupedStatements let tests check the plans Postgres keeps for the grouped
// statements.
const GroupedSession = groupedSession

var GroupedStatements = map[string]string{
	"intake":           intakePostgres,
	"ticket_processed": recordPostgres,
	"new_ticket_read":  newTicketMailsPostgres,
	"customer":         customersPostgres,
}
