package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
	"github.com/assistd/assistd/tickets"
)

// fakeEmail renders one email per change, naming what the change left.
func fakeEmail(kind string) storage.Compose {
	return func(m storage.ChangeMail) ([]storage.Email, error) {
		id := m.Ticket.ID
		return []storage.Email{{Kind: kind, TicketID: &id, Recipient: m.Customer.Email, MessageID: fmt.Sprintf("<%s.%d@test>", kind, time.Now().UnixNano()),
			Raw: []byte(string(m.From) + "->" + string(m.Ticket.Status))}}, nil
	}
}

func emailsOf(t *testing.T, st *storage.Store, ticketID int64, kind string) int {
	t.Helper()
	var n int
	if err := st.DB().Get(&n, st.DB().Rebind(`SELECT COUNT(*) FROM outbox WHERE ticket_id = ? AND kind = ?`), ticketID, kind); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTheLifecycleFollowsTheStatusTableAndClosedIsFinal(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		putCustomer(t, st, "rui")
		tk := createTicket(t, st, "ana")

		if _, _, err := st.AddCustomerMessage(ctx, "rui", tk.Number, "not mine", fakeEmail("customer_reply")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("another customer's message: %v, want ErrNotFound", err)
		}
		if _, _, err := st.SetStatus(ctx, storage.ReachAll(), tk.Number, "joao", "reopened", fakeEmail("update")); !errors.Is(err, storage.ErrInvalidTransition) {
			t.Fatalf("unknown status: %v, want ErrInvalidTransition", err)
		}
		got, ids, err := st.SetStatus(ctx, storage.ReachAll(), tk.Number, "joao", tickets.InProgress, fakeEmail("update"))
		if err != nil || got.Status != tickets.InProgress || len(ids) != 1 {
			t.Fatalf("take: %v %s %v", err, got.Status, ids)
		}
		if _, ids, err := st.SetStatus(ctx, storage.ReachAll(), tk.Number, "joao", tickets.InProgress, fakeEmail("update")); err != nil || len(ids) != 0 {
			t.Fatalf("the same status again: %v, %d emails; want nothing done", err, len(ids))
		}
		got, ids, err = st.AddStaffMessage(ctx, storage.ReachAll(), tk.Number, "joao", "Verifique a porta 587.", "", fakeEmail("update"))
		if err != nil || got.Status != tickets.Answered || len(ids) != 1 {
			t.Fatalf("answer: %v %s %v", err, got.Status, ids)
		}
		row, err := st.OutboxRowByID(ctx, ids[0])
		if err != nil || string(row.Raw) != "in_progress->answered" || *row.Recipient != "ana@example.pt" {
			t.Fatalf("update email %+v, %v", row, err)
		}
		got, ids, err = st.AddCustomerMessage(ctx, "ana", tk.Number, "Continua sem enviar.", fakeEmail("customer_reply"))
		if err != nil || got.Status != tickets.CustomerReply || len(ids) != 1 {
			t.Fatalf("customer reply: %v %s %v", err, got.Status, ids)
		}
		if _, _, err := st.AddCustomerMessage(ctx, "ana", tk.Number, "E mais isto.", fakeEmail("customer_reply")); err != nil {
			t.Fatalf("a second addition: %v", err)
		}
		for range 2 {
			got, ids, err = st.CloseByCustomer(ctx, "ana", tk.Number, fakeEmail("closed"))
			if err != nil || got.Status != tickets.Closed {
				t.Fatalf("close: %v %s", err, got.Status)
			}
		}
		if len(ids) != 0 {
			t.Fatalf("closing twice queued %d emails the second time", len(ids))
		}
		if _, _, err := st.AddCustomerMessage(ctx, "ana", tk.Number, "Ainda aí?", fakeEmail("customer_reply")); !errors.Is(err, storage.ErrTicketClosed) {
			t.Fatalf("customer message on closed: %v", err)
		}
		if _, _, err := st.AddStaffMessage(ctx, storage.ReachAll(), tk.Number, "joao", "Resolvido?", "", fakeEmail("update")); !errors.Is(err, storage.ErrTicketClosed) {
			t.Fatalf("staff message on closed: %v", err)
		}
		for _, to := range []tickets.Status{tickets.Open, tickets.InProgress, tickets.Answered, tickets.CustomerReply, tickets.OnHold} {
			if _, _, err := st.SetStatus(ctx, storage.ReachAll(), tk.Number, "joao", to, fakeEmail("update")); !errors.Is(err, storage.ErrInvalidTransition) {
				t.Fatalf("closed -> %s: %v, want ErrInvalidTransition", to, err)
			}
		}

		msgs, err := st.Messages(ctx, tk.ID)
		if err != nil || len(msgs) != 4 {
			t.Fatalf("%d messages, %v; want 4", len(msgs), err)
		}
		if msgs[1].Author != "staff" || msgs[1].Staff == nil || *msgs[1].Staff != "joao" || msgs[2].Author != "customer" {
			t.Fatalf("thread = %+v", msgs)
		}
		hist, err := st.StatusHistory(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			from, to      tickets.Status
			actor, person string
		}{
			{"", tickets.Open, storage.ActorCustomer, ""},
			{tickets.Open, tickets.InProgress, storage.ActorStaff, "joao"},
			{tickets.InProgress, tickets.Answered, storage.ActorStaff, "joao"},
			{tickets.Answered, tickets.CustomerReply, storage.ActorCustomer, ""},
			{tickets.CustomerReply, tickets.Closed, storage.ActorCustomer, ""},
		}
		if len(hist) != len(want) {
			t.Fatalf("history = %+v", hist)
		}
		for i, w := range want {
			h := hist[i]
			if h.From != w.from || h.To != w.to || h.Actor != w.actor || h.Staff != w.person || h.At.IsZero() {
				t.Errorf("history[%d] = %+v, want %+v", i, h, w)
			}
		}
	})
}

