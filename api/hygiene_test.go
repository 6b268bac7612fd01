package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
)

// Every JSON endpoint the document lists refuses a body that is not JSON with 415, before it
// stores anything; the document says so for each of them.
func TestEveryJSONEndpointRefusesABodyThatIsNotJSON(t *testing.T) {
	s := systemtest.Start(t, systemtestSQLite(t), systemtest.Options{NoWorker: true})
	s.PutCustomer(t, "ana", "pt-PT")
	number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Ajuda."})
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	params := strings.NewReplacer("{cid}", "ana", "{number}", number, "{name}", "joao", "{sid}", "joao", "{dept}", "email")
	checked := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody == nil || op.RequestBody.Value.Content.Get("application/json") == nil {
				continue
			}
			checked++
			if op.Responses.Status(http.StatusUnsupportedMediaType) == nil {
				t.Errorf("%s %s: the document does not say it answers 415", method, path)
			}
			token := systemtest.APIToken
			if strings.HasPrefix(path, "/api/v1/staff/") || strings.HasPrefix(path, "/api/v1/departments") {
				token = systemtest.StaffToken
			}
			for _, contentType := range []string{"text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1"} {
				var e errorReply
				code := s.Do(t, method, params.Replace(path), token, `{"message": "olá", "staff": "joao"}`, &e, "Content-Type", contentType)
				if code != http.StatusUnsupportedMediaType || e.Error.Code != "unsupported_media_type" {
					t.Errorf("%s %s with %s: %d %+v, want 415 unsupported_media_type", method, path, contentType, code, e)
				}
			}
		}
	}
	if checked < 6 {
		t.Fatalf("only %d JSON endpoints in the document", checked)
	}
	var d ticketDetail
	s.Do(t, "GET", "/api/v1/customers/ana/tickets/"+number, systemtest.APIToken, nil, &d)
	if len(d.Messages) != 1 || d.Status != "open" {
		t.Fatalf("a refused body changed the ticket: %+v", d)
	}
}

// A misspelt field, or anything after the JSON value, is refused with the field named and
// nothing stored, on every JSON endpoint; the fields the contract names (the old "staff" of staff
// bodies included) are known.
func TestUnknownFieldsAndTrailingDataAreRefusedAndNothingIsStored(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Ajuda.", "password": "p4ss"})
		cl, st := systemtest.APIToken, systemtest.StaffToken
		endpoints := []struct {
			name, method, path, token string
			valid                     map[string]any
		}{
			{"a customer", "PUT", "/api/v1/customers/ana", cl, map[string]any{"name": "Ana Silva", "email": "ana@example.pt", "language": "pt-PT", "domains": []string{"example.pt"}}},
			{"a new ticket", "POST", "/api/v1/customers/ana/tickets", cl, map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Outra.", "password": "x", "related_ticket": number}},
			{"a customer's addition", "POST", "/api/v1/customers/ana/tickets/" + number + "/messages", cl, map[string]any{"message": "Mais."}},
			{"a reveal", "POST", "/api/v1/staff/tickets/" + number + "/password/reveal", st, map[string]any{"staff": "joao"}},
			{"a staff answer", "POST", "/api/v1/staff/tickets/" + number + "/messages", st, map[string]any{"staff": "joao", "message": "Veja.", "status": "answered"}},
			{"a status change", "POST", "/api/v1/staff/tickets/" + number + "/status", st, map[string]any{"staff": "joao", "status": "in_progress"}},
		}
		for _, ep := range endpoints {
			valid, _ := json.Marshal(ep.valid)
			misspelt := map[string]any{"pasword": "segredo"}
			for k, v := range ep.valid {
				misspelt[k] = v
			}
			unknown, _ := json.Marshal(misspelt)
			cases := []struct {
				name, body string
				field      string
			}{
				{"a misspelt field is named", string(unknown), "pasword"},
				{"garbage after the value is refused", string(valid) + " GARBAGE", "body"},
				{"a second object after the first is refused", string(valid) + string(valid), "body"},
				{"a second value after a newline is refused", string(valid) + "\n1", "body"},
			}
			for _, c := range cases {
				t.Run(ep.name+": "+c.name, func(t *testing.T) {
					before := storedState(t, s, number)
					var e errorReply
					code := s.Do(t, ep.method, ep.path, ep.token, c.body, &e)
					if code != http.StatusBadRequest || e.Error.Code != "validation_failed" || e.Error.Fields[c.field] == "" {
						t.Fatalf("%d %+v, want 400 validation_failed naming %q", code, e, c.field)
					}
					if c.field == "pasword" && e.Error.Fields[c.field] != "unknown field" {
						t.Fatalf("fields.pasword = %q, want \"unknown field\"", e.Error.Fields[c.field])
					}
					if after := storedState(t, s, number); after != before {
						t.Fatalf("a refused request changed what is stored:\n%s\n%s", before, after)
					}
				})
			}
		}
		// The valid bodies, "staff" included, are still taken.
		for _, ep := range endpoints {
			if code := s.Do(t, ep.method, ep.path, ep.token, ep.valid, nil); code >= 300 {
				t.Errorf("%s: the valid body answered %d", ep.name, code)
			}
		}
	})
}

// storedState is what a refused request must not change: the customer, their tickets, and the
// thread, status and reveals of one ticket.
func storedState(t *testing.T, s *systemtest.System, number string) string {
	t.Helper()
	ctx := context.Background()
	c, err := s.Store.Customer(ctx, "ana")
	if err != nil {
		t.Fatal(err)
	}
	var history struct{ Total int }
	s.Do(t, "GET", "/api/v1/customers/ana/tickets", systemtest.APIToken, nil, &history)
	var d json.RawMessage
	s.Do(t, "GET", "/api/v1/staff/tickets/"+number, systemtest.StaffToken, nil, &d, systemtest.AsJoao...)
	out, _ := json.Marshal([]any{c.Name, c.Email, c.Domains, history.Total, d})
	return string(out)
}
