package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage/storagetest"
)

// An Idempotency-Key stands for the whole request it came with: the same request again answers
// the first ticket, and any other (not only another subject) is refused with 409, nothing
// created and nothing of the new request silently dropped.
func TestAnIdempotencyKeyReusedForAnotherRequestIsRefused(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		earlier := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Antes."})
		request := func(change map[string]any) map[string]any {
			b := map[string]any{"subject_id": "email-account-setup", "domain": "example.pt", "message": "O Outlook diz erro.", "password": "segredo-1"}
			for k, v := range change {
				b[k] = v
			}
			return b
		}
		var first created
		if code := s.Do(t, "POST", "/api/v1/customers/ana/tickets", systemtest.APIToken, request(nil), &first, "Idempotency-Key", "k-1"); code != http.StatusAccepted {
			t.Fatalf("first: %d", code)
		}
		cases := []struct {
			name   string
			change map[string]any
			want   int
		}{
			{"the same request again answers the first ticket", nil, http.StatusAccepted},
			{"the same request written differently answers the first ticket", map[string]any{"domain": " Example.PT ", "message": "O Outlook diz erro.\n"}, http.StatusAccepted},
			{"another message is refused", map[string]any{"message": "Afinal é outra coisa."}, http.StatusConflict},
			{"another password is refused", map[string]any{"password": "segredo-2"}, http.StatusConflict},
			{"no password is refused", map[string]any{"password": nil}, http.StatusConflict},
			{"another domain is refused", map[string]any{"domain": "loja-exemplo.com"}, http.StatusConflict},
			{"no domain is refused", map[string]any{"domain": nil}, http.StatusConflict},
			{"a related ticket is refused", map[string]any{"related_ticket": earlier}, http.StatusConflict},
			{"another subject is refused", map[string]any{"subject_id": "billing-invoice"}, http.StatusConflict},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var got created
				var e errorReply
				code := s.Do(t, "POST", "/api/v1/customers/ana/tickets", systemtest.APIToken, request(c.change), &got, "Idempotency-Key", "k-1")
				if code != c.want {
					t.Fatalf("%d, want %d", code, c.want)
				}
				if code == http.StatusAccepted && got.Number != first.Number {
					t.Fatalf("answered ticket %s, want the first, %s", got.Number, first.Number)
				}
				if code == http.StatusConflict {
					s.Do(t, "POST", "/api/v1/customers/ana/tickets", systemtest.APIToken, request(c.change), &e, "Idempotency-Key", "k-1")
					if e.Error.Code != "idempotency_key_reused" {
						t.Fatalf("error %+v, want idempotency_key_reused", e)
					}
				}
			})
		}
		var history struct{ Total int }
		s.Do(t, "GET", "/api/v1/customers/ana/tickets", systemtest.APIToken, nil, &history)
		if history.Total != 2 {
			t.Fatalf("%d tickets, want 2 (the earlier one and the first of the key)", history.Total)
		}
		// Another key is another request.
		var other created
		if code := s.Do(t, "POST", "/api/v1/customers/ana/tickets", systemtest.APIToken, request(map[string]any{"message": "Afinal é outra coisa."}), &other, "Idempotency-Key", "k-2"); code != http.StatusAccepted || other.Number == first.Number {
			t.Fatalf("another key: %d %s", code, other.Number)
		}
	})
}

// The request form carries a key so that sending it twice makes one ticket; a customer who comes
// back to the form after a failure and edits it sends a new request, which is not answered with
// the first one's ticket (losing what they wrote) nor refused.
func TestAFormEditedAfterAFailureIsANewRequest(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			env := startWebOn(t, b, true, nil)
			env.PutCustomer(t, "ana", "pt-PT")
			ana := env.customer(t, "ana")
			form := url.Values{"csrf": {ana.csrf("/tickets")}, "subject_id": {"email-account-setup"}, "idempotency_key": {"one-form"},
				"message": {"Não recebo emails"}, "domain": {"example.pt"}, "password": {"x1"}}
			first := ana.post("/tickets/new", form)
			again := ana.post("/tickets/new", form)
			if first.code != http.StatusSeeOther || again.header.Get("Location") != first.header.Get("Location") {
				t.Fatalf("the same form twice: %d %s, then %d %s", first.code, first.header.Get("Location"), again.code, again.header.Get("Location"))
			}
			form.Set("message", "Não recebo emails desde ontem, nem no telemóvel")
			edited := ana.post("/tickets/new", form)
			if edited.code != http.StatusSeeOther || edited.header.Get("Location") == first.header.Get("Location") {
				t.Fatalf("the edited form: %d %s, want a new ticket beside %s", edited.code, edited.header.Get("Location"), first.header.Get("Location"))
			}
			var d ticketDetail
			s := env.System
			s.Do(t, "GET", "/api/v1/customers/ana/tickets/"+strings.Split(edited.header.Get("Location"), "/")[2], systemtest.APIToken, nil, &d)
			if len(d.Messages) != 1 || d.Messages[0].Body != form.Get("message") {
				t.Fatalf("the new ticket holds %+v", d.Messages)
			}
		})
	}
}

// Files are part of the request an Idempotency-Key is kept with: the same key with other files is
// another request, refused; with the same files, in any order, it answers the first ticket.
func TestAnIdempotencyKeyReusedWithOtherFilesIsRefused(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		var ids []string
		for i := range 3 {
			code, up := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, fmt.Sprintf("erro-%d.png", i), pngFile(1000+i), false)
			if code != http.StatusCreated {
				t.Fatalf("upload %d: %d", i, code)
			}
			ids = append(ids, up.ID)
		}
		request := func(files ...string) map[string]any {
			return map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Vejam os ecrãs.", "attachments": files}
		}
		var first created
		if code := s.Do(t, "POST", "/api/v1/customers/ana/tickets", systemtest.APIToken, request(ids[0], ids[1]), &first, "Idempotency-Key", "f-1"); code != http.StatusAccepted {
			t.Fatalf("first: %d", code)
		}
		var again created
		if code := s.Do(t, "POST", "/api/v1/customers/ana/tickets", systemtest.APIToken, request(ids[1], ids[0]), &again, "Idempotency-Key", "f-1"); code != http.StatusAccepted || again.Number != first.Number {
			t.Fatalf("the same files in another order: %d %s, want 202 %s", code, again.Number, first.Number)
		}
		for name, files := range map[string][]string{"another file": {ids[0], ids[2]}, "one file fewer": {ids[0]}, "no files": nil} {
			var e errorReply
			if code := s.Do(t, "POST", "/api/v1/customers/ana/tickets", systemtest.APIToken, request(files...), &e, "Idempotency-Key", "f-1"); code != http.StatusConflict || e.Error.Code != "idempotency_key_reused" {
				t.Fatalf("%s: %d %+v, want 409 idempotency_key_reused", name, code, e)
			}
		}
		var history struct{ Total int }
		s.Do(t, "GET", "/api/v1/customers/ana/tickets", systemtest.APIToken, nil, &history)
		if history.Total != 1 {
			t.Fatalf("%d tickets, want 1", history.Total)
		}
	})
}
