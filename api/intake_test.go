package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/systemtest"
)

const plaintext = "Segr3do-💡-\"aspas\" e espaços"

type created struct {
	Number       string `json:"number"`
	Status       string `json:"status"`
	ContactEmail string `json:"contact_email"`
	URL          string `json:"url"`
}

func TestATicketIsConfirmedByEmailOnceAndItsPasswordIsWrittenNowhere(t *testing.T) {
	systemtest.Each(t, systemtest.Options{}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		body := map[string]any{"subject_id": "email-account-setup", "domain": "example.pt",
			"message": "O Outlook diz \"palavra-passe errada\" ao enviar.", "password": plaintext}
		var first, second created
		if code := s.Do(t, "POST", "/api/v1/customers/ana/tickets", systemtest.APIToken, body, &first, "Idempotency-Key", "k-1"); code != http.StatusAccepted {
			t.Fatalf("create: %d", code)
		}
		if code := s.Do(t, "POST", "/api/v1/customers/ana/tickets", systemtest.APIToken, body, &second, "Idempotency-Key", "k-1"); code != http.StatusAccepted {
			t.Fatalf("replay: %d", code)
		}
		if first.Number == "" || first.Number != second.Number || first.Status != "open" || first.ContactEmail != "ana@example.pt" {
			t.Fatalf("first %+v, second %+v", first, second)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		mails, err := s.Sink.Wait(ctx, 2)
		if err != nil {
			t.Fatalf("waiting for the confirmation and the notification: %v", err)
		}
		var toCustomer, toDept int
		for _, m := range mails {
			raw := string(m.Data)
			switch m.To[0] {
			case "ana@example.pt":
				toCustomer++
				if !strings.Contains(raw, "Pedido #"+first.Number) && !strings.Contains(raw, first.Number) {
					t.Errorf("confirmation does not carry the number")
				}
			case "email@suporte.example.pt":
				toDept++
			default:
				t.Errorf("unexpected recipient %v", m.To)
			}
		}
		if toCustomer != 1 || toDept != 1 {
			t.Fatalf("mails to customer %d, to department %d; want 1 and 1", toCustomer, toDept)
		}

		var hist struct {
			Tickets []struct {
				Number      string `json:"number"`
				Status      string `json:"status"`
				StatusLabel string `json:"status_label"`
			} `json:"tickets"`
			Total int `json:"total"`
		}
		s.Do(t, "GET", "/api/v1/customers/ana/tickets", systemtest.APIToken, nil, &hist)
		if hist.Total != 1 || hist.Tickets[0].StatusLabel != "Aberto" || hist.Tickets[0].Number != first.Number {
			t.Fatalf("history = %+v", hist)
		}
		var detail struct {
			Password   *string                         `json:"password"`
			Department struct{ ID string }             `json:"department"`
			Messages   []struct{ Author, Body string } `json:"messages"`
		}
		s.Do(t, "GET", "/api/v1/customers/ana/tickets/"+first.Number, systemtest.APIToken, nil, &detail)
		if detail.Password == nil || *detail.Password != "provided" || detail.Department.ID != "email" || len(detail.Messages) != 1 {
			t.Fatalf("detail = %+v", detail)
		}

		// A moment for any duplicate to show itself before counting.
		time.Sleep(300 * time.Millisecond)
		if n := s.Sink.Total(); n != 2 {
			t.Fatalf("%d mails sent, want 2 (one ticket, one copy)", n)
		}
		assertNowhere(t, s, plaintext)
	})
}

