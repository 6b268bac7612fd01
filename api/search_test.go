package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage"
)

type searchPageJSON struct {
	Results []struct {
		Number     string
		Subject    string
		Status     string
		Snippet    string
		Highlights []storage.Highlight
		UpdatedAt  string `json:"updated_at"`
	}
	Next *string
}

func staffSearch(t *testing.T, s *systemtest.System, query string) (int, searchPageJSON) {
	t.Helper()
	var p searchPageJSON
	code := s.Do(t, "GET", "/api/v1/staff/search?"+query, systemtest.StaffToken, nil, &p, systemtest.AsJoao...)
	return code, p
}

func TestStaffSearchFindsByWordNumberAndEmailAndPages(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		s.PutCustomer(t, "rui", "pt-PT")
		first := createTicket(t, s, "ana", map[string]any{"subject_id": "email-delivery", "domain": nil,
			"message": "A <b>configuração</b> do Outlook falha: <script>alert(1)</script> CONFIGURAÇÃO perdida."})
		second := createTicket(t, s, "ana", map[string]any{"subject_id": "hosting-ssl", "domain": nil, "message": "Configuração do certificado."})
		other := createTicket(t, s, "rui", map[string]any{"subject_id": "domain-dns", "domain": nil, "message": "Os registos MX."})

		code, p := staffSearch(t, s, "q="+url.QueryEscape("configuracao"))
		if code != http.StatusOK || len(p.Results) != 2 || p.Next != nil {
			t.Fatalf("search: %d %+v", code, p)
		}
		var hit = p.Results[0]
		if hit.Number != first {
			hit = p.Results[1]
		}
		if hit.Number != first || hit.Subject != "Problemas no Envio ou Receção de Email" || hit.Status != "open" || hit.UpdatedAt == "" {
			t.Errorf("result %+v", hit)
		}
		r := []rune(hit.Snippet)
		if len(hit.Highlights) == 0 {
			t.Fatalf("no highlights in %q", hit.Snippet)
		}
		for _, h := range hit.Highlights {
			if w := strings.ToLower(string(r[h.Start:h.End])); w != "configuração" {
				t.Errorf("highlight %v is %q", h, w)
			}
		}

		// Paging: one a page, then the second, then none.
		_, p1 := staffSearch(t, s, "limit=1&q=configuracao")
		if len(p1.Results) != 1 || p1.Next == nil {
			t.Fatalf("first page: %+v", p1)
		}
		_, p2 := staffSearch(t, s, "limit=1&q=configuracao&next="+url.QueryEscape(*p1.Next))
		if len(p2.Results) != 1 || p2.Next != nil || p2.Results[0].Number == p1.Results[0].Number {
			t.Errorf("second page: %+v after %+v", p2, p1)
		}

		for q, want := range map[string][]string{
			"q=" + other:                             {other},
			"q=" + url.QueryEscape("#"+second):       {second},
			"q=" + url.QueryEscape("rui@example.pt"): {other},
		} {
			_, p := staffSearch(t, s, q)
			if len(p.Results) != len(want) || p.Results[0].Number != want[0] {
				t.Errorf("%s found %+v, want %v", q, p.Results, want)
			}
		}
	})
}

func TestStaffSearchRefusesBadInputClearlyAndTakesSyntaxAsWords(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-delivery", "domain": nil, "message": `O erro "NEAR" * é estranho.`})
		for q, field := range map[string]string{
			"":         "q",
			"q=":       "q",
			"q=%20%20": "q",
			"q=" + strings.Repeat("a", storage.MaxSearchRunes+1): "q",
			"q=%FF%FE":          "q",
			"q=erro&next=abc":   "next",
			"q=erro&limit=0":    "limit",
			"q=erro&limit=many": "limit",
		} {
			var e struct {
				Error struct {
					Code   string
					Fields map[string]string
				}
			}
			code := s.Do(t, "GET", "/api/v1/staff/search?"+q, systemtest.StaffToken, nil, &e, systemtest.AsJoao...)
			if code != http.StatusBadRequest || e.Error.Code != "validation_failed" || e.Error.Fields[field] == "" {
				t.Errorf("%q: %d %+v, want 400 validation_failed on %s", q, code, e, field)
			}
		}
		for _, q := range []string{`"`, `"NEAR"`, `*`, `NEAR(erro)`, `erro & !`, `it's`, `\`, `erro:*`, "\x00erro"} {
			code, p := staffSearch(t, s, "q="+url.QueryEscape(q))
			if code != http.StatusOK {
				t.Errorf("%q: %d", q, code)
			}
			if strings.Contains(q, "erro") && (len(p.Results) != 1 || p.Results[0].Number != number) {
				t.Errorf("%q found %+v, want %s", q, p.Results, number)
			}
		}
		if code := s.Do(t, "GET", "/api/v1/staff/search?q=erro", systemtest.APIToken, nil, nil); code != http.StatusUnauthorized && code != http.StatusForbidden {
			t.Errorf("the client-area token searched staff tickets: %d", code)
		}
	})
}

func TestAMemberSearchesOnlyTheirDepartments(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		mail := createTicket(t, s, "ana", map[string]any{"subject_id": "email-delivery", "domain": nil, "message": "O tucano voltou ao servidor."})
		bill := createTicket(t, s, "ana", map[string]any{"subject_id": "billing-invoice", "domain": nil, "message": "O tucano está na fatura."})
		s.PutMember(t, "rita", false, map[string]string{"faturacao": "agent"})
		rita := s.MemberToken(t, "rita")
		for q, want := range map[string]string{
			"q=tucano": bill, "q=" + mail: "", "q=" + url.QueryEscape("#"+mail): "", "q=" + bill: bill, "q=ana%40example.pt": bill,
		} {
			var p searchPageJSON
			if code := s.Do(t, "GET", "/api/v1/staff/search?"+q, rita, nil, &p); code != http.StatusOK {
				t.Fatalf("%s: %d", q, code)
			}
			for _, r := range p.Results {
				if r.Number == mail {
					t.Errorf("%s: a member of billing found the email department's %s", q, mail)
				}
			}
			if want != "" && (len(p.Results) != 1 || p.Results[0].Number != want) {
				t.Errorf("%s found %+v, want %s", q, p.Results, want)
			}
		}
		// A note is found by its words, by the members who may read it.
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+bill+"/notes", systemtest.StaffToken, map[string]string{"message": "Cliente pediu desconto ornitorrinco."}, nil, systemtest.AsJoao...); code != http.StatusCreated {
			t.Fatalf("note: %d", code)
		}
		var p searchPageJSON
		if s.Do(t, "GET", "/api/v1/staff/search?q=ornitorrinco", rita, nil, &p); len(p.Results) != 1 || p.Results[0].Number != bill || !strings.Contains(p.Results[0].Snippet, "ornitorrinco") {
			t.Errorf("a note's word found %+v, want %s with the note in the snippet", p.Results, bill)
		}
		// The service token naming nobody searches nothing.
		if code := s.Do(t, "GET", "/api/v1/staff/search?q=tucano", systemtest.StaffToken, nil, nil); code != http.StatusForbidden {
			t.Errorf("the service token alone: %d, want 403", code)
		}
	})
}
