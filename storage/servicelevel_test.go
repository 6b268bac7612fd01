package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/assistd/assistd/sla"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
	"github.com/assistd/assistd/tickets"
)

func TestTheQueueByDueTimeListsTheMostUrgentFirstAndTicketsWithoutAClockLast(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		if _, err := st.Policy(ctx, "email"); !errors.Is(err, storage.ErrNoPolicy) {
			t.Fatalf("a department without a policy: %v", err)
		}
		if err := st.SetPolicy(ctx, "nowhere", sla.Policy{FirstResponse: time.Hour}); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a policy for an unknown department: %v", err)
		}
		if err := st.SetPolicy(ctx, "email", sla.Policy{FirstResponse: time.Hour, Resolution: 24 * time.Hour}); err != nil {
			t.Fatal(err)
		}
		// Created an hour apart, oldest last: the due times run the other way round.
		base := time.Now().UTC().Truncate(time.Second)
		var numbers []string
		for i := range 5 {
			nt := newTicket("ana", "")
			nt.CreatedAt = base.Add(-time.Duration(i) * time.Hour)
			c, err := st.CreateTicket(ctx, nt)
			if err != nil {
				t.Fatal(err)
			}
			numbers = append(numbers, c.Number)
		}
		// The newest two are answered: their clocks stop, and they go to the end.
		for _, n := range numbers[:2] {
			if _, _, err := st.AddStaffMessage(ctx, storage.ReachAll(), n, "joao", "Resposta.", tickets.Answered, nil); err != nil {
				t.Fatal(err)
			}
		}
		want := []string{numbers[4], numbers[3], numbers[2]}
		got := queueNumbers(t, st, storage.QueueQuery{Reach: storage.ReachAll(), DepartmentID: "email", Limit: 2, Order: storage.OrderDue})
		if len(got) != 5 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("queue by due time %v, want %v first then the two answered", got, want)
		}
		tk, err := st.TicketByNumber(ctx, storage.ReachAll(), numbers[4])
		if err != nil {
			t.Fatal(err)
		}
		if tk.FirstResponseDue == nil || !tk.FirstResponseDue.Equal(base.Add(-3*time.Hour)) || tk.SLANextMoment == nil {
			t.Fatalf("a ticket created 4 h ago with a 1 h target: due %v, next moment %v", tk.FirstResponseDue, tk.SLANextMoment)
		}
		due, err := st.TicketsWithMomentsDue(ctx, time.Now(), 10)
		if err != nil || len(due) != 3 {
			t.Fatalf("%d tickets with a moment due (%v), want the 3 unanswered ones", len(due), err)
		}
	})
}