// assertNowhere looks for a string in every Redis value, every table, every mail and every log line.
func assertNowhere(t *testing.T, s *systemtest.System, needle string) {
	t.Helper()
	ctx := context.Background()
	keys, err := s.Redis.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		var dump string
		switch s.Redis.Type(ctx, k).Val() {
		case "string":
			dump = s.Redis.Get(ctx, k).Val()
		case "hash":
			dump = fmt.Sprint(s.Redis.HGetAll(ctx, k).Val())
		case "list":
			dump = fmt.Sprint(s.Redis.LRange(ctx, k, 0, -1).Val())
		case "set":
			dump = fmt.Sprint(s.Redis.SMembers(ctx, k).Val())
		case "zset":
			dump = fmt.Sprint(s.Redis.ZRange(ctx, k, 0, -1).Val())
		}
		if strings.Contains(dump, needle) {
			t.Errorf("the password is in Redis key %s", k)
		}
	}
	for _, table := range []string{"tickets", "messages", "ticket_passwords", "outbox", "status_changes", "password_reveals", "customers"} {
		rows, err := s.Store.DB().Queryx("SELECT * FROM " + table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			cols, _ := rows.SliceScan()
			for _, c := range cols {
				if strings.Contains(fmt.Sprintf("%s", c), needle) {
					t.Errorf("the password is in table %s", table)
				}
			}
		}
		rows.Close()
	}
	for _, m := range s.Sink.Mails() {
		if strings.Contains(string(m.Data), needle) {
			t.Errorf("the password is in a mail to %v", m.To)
		}
	}
	if strings.Contains(s.Log.String(), needle) {
		t.Errorf("the password is in the logs")
	}
}

// A portal may show the customer what is wrong with the customer's own request as assistd words
// it: a ticket's and a reply's problems are in the customer's language, pt-PT unless English.
// Staff calls keep their English texts.
func TestACustomersOwnRequestIsRefusedInTheCustomersLanguage(t *testing.T) {
	s := systemtest.Start(t, systemtestSQLite(t), systemtest.Options{NoWorker: true})
	s.PutCustomer(t, "ana", "pt-PT")
	s.PutCustomer(t, "rui", "en")
	type apiError struct {
		Error struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		} `json:"error"`
	}
	badTicket := map[string]any{"subject_id": "email-account-setup", "domain": "outro.pt", "message": "Olá", "related_ticket": "12345678"}
	for _, c := range []struct{ customer, message, domain, related string }{
		{"ana", "Há campos por corrigir.", "Escolha um dos seus domínios", "Não encontrámos esse número entre os seus pedidos."},
		{"rui", "Some fields are invalid.", "Choose one of your domains", "That number is not one of your requests."},
	} {
		var e apiError
		code := s.Do(t, "POST", "/api/v1/customers/"+c.customer+"/tickets", systemtest.APIToken, badTicket, &e)
		if code != http.StatusBadRequest || e.Error.Code != "validation_failed" || e.Error.Message != c.message ||
			!strings.HasPrefix(e.Error.Fields["domain"], c.domain) || e.Error.Fields["related_ticket"] != c.related {
			t.Errorf("%s's bad ticket: %d %+v, want 400 validation_failed worded %q", c.customer, code, e.Error, c.message)
		}
	}

	number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Olá"})
	var e apiError
	if code := s.Do(t, "POST", "/api/v1/customers/ana/tickets/"+number+"/messages", systemtest.APIToken,
		map[string]any{"message": " \x00 "}, &e); code != http.StatusBadRequest || e.Error.Message != "Há campos por corrigir." ||
		e.Error.Fields["message"] != "Escreva a mensagem: não pode ficar vazia." {
		t.Errorf("ana's empty reply: %d %+v", code, e.Error)
	}
	e = apiError{}
	if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/messages", systemtest.StaffToken,
		map[string]any{"staff": "joao", "message": " "}, &e); code != http.StatusBadRequest || e.Error.Message != "Some fields are invalid." ||
		e.Error.Fields["message"] != "write the message; it cannot be empty" {
		t.Errorf("staff's empty answer: %d %+v", code, e.Error)
	}
}

