package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/systemtest"
)

// TestATransferMadeBeforeTheTicketIsProcessedIsNotUndoneByItsRouting transfers a ticket while
// its processing waits (the worker away): when the worker is back, the ticket stays where the
// lead moved it, and its new-ticket notification goes to that department.
func TestATransferMadeBeforeTheTicketIsProcessedIsNotUndoneByItsRouting(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		s.PutMember(t, "rita", false, map[string]string{"email": "lead"})
		s.PutMember(t, "sofia", false, map[string]string{"faturacao": "agent"})
		number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "O Outlook não envia."})
		if tk := mustTicket(t, s, number); tk.ProcessedAt != nil || tk.DepartmentID != "email" {
			t.Fatalf("before processing: %+v", tk)
		}
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/department", systemtest.StaffToken, map[string]any{"department": "faturacao"}, nil, asMember("rita")...); code != 200 {
			t.Fatalf("transfer: %d", code)
		}
		s.StartWorker(t)
		waitRouted(t, s, number)
		if tk := mustTicket(t, s, number); tk.DepartmentID != "faturacao" {
			t.Fatalf("after processing the ticket is in %s, want faturacao where the lead moved it", tk.DepartmentID)
		}
		if code := s.Do(t, "GET", "/api/v1/staff/tickets/"+number, systemtest.StaffToken, nil, nil, asMember("sofia")...); code != 200 {
			t.Errorf("Faturação's member reads the ticket: %d", code)
		}
		if code := s.Do(t, "GET", "/api/v1/staff/tickets/"+number, systemtest.StaffToken, nil, nil, asMember("rita")...); code != 404 {
			t.Errorf("Email's lead still reads the ticket: %d", code)
		}
		tk := mustTicket(t, s, number)
		systemtest.Eventually(t, 15*time.Second, "the new-ticket notification", func() bool {
			for _, m := range s.Sink.Mails() {
				if strings.Contains(string(m.Data), "#"+number) && m.To[0] == tk.DepartmentEmail && strings.Contains(string(m.Data), "O Outlook n") {
					return true
				}
			}
			return false
		})
		for _, m := range s.Sink.Mails() {
			if m.To[0] != "ana@example.pt" && m.To[0] != tk.DepartmentEmail {
				t.Errorf("a mail about the ticket to %v, which no longer holds it", m.To)
			}
		}
	})
}

// TestASearchFollowsATicketToItsNewDepartment: after a transfer, the department it left finds it
// no more, by a word of its thread or a note, and the one it went to does.
func TestASearchFollowsATicketToItsNewDepartment(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, number string) {
		st := systemtest.StaffToken
		if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/notes", st, map[string]any{"message": "Nota ornitorrinco."}, nil, asMember("pedro")...); code != 201 {
			t.Fatalf("note: %d", code)
		}
		found := func(who, q string) int {
			var res struct {
				Results []struct{ Number string } `json:"results"`
			}
			if code := env.Do(t, "GET", "/api/v1/staff/search?q="+q, st, nil, &res, asMember(who)...); code != 200 {
				t.Fatalf("search: %d", code)
			}
			return len(res.Results)
		}
		if found("pedro", "ornitorrinco") != 1 || found("sofia", "ornitorrinco") != 0 {
			t.Fatal("before the transfer")
		}
		if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/department", st, map[string]any{"department": "faturacao"}, nil, asMember("rita")...); code != 200 {
			t.Fatalf("transfer: %d", code)
		}
		for _, q := range []string{"ornitorrinco", "Outlook", number} {
			if found("pedro", q) != 0 || found("rita", q) != 0 {
				t.Errorf("Email still finds %q", q)
			}
			if found("sofia", q) != 1 {
				t.Errorf("Faturação does not find %q", q)
			}
		}
		if r := env.staff(t, "pedro").get("/staff/search?q=ornitorrinco"); strings.Contains(r.body, "/staff/tickets/"+number) {
			t.Error("the console search of Email still lists the ticket")
		}
	})
}

// TestAnAssigneeMovedOutOfTheDepartmentGetsNoMoreOfItsTicketsMail: a member who took a ticket and
// then left its department (their departments changed) no longer has its customer's replies
// emailed to them; the department has them.
func TestAnAssigneeMovedOutOfTheDepartmentGetsNoMoreOfItsTicketsMail(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, number string) {
		st := systemtest.StaffToken
		if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/assignee", st, map[string]any{"member": "pedro"}, nil, asMember("pedro")...); code != 200 {
			t.Fatalf("pedro takes the ticket: %d", code)
		}
		env.PutMember(t, "pedro", false, map[string]string{"faturacao": "agent"})
		if code := env.Do(t, "GET", "/api/v1/staff/tickets/"+number, st, nil, nil, asMember("pedro")...); code != 404 {
			t.Fatalf("pedro still reads the ticket: %d", code)
		}
		const word = "capivaraconfidencial"
		if code := env.Do(t, "POST", "/api/v1/customers/ana/tickets/"+number+"/messages", systemtest.APIToken, map[string]any{"message": "Mais uma coisa: " + word}, nil); code != 201 {
			t.Fatalf("customer reply: %d", code)
		}
		dept := mustTicket(t, env.System, number).DepartmentEmail
		waitMail(t, env.System, dept, "#"+number, word, 15*time.Second)
		for _, m := range env.Sink.Mails() {
			if m.To[0] == "pedro@suporte.example.pt" && strings.Contains(string(m.Data), word) {
				t.Errorf("the customer's reply was emailed to pedro, who left the department")
			}
		}
	})
}
