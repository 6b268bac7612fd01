package api_test

import (
	"context"
	"encoding/json"
	"github.com/assistd/assistd/storage"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage/storagetest"
)

// A customer whose every trace is looked for after their erasure, and one who must stay whole.
var (
	erased = rightsCustomer{id: "bquaresma", name: "Beatriz Quaresma", email: "beatriz.quaresma@quaresma-loja.pt",
		domain: "quaresma-loja.pt", words: []string{"zumbidoazulado", "girassolpalido"}, password: "Segredo-Quaresma-77"}
	kept = rightsCustomer{id: "cventura", name: "Carlos Ventura", email: "carlos@ventura-hosting.net",
		domain: "ventura-hosting.net", words: []string{"trovoadaverde", "ameixaroxa"}, password: "Segredo-Ventura-99"}
)

type rightsCustomer struct {
	id, name, email, domain, password string
	words                             []string
}

// traces are the strings that name the customer.
func (c rightsCustomer) traces() []string {
	return append([]string{c.name, c.email, c.domain, c.password}, c.words...)
}

// seed gives the customer two tickets (one with a password a member of staff revealed, answered
// by staff and added to by the customer) and returns their numbers once processed.
func (c rightsCustomer) seed(t *testing.T, s *systemtest.System) []string {
	t.Helper()
	if code := s.Do(t, "PUT", "/api/v1/customers/"+c.id, systemtest.APIToken, map[string]any{"name": c.name, "email": c.email,
		"language": "pt-PT", "domains": []string{c.domain}}, nil); code != http.StatusOK {
		t.Fatalf("put %s: %d", c.id, code)
	}
	first := createTicket(t, s, c.id, map[string]any{"subject_id": "hosting-cpanel", "domain": c.domain,
		"message": "O painel diz " + c.words[0], "password": c.password})
	second := createTicket(t, s, c.id, map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Outra coisa"})
	if code, _ := reveal(t, s, first, "joao"); code != http.StatusOK {
		t.Fatalf("reveal: %d", code)
	}
	if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+first+"/messages", systemtest.StaffToken,
		map[string]any{"staff": "joao", "message": "Resposta sobre " + c.words[0]}, nil); code != http.StatusCreated {
		t.Fatalf("staff answer: %d", code)
	}
	if code := s.Do(t, "POST", "/api/v1/customers/"+c.id+"/tickets/"+first+"/messages", systemtest.APIToken,
		map[string]any{"message": "Ainda " + c.words[1]}, nil); code != http.StatusCreated {
		t.Fatalf("customer reply: %d", code)
	}
	systemtest.Eventually(t, 10*time.Second, "the emails sent", func() bool {
		var pending int
		_ = s.Store.DB().Get(&pending, `SELECT COUNT(*) FROM outbox WHERE state = 'pending' OR ticket_id IN (SELECT id FROM tickets WHERE processed_at IS NULL)`)
		return pending == 0
	})
	return []string{first, second}
}

type exported struct {
	Customer struct {
		ID, Name, Email string
		Domains         []string
	}
	Tickets []struct {
		Number        string
		Domain        *string
		Password      *string
		PasswordViews []time.Time `json:"password_views"`
		Messages      []struct{ Author, Body string }
		StatusHistory []struct{ To, Actor string } `json:"status_history"`
		Emails        []struct {
			Kind string
			To   *string
		}
	}
}