func TestBadInputIsRefusedWithTheFieldAtFault(t *testing.T) {
	s := systemtest.Start(t, systemtestSQLite(t), systemtest.Options{NoWorker: true})
	s.PutCustomer(t, "ana", "pt-PT")
	s.PutCustomer(t, "rui", "en")
	cases := []struct {
		name  string
		body  any
		field string
	}{
		{"an unknown subject", map[string]any{"subject_id": "nope", "domain": nil, "message": "x"}, "subject_id"},
		{"a domain the customer does not own", map[string]any{"subject_id": "email-account-setup", "domain": "other.pt", "message": "x"}, "domain"},
		{"an empty message", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "   "}, "message"},
		{"an oversized message", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": strings.Repeat("a", 20001)}, "message"},
		{"an oversized password", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "x", "password": strings.Repeat("p", 1025)}, "password"},
		{"a related ticket of nobody", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "x", "related_ticket": "12345678"}, "related_ticket"},
		{"malformed JSON", `{"subject_id": "email-account-setup",`, "body"},
		{"a domain that is not a string", map[string]any{"subject_id": "email-account-setup", "domain": 5, "message": "x"}, "domain"},
		{"a domain given as a list", map[string]any{"subject_id": "email-account-setup", "domain": []string{"example.pt"}, "message": "x"}, "domain"},
		{"a password that is not a string", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "x", "password": 1234}, "password"},
		{"a message that is not a string", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": []string{"x"}}, "message"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e struct {
				Error struct {
					Code   string            `json:"code"`
					Fields map[string]string `json:"fields"`
				} `json:"error"`
			}
			code := s.Do(t, "POST", "/api/v1/customers/ana/tickets", systemtest.APIToken, c.body, &e)
			if code != http.StatusBadRequest || e.Error.Code != "validation_failed" || e.Error.Fields[c.field] == "" {
				t.Fatalf("got %d %+v, want 400 validation_failed on %s", code, e, c.field)
			}
		})
	}
	var e struct{ Error struct{ Code string } }
	if code := s.Do(t, "POST", "/api/v1/customers/nobody/tickets", systemtest.APIToken, map[string]any{"subject_id": "email-account-setup", "message": "x"}, &e); code != 404 || e.Error.Code != "customer_not_found" {
		t.Fatalf("unknown customer: %d %+v", code, e)
	}
	if code := s.Do(t, "GET", "/api/v1/customers/ana/tickets", "wrong", nil, &e); code != 401 || e.Error.Code != "unauthorized" {
		t.Fatalf("wrong token: %d", code)
	}
	if code := s.Do(t, "GET", "/api/v1/customers/ana/tickets", "", nil, nil); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code := s.Do(t, "GET", "/api/v1/departments", systemtest.APIToken, nil, &e); code != 403 || e.Error.Code != "forbidden" {
		t.Fatalf("client token on a staff path: %d", code)
	}
	number := createTicket(t, s, "ana", map[string]any{"subject_id": "billing-invoice", "domain": nil, "message": "Fatura em duplicado"})
	if code := s.Do(t, "GET", "/api/v1/customers/rui/tickets/"+number, systemtest.APIToken, nil, &e); code != 404 {
		t.Fatalf("another customer's ticket: %d, want 404", code)
	}
	if code := s.Do(t, "GET", "/api/v1/customers/rui/tickets/00000000", systemtest.APIToken, nil, &e); code != 404 {
		t.Fatalf("a ticket that does not exist: %d, want 404", code)
	}
}

func TestSubjectSearchIgnoresCaseAndAccentsAndRanksTheBestFirst(t *testing.T) {
	s := systemtest.Start(t, systemtestSQLite(t), systemtest.Options{NoWorker: true})
	for q, want := range map[string]string{
		"configuracao email": "Configuração Conta de Email",
		"CONTA EMAIL":        "Configuração Conta de Email",
		"fatura":             "Faturação e Pagamentos",
		"domínio":            "Transferência de Domínio",
	} {
		var out struct {
			Subjects []struct {
				Name       string
				Department struct{ ID, Name string }
			}
		}
		s.Do(t, "GET", "/api/v1/subjects?q="+strings.ReplaceAll(q, " ", "+"), systemtest.APIToken, nil, &out)
		if len(out.Subjects) == 0 || out.Subjects[0].Name != want || out.Subjects[0].Department.Name == "" {
			t.Errorf("q=%q: got %+v, want %q first", q, out.Subjects, want)
		}
	}
}