// A staff answer and a customer's close racing on one ticket: whichever wins, the ticket ends
// closed, the thread, the history and the outbox agree with each other.
func TestAStaffAnswerRacingACustomerCloseLeavesTheTicketConsistent(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		answeredFirst := 0
		for i := range 40 {
			tk := createTicket(t, st, "ana")
			var (
				wg                  sync.WaitGroup
				answerErr, closeErr error
				start               = make(chan struct{})
			)
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				_, _, answerErr = st.AddStaffMessage(ctx, storage.ReachAll(), tk.Number, "joao", "Já está.", "", fakeEmail("update"))
			}()
			go func() {
				defer wg.Done()
				<-start
				_, _, closeErr = st.CloseByCustomer(ctx, "ana", tk.Number, nil)
			}()
			close(start)
			wg.Wait()
			if closeErr != nil {
				t.Fatalf("round %d: close: %v", i, closeErr)
			}
			if answerErr != nil && !errors.Is(answerErr, storage.ErrTicketClosed) {
				t.Fatalf("round %d: answer: %v", i, answerErr)
			}
			got, err := st.TicketByID(ctx, tk.ID)
			if err != nil || got.Status != tickets.Closed {
				t.Fatalf("round %d: status %s, %v; want closed", i, got.Status, err)
			}
			msgs, _ := st.Messages(ctx, tk.ID)
			hist, _ := st.StatusHistory(ctx, tk.ID)
			updates := emailsOf(t, st, tk.ID, "update")
			if answerErr == nil {
				answeredFirst++
				if len(msgs) != 2 || updates != 1 || len(hist) != 3 || hist[1].To != tickets.Answered || hist[2].From != tickets.Answered {
					t.Fatalf("round %d, answer first: %d messages, %d update emails, history %+v", i, len(msgs), updates, hist)
				}
			} else if len(msgs) != 1 || updates != 0 || len(hist) != 2 || hist[1].From != tickets.Open {
				t.Fatalf("round %d, close first: %d messages, %d update emails, history %+v", i, len(msgs), updates, hist)
			}
			for j := 1; j < len(hist); j++ {
				if hist[j].From != hist[j-1].To {
					t.Fatalf("round %d: history breaks at %d: %+v", i, j, hist)
				}
			}
		}
		t.Logf("the answer won %d of 40 races", answeredFirst)
	})
}

