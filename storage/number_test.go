package storage_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
)

// numbers returns a number source that draws the given numbers in turn, then the last forever.
// Concurrent tickets may share it.
func numbers(drawn ...string) func() string {
	var mu sync.Mutex
	i := 0
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		n := drawn[min(i, len(drawn)-1)]
		i++
		return n
	}
}

func TestANumberCollisionDrawsAgainAndTheTakenNumberKeepsItsTicket(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		putCustomer(t, st, "rui")
		st.DrawNumbersFrom(numbers("48213957"))
		first, err := st.CreateTicket(ctx, newTicket("ana", ""))
		if err != nil || first.Number != "48213957" {
			t.Fatalf("first ticket: %+v, %v", first, err)
		}

		// Rui's request draws Ana's number first, with a password sealed to the new ticket.
		st.DrawNumbersFrom(numbers("48213957", "48213957", "51002003"))
		ring, _ := secret.ParseKeyring(secret.GenerateKey())
		nt := newTicket("rui", "key-1")
		expires := nt.CreatedAt.Add(72 * time.Hour)
		nt.PasswordExpiresAt = &expires
		var boundTo []string
		nt.Seal = func(id int64) (secret.Sealed, error) {
			boundTo = append(boundTo, storage.PasswordBinding(id))
			return ring.Seal(secret.NewPassword("s3gredo"), storage.PasswordBinding(id))
		}
		second, err := st.CreateTicket(ctx, nt)
		if err != nil || second.Number != "51002003" || second.Replayed {
			t.Fatalf("after two collisions: %+v, %v; want a new ticket numbered 51002003", second, err)
		}
		if len(boundTo) != 1 || boundTo[0] != storage.PasswordBinding(second.TicketID) {
			t.Fatalf("password sealed for %v, want once, for ticket %d", boundTo, second.TicketID)
		}
		if tk, err := st.CustomerTicket(ctx, "ana", "48213957"); err != nil || tk.ID != first.TicketID || tk.PasswordExpiresAt != nil {
			t.Fatalf("Ana's ticket after the collision: %+v, %v", tk, err)
		}
		if _, err := st.CustomerTicket(ctx, "rui", "48213957"); err == nil {
			t.Fatal("Rui sees a ticket under Ana's number")
		}
		msgs, err := st.Messages(ctx, first.TicketID)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("Ana's ticket has %d messages (%v), want its own one", len(msgs), err)
		}
		var got secret.Password
		putMember(t, st, "joao", true, nil)
		if _, outcome, err := st.RevealPassword(ctx, storage.ReachAll(), second.TicketID, storage.Revealer{MemberID: "joao", Via: storage.ViaToken}, nt.CreatedAt, func(p storage.SealedPassword) (err error) {
			got, err = ring.Open(secret.Sealed{Password: p.Password, DataKey: p.DataKey}, storage.PasswordBinding(p.TicketID))
			return err
		}); err != nil || outcome != storage.RevealGranted || got.Reveal() != "s3gredo" {
			t.Fatalf("Rui's password: %s, %v", outcome, err)
		}

		// A replay of Rui's request answers his ticket, whatever number it draws.
		if again, err := st.CreateTicket(ctx, nt); err != nil || !again.Replayed || again.Number != "51002003" {
			t.Fatalf("replay: %+v, %v", again, err)
		}

		// Nothing but taken numbers: an error, and nothing written.
		st.DrawNumbersFrom(numbers("48213957"))
		if c, err := st.CreateTicket(ctx, newTicket("rui", "")); err == nil {
			t.Fatalf("every draw taken, yet created %+v", c)
		}
		var n int
		if err := st.DB().Get(&n, `SELECT COUNT(*) FROM tickets`); err != nil || n != 2 {
			t.Fatalf("%d tickets (%v), want 2", n, err)
		}
		for _, table := range []string{"messages", "status_changes", "outbox"} {
			if err := st.DB().Get(&n, `SELECT COUNT(*) FROM `+table+` WHERE ticket_id NOT IN (SELECT id FROM tickets)`); err != nil || n != 0 {
				t.Fatalf("%d %s rows (%v) without a ticket", n, table, err)
			}
		}
	})
}

// On Postgres, tickets submitted at the same moment share one statement: the ones that drew a
// number another one of them drew must draw again, and each gets a ticket of its own.
func TestTicketsDrawingTheSameNumberAtOnceEachGetTheirOwn(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		const n = 16
		// Fewer copies than the draws a ticket may make: on SQLite one ticket can draw them all.
		drawn := make([]string, 0, 2*n)
		for range 8 {
			drawn = append(drawn, "77777777")
		}
		for i := range n {
			drawn = append(drawn, fmt.Sprintf("%08d", 20000000+i))
		}
		st.DrawNumbersFrom(numbers(drawn...))
		created := make([]storage.Created, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nt := newTicket("ana", "")
				nt.Message = fmt.Sprintf("Pedido %d", i)
				created[i], errs[i] = st.CreateTicket(ctx, nt)
			}()
		}
		wg.Wait()
		seen := map[string]bool{}
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("ticket %d: %v", i, errs[i])
			}
			if seen[created[i].Number] {
				t.Fatalf("number %s given twice", created[i].Number)
			}
			seen[created[i].Number] = true
			msgs, err := st.Messages(ctx, created[i].TicketID)
			if err != nil || len(msgs) != 1 || msgs[0].Body != fmt.Sprintf("Pedido %d", i) {
				t.Fatalf("ticket %d holds %+v (%v), want its own message", i, msgs, err)
			}
		}
		if !seen["77777777"] {
			t.Fatal("no ticket got the number every ticket drew first")
		}
	})
}