func TestTheHistoryIsNewestFirstPagedFilteredAndLabelledInTheCustomersLanguage(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "rui", "en")
		s.PutCustomer(t, "ana", "pt-PT")
		var numbers []string
		for _, m := range []string{"first", "second", "third"} {
			numbers = append(numbers, createTicket(t, s, "rui", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": m}))
			time.Sleep(2 * time.Millisecond) // distinct creation times
		}
		createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "someone else's"})
		if _, err := s.API.CustomerClose(context.Background(), "rui", numbers[0]); err != nil {
			t.Fatal(err)
		}
		type page struct {
			Tickets []struct {
				Number      string `json:"number"`
				Status      string `json:"status"`
				StatusLabel string `json:"status_label"`
				Subject     struct{ ID, Name string }
				CreatedAt   time.Time `json:"created_at"`
			} `json:"tickets"`
			Page    int `json:"page"`
			PerPage int `json:"per_page"`
			Total   int `json:"total"`
		}
		var p page
		if code := s.Do(t, "GET", "/api/v1/customers/rui/tickets?page=1&per_page=2", systemtest.APIToken, nil, &p); code != http.StatusOK ||
			p.Total != 3 || p.Page != 1 || p.PerPage != 2 || len(p.Tickets) != 2 || p.Tickets[0].Number != numbers[2] || p.Tickets[1].Number != numbers[1] {
			t.Fatalf("first page: %d %+v", code, p)
		}
		if p.Tickets[0].StatusLabel != "Open" || p.Tickets[0].Subject.ID != "email-account-setup" || p.Tickets[0].Subject.Name == "" ||
			p.Tickets[0].CreatedAt.Location() != time.UTC {
			t.Fatalf("an entry in English: %+v", p.Tickets[0])
		}
		p = page{}
		if s.Do(t, "GET", "/api/v1/customers/rui/tickets?page=2&per_page=2", systemtest.APIToken, nil, &p); len(p.Tickets) != 1 || p.Tickets[0].Number != numbers[0] ||
			p.Tickets[0].StatusLabel != "Closed" {
			t.Fatalf("second page: %+v", p)
		}
		p = page{}
		if s.Do(t, "GET", "/api/v1/customers/rui/tickets?status=closed", systemtest.APIToken, nil, &p); p.Total != 1 || len(p.Tickets) != 1 || p.Tickets[0].Number != numbers[0] {
			t.Fatalf("closed only: %+v", p)
		}
		for _, q := range []string{"status=done", "page=0", "page=x", "per_page=101", "per_page=0"} {
			var e errorReply
			field, _, _ := strings.Cut(q, "=")
			if code := s.Do(t, "GET", "/api/v1/customers/rui/tickets?"+q, systemtest.APIToken, nil, &e); code != 400 || e.Error.Fields[field] == "" {
				t.Fatalf("?%s: %d %+v", q, code, e)
			}
		}
		var e errorReply
		if code := s.Do(t, "GET", "/api/v1/customers/nobody/tickets", systemtest.APIToken, nil, &e); code != 404 || e.Error.Code != "customer_not_found" {
			t.Fatalf("an unknown customer's history: %d %+v", code, e)
		}
	})
}

// A request that leaves the domain out is the same as one that says null: no domain.
func TestADomainLeftOutMeansNoDomain(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "message": "Ajuda."})
		var got struct {
			Domain *string `json:"domain"`
		}
		if code := s.Do(t, "GET", "/api/v1/customers/ana/tickets/"+number, systemtest.APIToken, nil, &got); code != http.StatusOK || got.Domain != nil {
			t.Fatalf("%d, domain %v; want 200 and null", code, got.Domain)
		}
	})
}