func TestAutoCloseClosesOnlyAnsweredTicketsLeftAloneAndOnlyOnce(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		answered := createTicket(t, st, "ana")
		replied := createTicket(t, st, "ana")
		waiting := createTicket(t, st, "ana")
		for _, tk := range []storage.Ticket{answered, replied} {
			if _, _, err := st.AddStaffMessage(ctx, storage.ReachAll(), tk.Number, "joao", "Resposta.", "", fakeEmail("update")); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := st.AddCustomerMessage(ctx, "ana", replied.Number, "Mais uma coisa.", fakeEmail("customer_reply")); err != nil {
			t.Fatal(err)
		}
		if ids, err := st.AnsweredBefore(ctx, time.Now().Add(-time.Hour), 0, 10); err != nil || len(ids) != 0 {
			t.Fatalf("answered an hour ago: %v, %v; want none", ids, err)
		}
		before := time.Now().Add(time.Second)
		ids, err := st.AnsweredBefore(ctx, before, 0, 10)
		if err != nil || len(ids) != 1 || ids[0] != answered.ID {
			t.Fatalf("candidates %v, %v; want only %d", ids, err, answered.ID)
		}

		var wg sync.WaitGroup
		closed := make([]bool, 6)
		for i := range closed {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if _, closed[i], err = st.AutoClose(ctx, answered.ID, before, fakeEmail("autoclose")); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		n := 0
		for _, c := range closed {
			if c {
				n++
			}
		}
		if n != 1 || emailsOf(t, st, answered.ID, "autoclose") != 1 {
			t.Fatalf("closed by %d sweeps with %d emails; want 1 and 1", n, emailsOf(t, st, answered.ID, "autoclose"))
		}
		for _, tk := range []storage.Ticket{replied, waiting} {
			if _, ok, err := st.AutoClose(ctx, tk.ID, before, fakeEmail("autoclose")); err != nil || ok {
				t.Fatalf("ticket in another status auto-closed: %v %v", ok, err)
			}
		}
		hist, _ := st.StatusHistory(ctx, answered.ID)
		if last := hist[len(hist)-1]; last.From != tickets.Answered || last.To != tickets.Closed || last.Actor != storage.ActorSystem {
			t.Fatalf("last change %+v", last)
		}
	})
}

func TestTheQueueShowsTheLongestWaitingFirstAndPagesByKeyset(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		var made []storage.Ticket
		for range 7 {
			made = append(made, createTicket(t, st, "ana"))
		}
		// The oldest ticket gets an answer, so it now waits least; one is closed.
		if _, _, err := st.AddStaffMessage(ctx, storage.ReachAll(), made[0].Number, "joao", "Resposta.", "", fakeEmail("update")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.CloseByCustomer(ctx, "ana", made[1].Number, nil); err != nil {
			t.Fatal(err)
		}
		var seen []string
		var after *storage.QueueCursor
		for {
			page, err := st.Queue(ctx, storage.QueueQuery{Reach: storage.ReachAll(), DepartmentID: "email", Limit: 2, After: after})
			if err != nil {
				t.Fatal(err)
			}
			for _, tk := range page {
				seen = append(seen, tk.Number)
			}
			if len(page) < 2 {
				break
			}
			c, err := storage.ParseQueueCursor(storage.CursorAfter(page[len(page)-1], storage.OrderWaiting).String())
			if err != nil {
				t.Fatal(err)
			}
			after = &c
		}
		want := []string{made[2].Number, made[3].Number, made[4].Number, made[5].Number, made[6].Number, made[0].Number}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Fatalf("queue order %v, want %v", seen, want)
		}
		open, err := st.Queue(ctx, storage.QueueQuery{Reach: storage.ReachAll(), DepartmentID: "email", Status: tickets.Open, Limit: 10})
		if err != nil || len(open) != 5 {
			t.Fatalf("open filter: %d, %v", len(open), err)
		}
		counts, err := st.QueueCounts(ctx, storage.ReachAll(), "email")
		if err != nil || counts[tickets.Open] != 5 || counts[tickets.Answered] != 1 || counts[tickets.OnHold] != 0 {
			t.Fatalf("counts %v, %v", counts, err)
		}
		if _, ok := counts[tickets.Closed]; ok {
			t.Fatalf("closed tickets are counted: %v", counts)
		}
		if _, err := storage.ParseQueueCursor("x-1"); !errors.Is(err, storage.ErrBadCursor) {
			t.Fatalf("bad cursor: %v", err)
		}
	})
}
