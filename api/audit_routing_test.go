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
