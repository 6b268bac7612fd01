package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage/storagetest"
	"github.com/assistd/assistd/tickets"
)

// Tickets whose closing notice cannot be built stay answered and are logged, however many of them
// come first: the sweep goes past them and closes the tickets behind them.
func TestTheAutoCloseSweepGoesPastMoreFailuresThanOnePage(t *testing.T) {
	s := systemtest.Start(t, storagetest.Backends(t)[0], systemtest.Options{NoWorker: true, AutoCloseAfter: time.Hour})
	ctx := context.Background()
	s.PutCustomer(t, "ana", "pt-PT")
	s.PutCustomer(t, "rui", "pt-PT")
	create := func(cid string) int64 {
		return createTicket(t, s, cid, map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Olá"}).ID
	}
	now := time.Now().UTC()
	answered := func(id int64, at time.Time) {
		if _, err := s.Store.DB().Exec(s.Store.DB().Rebind(`UPDATE tickets SET status = 'answered', updated_at = ? WHERE id = ?`), at, id); err != nil {
			t.Fatal(err)
		}
	}
	// Rui's address has gone bad behind the API's back: no notice to him can be composed.
	const failing = 201 // more than one page of candidates
	for i := range failing {
		answered(create("rui"), now.Add(-3*time.Hour).Add(time.Duration(i)*time.Millisecond))
	}
	if _, err := s.Store.DB().Exec(s.Store.DB().Rebind(`UPDATE customers SET email = ? WHERE id = ?`), "not an address", "rui"); err != nil {
		t.Fatal(err)
	}
	behind := create("ana")
	answered(behind, now.Add(-2*time.Hour))

	s.Deps.Now = func() time.Time { return now }
	for range 2 {
		if err := s.Deps.HandleAutoClose(ctx, nil); err != nil {
			t.Fatal(err)
		}
		tk, err := s.Store.TicketByID(ctx, behind)
		if err != nil || tk.Status != tickets.Closed {
			t.Fatalf("the ticket behind %d failures is %s (%v), want closed", failing, tk.Status, err)
		}
	}
	var still int
	if err := s.Store.DB().Get(&still, `SELECT COUNT(*) FROM tickets WHERE status = 'answered'`); err != nil || still != failing {
		t.Fatalf("%d tickets still answered (%v), want the %d whose notice failed", still, err, failing)
	}
}
