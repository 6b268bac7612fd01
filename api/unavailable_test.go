package api_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/faulttest"
	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
)

// With Postgres out of reach, every endpoint that needs the database answers 503
// database_unavailable, quickly, as the OpenAPI document says, and changes nothing.
func TestEveryEndpointAnswers503AsDocumentedAndChangesNothingWhilePostgresIsDown(t *testing.T) {
	var pg storagetest.Backend
	for _, b := range storagetest.Backends(t) {
		if b.Name == "postgres" {
			pg = b
		}
	}
	if pg.URL == "" {
		t.Skip("set ASSISTD_TEST_DATABASE_URL to run against Postgres")
	}
	s := systemtest.Start(t, pg, systemtest.Options{NoWorker: true})
	s.PutCustomer(t, "ana", "pt-PT")
	number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Ajuda.", "password": "s3gredo"})

	// The server under test reaches the same database through a proxy that can be cut.
	u, err := url.Parse(pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := faulttest.StartProxy(t, u.Host)
	u.Host = proxy.Addr()
	store, err := storage.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s.HTTP.Config.Handler = api.New(api.Config{APIToken: systemtest.APIToken, StaffToken: systemtest.StaffToken, SecretTTL: time.Hour},
		api.Deps{Store: store, Keys: s.Keys, Composer: s.Composer, Enqueuer: s.Deps.Enqueuer, Log: s.Deps.Log})
	c := newContract(t, s)
	c.member = "joao" // reads name the member they act as; finding them needs the database too
	proxy.Cut()

	count := func() (n int) {
		t.Helper()
		if err := s.Store.DB().Get(&n, `SELECT (SELECT COUNT(*) FROM tickets) + (SELECT COUNT(*) FROM messages) + (SELECT COUNT(*) FROM status_changes)
			+ (SELECT COUNT(*) FROM password_reveals) + (SELECT COUNT(*) FROM outbox) + (SELECT COUNT(*) FROM session_cutoffs)`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	cl, st := systemtest.APIToken, systemtest.StaffToken
	for _, r := range []struct {
		method, path, token string
		body                any
	}{
		{"PUT", "/api/v1/customers/ana", cl, map[string]any{"name": "Ana", "email": "ana@example.pt"}},
		{"GET", "/api/v1/subjects", cl, nil},
		{"POST", "/api/v1/customers/ana/tickets", cl, map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Ajuda."}},
		{"GET", "/api/v1/customers/ana/tickets", cl, nil},
		{"GET", "/api/v1/customers/ana/tickets/" + number, cl, nil},
		{"POST", "/api/v1/customers/ana/tickets/" + number + "/messages", cl, map[string]any{"message": "Mais isto."}},
		{"POST", "/api/v1/customers/ana/tickets/" + number + "/close", cl, nil},
		{"POST", "/api/v1/customers/ana/sessions/revoke", cl, nil},
		{"GET", "/api/v1/departments", st, nil},
		{"GET", "/api/v1/departments/email/queue", st, nil},
		{"GET", "/api/v1/staff/tickets/" + number, st, nil},
		{"POST", "/api/v1/staff/tickets/" + number + "/password/reveal", st, map[string]any{"staff": "joao"}},
		{"POST", "/api/v1/staff/tickets/" + number + "/messages", st, map[string]any{"staff": "joao", "message": "Veja agora."}},
		{"POST", "/api/v1/staff/tickets/" + number + "/status", st, map[string]any{"staff": "joao", "status": "on_hold"}},
		{"POST", "/api/v1/staff/members/joao/sessions/revoke", st, nil},
		{"GET", "/api/v1/staff/inbound", st, nil},
		{"GET", "/api/v1/staff/emails/failed", st, nil},
		{"GET", "/readyz", "", nil},
	} {
		var e errorReply
		t0 := time.Now()
		code := c.do(r.method, r.path, r.token, r.body, &e)
		if code != http.StatusServiceUnavailable || (r.path != "/readyz" && e.Error.Code != "database_unavailable") {
			t.Errorf("%s %s while Postgres is down: %d %+v, want 503 database_unavailable", r.method, r.path, code, e)
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Errorf("%s %s took %s to answer", r.method, r.path, d)
		}
	}
	if after := count(); after != before {
		t.Fatalf("%d rows before the outage and %d after: a request changed something", before, after)
	}
}