func TestACustomersExportHoldsTheirDataAndNoOneElses(t *testing.T) {
	systemtest.Each(t, systemtest.Options{}, func(t *testing.T, s *systemtest.System) {
		numbers := erased.seed(t, s)
		kept.seed(t, s)
		code, raw := systemtest.Request(systemtest.APIToken, "GET", s.HTTP.URL+"/api/v1/customers/"+erased.id+"/export", nil)
		if code != http.StatusOK {
			t.Fatalf("export: %d %s", code, raw)
		}
		var e exported
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("the export is not one JSON document: %v\n%s", err, raw)
		}
		doc := string(raw)
		for _, want := range erased.traces()[:3] {
			if !strings.Contains(doc, want) {
				t.Errorf("the export lacks %q", want)
			}
		}
		for _, w := range erased.words {
			if !strings.Contains(doc, w) {
				t.Errorf("the export lacks the message word %q", w)
			}
		}
		if strings.Contains(doc, erased.password) {
			t.Error("the export holds the password")
		}
		for _, other := range kept.traces() {
			if strings.Contains(doc, other) {
				t.Errorf("the export holds another customer's %q", other)
			}
		}
		if len(e.Tickets) != 2 || e.Tickets[0].Number != numbers[0] || e.Tickets[1].Number != numbers[1] {
			t.Fatalf("tickets %+v, want %v oldest first", e.Tickets, numbers)
		}
		first := e.Tickets[0]
		authors := ""
		for _, m := range first.Messages {
			authors += m.Author + " "
		}
		if authors != "customer staff customer " {
			t.Errorf("messages by %q, want the customer's, the staff answer, the customer's", authors)
		}
		if len(first.PasswordViews) != 1 || first.Password == nil || *first.Password != "provided" {
			t.Errorf("password %v viewed at %v, want provided and one view", first.Password, first.PasswordViews)
		}
		if len(first.StatusHistory) < 3 {
			t.Errorf("status history %+v, want creation, answer and reply", first.StatusHistory)
		}
		kinds := map[string]string{}
		for _, m := range first.Emails {
			if m.To != nil {
				kinds[m.Kind] = *m.To
			}
			if slices.Contains(storage.StaffEmailKinds, m.Kind) || m.To == nil || *m.To != erased.email {
				t.Errorf("the export lists an email to someone else: %s to %v", m.Kind, m.To)
			}
		}
		if kinds["confirmation"] != erased.email || kinds["update"] != erased.email {
			t.Errorf("emails %v, want the confirmation and the update to %s", kinds, erased.email)
		}
		if code := s.Do(t, "GET", "/api/v1/customers/nobody/export", systemtest.APIToken, nil, nil); code != http.StatusNotFound {
			t.Errorf("an unknown customer's export: %d, want 404", code)
		}
		if code := s.Do(t, "GET", "/api/v1/customers/"+erased.id+"/export", systemtest.StaffToken, nil, nil); code != http.StatusForbidden {
			t.Errorf("the export with the staff token: %d, want 403", code)
		}
	})
}

// assertErased checks a full dump of the database: nothing of the erased customer, the other
// whole, the erased tickets still there as anonymous rows.
func assertErased(t *testing.T, s *systemtest.System, numbers []string) {
	t.Helper()
	dump := storagetest.Dump(t, s.Store)
	for _, trace := range erased.traces() {
		if strings.Contains(strings.ToLower(dump), strings.ToLower(trace)) {
			t.Errorf("the database still holds %q", trace)
		}
	}
	for _, trace := range append([]string{kept.name, kept.email, kept.domain}, kept.words...) {
		if !strings.Contains(dump, trace) {
			t.Errorf("the other customer's %q is gone", trace)
		}
	}
	for _, n := range numbers {
		var status string
		if err := s.Store.DB().Get(&status, s.Store.DB().Rebind(`SELECT status FROM tickets WHERE number = ? AND customer_id = '-erased-'`), n); err != nil {
			t.Errorf("ticket %s is not kept as an anonymous row: %v", n, err)
		}
	}
}

func erasureDone(s *systemtest.System) bool {
	var open int
	_ = s.Store.DB().Get(&open, `SELECT COUNT(*) FROM erasures WHERE completed_at IS NULL`)
	return open == 0
}

