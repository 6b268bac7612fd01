package api_test

import (
	"net/http"
	"testing"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage/storagetest"
)

func systemtestSQLite(t *testing.T) storagetest.Backend { return storagetest.Backends(t)[0] }

// createTicket creates a customer's ticket through the API and returns its number.
func createTicket(t *testing.T, s *systemtest.System, cid string, body map[string]any) string {
	t.Helper()
	var c created
	if code := s.Do(t, "POST", "/api/v1/customers/"+cid+"/tickets", systemtest.APIToken, body, &c); code != http.StatusAccepted {
		t.Fatalf("create: %d", code)
	}
	return c.Number
}
