package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/assistd/assistd/internal/systemtest"
)

// Postgres refuses a NUL character and invalid UTF-8 in text; SQLite stores them. Either way the
// caller gets the answer the contract gives for such a value (a ticket that does not exist, an
// unknown subject, a field at fault), never an internal error, and a NUL in a message is dropped.
func TestTextNoDatabaseCanStoreIsAnsweredAsTheContractSaysAndNeverAsAnInternalError(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Ajuda."})
		cl, st := systemtest.APIToken, systemtest.StaffToken
		newTicket := func(extra map[string]any) map[string]any {
			b := map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Ajuda."}
			for k, v := range extra {
				b[k] = v
			}
			return b
		}
		cases := []struct {
			name, method, path, token string
			body                      any
			headers                   []string
			code                      int
			errCode, field            string
		}{
			{"a message of only a NUL is empty", "POST", "/api/v1/customers/ana/tickets", cl, newTicket(map[string]any{"message": "\x00"}), nil, 400, "validation_failed", "message"},
			{"a subject with a NUL is unknown", "POST", "/api/v1/customers/ana/tickets", cl, newTicket(map[string]any{"subject_id": "email\x00"}), nil, 400, "validation_failed", "subject_id"},
			{"a related ticket with a NUL is not the customer's", "POST", "/api/v1/customers/ana/tickets", cl, newTicket(map[string]any{"related_ticket": number + "\x00"}), nil, 400, "validation_failed", "related_ticket"},
			{"an Idempotency-Key that is not UTF-8 is refused", "POST", "/api/v1/customers/ana/tickets", cl, newTicket(nil), []string{"Idempotency-Key", "k\xff"}, 400, "validation_failed", "Idempotency-Key"},
			{"a customer id with a NUL does not exist", "POST", "/api/v1/customers/%00/tickets", cl, newTicket(nil), nil, 404, "customer_not_found", ""},
			{"a customer id that is not UTF-8 has no history", "GET", "/api/v1/customers/%ff/tickets", cl, nil, nil, 404, "customer_not_found", ""},
			{"a ticket number that is not UTF-8 does not exist", "GET", "/api/v1/customers/ana/tickets/%ff", cl, nil, nil, 404, "ticket_not_found", ""},
			{"a ticket number with a NUL does not exist", "GET", "/api/v1/customers/ana/tickets/%00", cl, nil, nil, 404, "ticket_not_found", ""},
			{"a customer that is not UTF-8 has no ticket", "GET", "/api/v1/customers/%ff/tickets/" + number, cl, nil, nil, 404, "ticket_not_found", ""},
			{"nobody adds to a ticket that is not UTF-8", "POST", "/api/v1/customers/ana/tickets/%ff/messages", cl, map[string]string{"message": "olá"}, nil, 404, "ticket_not_found", ""},
			{"nobody closes a ticket that is not UTF-8", "POST", "/api/v1/customers/ana/tickets/%ff/close", cl, nil, nil, 404, "ticket_not_found", ""},
			{"a customer with a NUL closes nothing", "POST", "/api/v1/customers/%00/tickets/" + number + "/close", cl, nil, nil, 404, "ticket_not_found", ""},
			{"a department that is not UTF-8 has no queue", "GET", "/api/v1/departments/%ff/queue", st, nil, systemtest.AsJoao, 404, "department_not_found", ""},
			{"staff find no ticket that is not UTF-8", "GET", "/api/v1/staff/tickets/%ff", st, nil, systemtest.AsJoao, 404, "ticket_not_found", ""},
			{"staff reveal nothing of a ticket with a NUL", "POST", "/api/v1/staff/tickets/%00/password/reveal", st, map[string]string{"staff": "joao"}, nil, 404, "ticket_not_found", ""},
			{"staff answer no ticket that is not UTF-8", "POST", "/api/v1/staff/tickets/%ff/messages", st, map[string]string{"staff": "joao", "message": "olá"}, nil, 404, "ticket_not_found", ""},
			{"staff change no ticket that is not UTF-8", "POST", "/api/v1/staff/tickets/%ff/status", st, map[string]string{"staff": "joao", "status": "on_hold"}, nil, 404, "ticket_not_found", ""},
			{"a member id that is not UTF-8 has no sessions to revoke", "POST", "/api/v1/staff/members/%ff/sessions/revoke", st, nil, nil, 404, "staff_member_not_found", ""},
			{"an import log filter that is not UTF-8 is refused", "GET", "/api/v1/staff/inbound?outcome=%ff", st, nil, nil, 400, "validation_failed", "outcome"},
			{"an import log filter with a NUL is refused", "GET", "/api/v1/staff/inbound?outcome=%00", st, nil, nil, 400, "validation_failed", "outcome"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var e errorReply
				code := s.Do(t, c.method, c.path, c.token, c.body, &e, c.headers...)
				if code != c.code || e.Error.Code != c.errCode || (c.field != "" && e.Error.Fields[c.field] == "") {
					t.Fatalf("%d %+v; want %d %s on %q", code, e, c.code, c.errCode, c.field)
				}
			})
		}

		// A NUL inside a message is dropped; the rest is kept.
		withNUL := createTicket(t, s, "ana", newTicket(map[string]any{"message": "O Outlook\x00 diz erro."}))
		var d ticketDetail
		if code := s.Do(t, "POST", "/api/v1/customers/ana/tickets/"+withNUL+"/messages", systemtest.APIToken, map[string]string{"message": "Mais\x00 isto."}, &d); code != http.StatusCreated {
			t.Fatalf("customer message with a NUL: %d", code)
		}
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+withNUL+"/messages", systemtest.StaffToken, map[string]string{"staff": "joao", "message": "Veja\x00 agora."}, &d); code != http.StatusCreated {
			t.Fatalf("staff message with a NUL: %d", code)
		}
		var bodies []string
		for _, m := range d.Messages {
			bodies = append(bodies, m.Body)
		}
		if got, want := strings.Join(bodies, " | "), "O Outlook diz erro. | Mais isto. | Veja agora."; got != want {
			t.Fatalf("thread %q, want %q", got, want)
		}
	})
}
