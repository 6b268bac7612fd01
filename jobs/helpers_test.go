package jobs_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage"
)

// createTicket creates a customer's ticket through the API and returns it as stored.
func createTicket(t *testing.T, s *systemtest.System, cid string, body map[string]any) storage.Ticket {
	t.Helper()
	var created struct{ Number string }
	if code := s.Do(t, "POST", "/api/v1/customers/"+cid+"/tickets", systemtest.APIToken, body, &created); code != http.StatusAccepted {
		t.Fatalf("create: %d", code)
	}
	tk, err := s.Store.TicketByNumber(context.Background(), storage.ReachAll(), created.Number)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// newTicket creates a ticket of Ana's, with a password or none (nil).
func newTicket(t *testing.T, s *systemtest.System, password any) storage.Ticket {
	t.Helper()
	return createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Olá", "password": password})
}

// anasTicket creates a customer and a ticket of hers through the API.
func anasTicket(t *testing.T, s *systemtest.System) storage.Ticket {
	t.Helper()
	s.PutCustomer(t, "ana", "pt-PT")
	return createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Olá"})
}