func TestAnErasedCustomerIsGoneAtOnceAndFromTheWholeDatabase(t *testing.T) {
	systemtest.Each(t, systemtest.Options{}, func(t *testing.T, s *systemtest.System) {
		numbers := erased.seed(t, s)
		kept.seed(t, s)
		var out struct {
			Erased map[string]int `json:"erased"`
		}
		if code := s.Do(t, "DELETE", "/api/v1/customers/"+erased.id, systemtest.APIToken, nil, &out); code != http.StatusOK {
			t.Fatalf("erase: %d", code)
		}
		if e := out.Erased; e["tickets"] != 2 || e["messages"] != 4 || e["emails"] < 5 {
			t.Errorf("erased %v, want 2 tickets, 4 messages and their emails", e)
		}
		for _, path := range []string{"/api/v1/customers/" + erased.id + "/tickets", "/api/v1/customers/" + erased.id + "/export",
			"/api/v1/customers/" + erased.id + "/tickets/" + numbers[0]} {
			var e struct{ Error struct{ Code string } }
			if code := s.Do(t, "GET", path, systemtest.APIToken, nil, &e); code != http.StatusNotFound {
				t.Errorf("GET %s after the erasure: %d, want 404", path, code)
			}
		}
		if code := s.Do(t, "GET", "/api/v1/staff/tickets/"+numbers[0], systemtest.StaffToken, nil, nil, systemtest.AsJoao...); code != http.StatusNotFound {
			t.Errorf("staff view of an erased ticket: %d, want 404", code)
		}
		if code := s.Do(t, "DELETE", "/api/v1/customers/"+erased.id, systemtest.APIToken, nil, nil); code != http.StatusNotFound {
			t.Errorf("a second erasure: %d, want 404", code)
		}
		if code := s.Do(t, "GET", "/api/v1/customers/-erased-/tickets", systemtest.APIToken, nil, nil); code != http.StatusNotFound {
			t.Errorf("the anonymous owner's history: %d, want 404", code)
		}
		systemtest.Eventually(t, 10*time.Second, "the erasure carried out", func() bool { return erasureDone(s) })
		assertErased(t, s, numbers)

		var c struct {
			Name    string
			Domains []string
		}
		if code := s.Do(t, "PUT", "/api/v1/customers/"+erased.id, systemtest.APIToken, map[string]any{"name": "Nova Pessoa", "email": "nova@example.pt"}, &c); code != http.StatusOK {
			t.Fatalf("put after erasure: %d", code)
		}
		var h struct{ Total int }
		s.Do(t, "GET", "/api/v1/customers/"+erased.id+"/tickets", systemtest.APIToken, nil, &h)
		if c.Name != "Nova Pessoa" || len(c.Domains) != 0 || h.Total != 0 {
			t.Errorf("a new customer under the erased id: %+v with %d tickets, want an empty one", c, h.Total)
		}
	})
}

func TestAnErasureCutShortAfterItsFirstBatchIsCompletedByTheSweep(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.StartWorker(t)
		numbers := erased.seed(t, s)
		kept.seed(t, s)
		s.StopWorker()
		ctx := context.Background()
		// Recorded, as the API does, but its task lost: the process died after one batch.
		e, err := s.Store.EraseCustomer(ctx, erased.id)
		if err != nil {
			t.Fatal(err)
		}
		if done, err := s.Store.EraseBatch(ctx, e.ID, 1); err != nil || done {
			t.Fatalf("first batch: done %v, %v", done, err)
		}
		if erasureDone(s) {
			t.Fatal("the erasure completed in one batch of one ticket")
		}
		if err := s.Deps.HandleErasureSweep(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if !erasureDone(s) {
			t.Fatal("the sweep left the erasure unfinished")
		}
		assertErased(t, s, numbers)
	})
}

func TestTheRetentionSweepErasesOnlyTicketsClosedLongerAgo(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.StartWorker(t)
		numbers := kept.seed(t, s)
		third := createTicket(t, s, kept.id, map[string]any{"subject_id": "hosting-cpanel", "domain": nil, "message": "Recente e fechado"})
		for _, n := range []string{numbers[0], third} {
			if code := s.Do(t, "POST", "/api/v1/customers/"+kept.id+"/tickets/"+n+"/close", systemtest.APIToken, nil, nil); code != http.StatusOK {
				t.Fatalf("close: %d", code)
			}
		}
		s.StopWorker()
		db := s.Store.DB()
		old := time.Now().Add(-400 * 24 * time.Hour).UTC()
		if _, err := db.Exec(db.Rebind(`UPDATE tickets SET updated_at = ? WHERE number = ?`), old, numbers[0]); err != nil {
			t.Fatal(err)
		}
		s.Deps.RetentionClosed = 365 * 24 * time.Hour
		if err := s.Deps.HandleErasureSweep(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		owner := func(n string) string {
			var c string
			_ = db.Get(&c, db.Rebind(`SELECT customer_id FROM tickets WHERE number = ?`), n)
			return c
		}
		if got := owner(numbers[0]); got != "-erased-" {
			t.Errorf("the ticket closed 400 days ago belongs to %q, want it erased", got)
		}
		if got, got3 := owner(numbers[1]), owner(third); got != kept.id || got3 != kept.id {
			t.Errorf("an open ticket and one closed today belong to %q and %q, want them kept", got, got3)
		}
		dump := storagetest.Dump(t, s.Store)
		if strings.Contains(dump, kept.words[0]) || strings.Contains(dump, kept.words[1]) {
			t.Error("the words of the old ticket's messages are still stored")
		}
		if !strings.Contains(dump, "Recente e fechado") || !strings.Contains(dump, kept.email) {
			t.Error("the recent ticket's message or the customer record is gone")
		}
	})
}
