package tickets

import (
	"regexp"
	"strings"
)

// Placeholders a saved reply may hold, filled for the ticket it is inserted into.
const (
	PlaceholderCustomerName = "{customer_name}"
	PlaceholderTicketNumber = "{ticket_number}"
	PlaceholderDepartment   = "{department}"
)

// ReplyValues are what a saved reply's placeholders stand for on one ticket.
type ReplyValues struct {
	CustomerName string
	TicketNumber string
	Department   string // in the customer's language: the answer is theirs to read
}

// FillReply fills a saved reply's placeholders for a ticket. Values are inserted as they are,
// once: a value that looks like a placeholder is not filled again.
func FillReply(body string, v ReplyValues) string {
	return strings.NewReplacer(
		PlaceholderCustomerName, v.CustomerName,
		PlaceholderTicketNumber, v.TicketNumber,
		PlaceholderDepartment, v.Department,
	).Replace(body)
}

// placeholderLike is text that reads as a placeholder: a lower-case word in braces.
var placeholderLike = regexp.MustCompile(`\{[a-z][a-z_]*\}`)

// UnknownPlaceholders lists what in a saved reply looks like a placeholder but is none of the
// known ones (a misspelt {custmer_name} would otherwise reach the customer as it is).
func UnknownPlaceholders(body string) []string {
	var out []string
	for _, p := range placeholderLike.FindAllString(body, -1) {
		switch p {
		case PlaceholderCustomerName, PlaceholderTicketNumber, PlaceholderDepartment:
		default:
			out = append(out, p)
		}
	}
	return out
}
