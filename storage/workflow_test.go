package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/sla"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
	"github.com/assistd/assistd/tickets"
)

func TestANoteIsInTheStaffThreadOnlyAndChangesNothingOfTheTicket(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		setFirstResponse(t, st, "email", time.Hour)
		tk := createTicket(t, st, "ana")
		if _, _, err := st.AddNote(ctx, storage.ReachOnly("faturacao"), tk.Number, "rita", "Fora do alcance."); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a note on another department's ticket: %v, want not found", err)
		}
		after, m, err := st.AddNote(ctx, storage.ReachOnly("email"), tk.Number, "rita", "O cliente tem dois domínios.")
		if err != nil {
			t.Fatal(err)
		}
		if !m.Internal || m.Member == nil || *m.Member != "rita" || m.ID == 0 {
			t.Fatalf("the note as stored: %+v", m)
		}
		again, err := st.TicketByID(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range []storage.Ticket{after, again} {
			if got.Status != tk.Status || !got.UpdatedAt.Equal(tk.UpdatedAt) || got.FirstResponseAt != nil ||
				!timeEqual(got.FirstResponseDue, tk.FirstResponseDue) || !got.SLADue.Equal(tk.SLADue) {
				t.Fatalf("a note changed the ticket: before %+v\nafter %+v", tk, got)
			}
		}
		customers, err := st.Messages(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		staff, err := st.StaffMessages(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(customers) != 1 || customers[0].Internal || len(staff) != 2 || !staff[1].Internal || staff[1].Body != "O cliente tem dois domínios." {
			t.Fatalf("the customer's thread %+v, the staff's %+v", customers, staff)
		}
		// The customer's export leaves it out too.
		var exported []storage.ExportedTicket
		if err := st.ExportTickets(ctx, "ana", func(e storage.ExportedTicket) error { exported = append(exported, e); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(exported) != 1 || len(exported[0].Messages) != 1 || exported[0].Messages[0].Internal {
			t.Fatalf("the export holds %+v", exported)
		}
		// An answer names its member beside the staff name.
		if _, _, err := st.AddStaffMessage(ctx, storage.ReachAll(), tk.Number, "joao", "Resposta.", "", nil); err != nil {
			t.Fatal(err)
		}
		if staff, _ = st.StaffMessages(ctx, tk.ID); staff[2].Member == nil || *staff[2].Member != "joao" || staff[2].Internal {
			t.Fatalf("the answer as stored: %+v", staff[2])
		}
	})
}

// queueNumbers reads a whole queue a page at a time, following each page's cursor, and returns
// its tickets' numbers in order.
func queueNumbers(t *testing.T, st *storage.Store, qq storage.QueueQuery) []string {
	t.Helper()
	var got []string
	for {
		page, err := st.Queue(context.Background(), qq)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range page {
			got = append(got, tk.Number)
		}
		if len(page) < qq.Limit {
			return got
		}
		c, err := storage.ParseQueueCursor(storage.CursorAfter(page[len(page)-1], qq.Order).String())
		if err != nil {
			t.Fatal(err)
		}
		qq.After = &c
	}
}

// setFirstResponse gives a department a policy of one target, round the clock.
func setFirstResponse(t *testing.T, st *storage.Store, department string, d time.Duration) {
	t.Helper()
	if err := st.SetPolicy(context.Background(), department, sla.Policy{FirstResponse: d}); err != nil {
		t.Fatal(err)
	}
}

func timeEqual(a, b *time.Time) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Equal(*b))
}

func TestAQueueByPriorityListsTheMostUrgentFirstAndPagesByKeyset(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		var numbers []string
		for range 6 {
			numbers = append(numbers, createTicket(t, st, "ana").Number)
			time.Sleep(2 * time.Millisecond) // distinct waiting times
		}
		set := map[int]tickets.Priority{1: tickets.Low, 2: tickets.Urgent, 3: tickets.High, 5: tickets.Urgent}
		for i, p := range set {
			got, err := st.SetPriority(ctx, storage.ReachOnly("email"), numbers[i], p)
			if err != nil || got.Priority() != p {
				t.Fatalf("set %s: %v %s", p, err, got.Priority())
			}
		}
		if _, err := st.SetPriority(ctx, storage.ReachOnly("alojamento"), numbers[0], tickets.High); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a priority out of reach: %v", err)
		}
		want := []string{numbers[2], numbers[5], numbers[3], numbers[0], numbers[4], numbers[1]}
		got := queueNumbers(t, st, storage.QueueQuery{Reach: storage.ReachAll(), DepartmentID: "email", Limit: 2, Order: storage.OrderPriority})
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("by priority: %v, want %v", got, want)
		}
		if tk, _ := st.TicketByNumber(ctx, storage.ReachAll(), numbers[4]); tk.Priority() != tickets.Normal {
			t.Fatalf("a ticket's default priority: %s", tk.Priority())
		}
	})
}

func TestATransferKeepsTheTicketRecordsTheMoveAndTakesTheNewDepartmentsPolicy(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		setFirstResponse(t, st, "email", time.Hour)
		setFirstResponse(t, st, "faturacao", 10*time.Hour)
		tk := createTicket(t, st, "ana")
		if _, _, err := st.AddStaffMessage(ctx, storage.ReachAll(), tk.Number, "joao", "A ver.", tickets.InProgress, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.AddNote(ctx, storage.ReachAll(), tk.Number, "joao", "É um assunto de faturação."); err != nil {
			t.Fatal(err)
		}
		before, _ := st.TicketByID(ctx, tk.ID)
		historyBefore, _ := st.StatusHistory(ctx, tk.ID)

		if _, _, err := st.Transfer(ctx, storage.ReachOnly("alojamento"), tk.Number, "joao", "faturacao", nil); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a transfer from a department out of reach: %v", err)
		}
		if _, _, err := st.Transfer(ctx, storage.ReachOnly("email"), tk.Number, "joao", "nowhere", nil); !errors.Is(err, storage.ErrUnknownDepartment) {
			t.Fatalf("a transfer to an unknown department: %v", err)
		}
		var mailed []storage.ChangeMail
		compose := func(m storage.ChangeMail) ([]storage.Email, error) {
			mailed = append(mailed, m)
			return []storage.Email{{Kind: "transfer", TicketID: &m.Ticket.ID, Recipient: m.Ticket.DepartmentEmail, MessageID: "<t@x>", Raw: []byte("x")}}, nil
		}
		moved, ids, err := st.Transfer(ctx, storage.ReachOnly("email"), tk.Number, "joao", "faturacao", compose)
		if err != nil {
			t.Fatal(err)
		}
		if moved.Number != tk.Number || moved.Status != tickets.InProgress || moved.DepartmentID != "faturacao" || moved.DepartmentEmail != "faturacao@suporte.example.pt" {
			t.Fatalf("moved: %+v", moved)
		}
		if len(ids) != 1 || len(mailed) != 1 || mailed[0].FromDepartment.ID != "email" || mailed[0].Staff != "joao" || mailed[0].Customer.ID != "ana" {
			t.Fatalf("the new department's email: %v %+v", ids, mailed)
		}
		// Clocks run from creation under the new policy: an answer was already given, so the
		// first response stays met and no due time is set again.
		if moved.SLADepartmentID == nil || *moved.SLADepartmentID != "faturacao" || moved.FirstResponseAt == nil {
			t.Fatalf("clocks after the transfer: %+v", moved.ClockColumns)
		}
		history, _ := st.StatusHistory(ctx, tk.ID)
		if len(history) != len(historyBefore)+1 {
			t.Fatalf("history %d entries, before %d", len(history), len(historyBefore))
		}
		last := history[len(history)-1]
		if last.FromDepartment != "email" || last.ToDepartment != "faturacao" || last.From != tickets.InProgress || last.To != tickets.InProgress ||
			last.Actor != storage.ActorStaff || last.Staff != "joao" {
			t.Fatalf("the transfer in the history: %+v", last)
		}
		staff, _ := st.StaffMessages(ctx, tk.ID)
		if len(staff) != 3 || !moved.UpdatedAt.Equal(before.UpdatedAt) {
			t.Fatalf("messages %d, updated %v before %v", len(staff), moved.UpdatedAt, before.UpdatedAt)
		}
		// The old department's reach no longer finds it; the new one's does.
		if _, err := st.TicketByNumber(ctx, storage.ReachOnly("email"), tk.Number); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the old department still reaches it: %v", err)
		}
		if _, err := st.TicketByNumber(ctx, storage.ReachOnly("faturacao"), tk.Number); err != nil {
			t.Fatal(err)
		}
		// Moving it where it is changes nothing and sends nothing.
		mailed = nil
		if _, ids, err := st.Transfer(ctx, storage.ReachAll(), tk.Number, "joao", "faturacao", compose); err != nil || len(ids) != 0 || len(mailed) != 0 {
			t.Fatalf("a transfer to its own department: %v %v", ids, err)
		}
		// The customer's export keeps the status history without the move.
		var exported []storage.ExportedTicket
		if err := st.ExportTickets(ctx, "ana", func(e storage.ExportedTicket) error { exported = append(exported, e); return nil }); err != nil {
			t.Fatal(err)
		}
		for _, c := range exported[0].Statuses {
			if c.ToDepartment != "" {
				t.Fatalf("the export shows the transfer: %+v", c)
			}
		}
	})
}

func TestATransferOfAnOpenTicketRunsItsClockUnderTheNewPolicy(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		setFirstResponse(t, st, "email", time.Hour)
		setFirstResponse(t, st, "faturacao", 10*time.Hour)
		tk := createTicket(t, st, "ana")
		if tk.FirstResponseDue == nil || !tk.FirstResponseDue.Equal(tk.CreatedAt.Add(time.Hour)) {
			t.Fatalf("the first response is due %v", tk.FirstResponseDue)
		}
		moved, _, err := st.Transfer(ctx, storage.ReachAll(), tk.Number, "rita", "faturacao", nil)
		if err != nil {
			t.Fatal(err)
		}
		if moved.FirstResponseDue == nil || !moved.FirstResponseDue.Equal(tk.CreatedAt.Add(10*time.Hour)) {
			t.Fatalf("after the transfer the first response is due %v, want %v", moved.FirstResponseDue, tk.CreatedAt.Add(10*time.Hour))
		}
	})
}

func TestSavedRepliesAreADepartmentsWithinReach(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		email := storage.ReachOnly("email")
		r, err := st.PutReply(ctx, email, storage.SavedReply{DepartmentID: "email", ID: "outlook", Title: "Outlook", Body: "Olá {customer_name}"})
		if err != nil || r.UpdatedAt.IsZero() {
			t.Fatalf("put: %+v %v", r, err)
		}
		if _, err := st.PutReply(ctx, email, storage.SavedReply{DepartmentID: "faturacao", ID: "x", Title: "X", Body: "Y"}); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a reply for a department out of reach: %v", err)
		}
		if _, err := st.PutReply(ctx, storage.ReachAll(), storage.SavedReply{DepartmentID: "nowhere", ID: "x", Title: "X", Body: "Y"}); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a reply for an unknown department: %v", err)
		}
		if _, err := st.PutReply(ctx, email, storage.SavedReply{DepartmentID: "email", ID: "outlook", Title: "Outlook 365", Body: "Bom dia {customer_name}"}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.PutReply(ctx, storage.ReachAll(), storage.SavedReply{DepartmentID: "faturacao", ID: "outlook", Title: "Fatura", Body: "Segue a fatura."}); err != nil {
			t.Fatal(err)
		}
		list, err := st.Replies(ctx, email, "email")
		if err != nil || len(list) != 1 || list[0].Title != "Outlook 365" || list[0].Body != "Bom dia {customer_name}" {
			t.Fatalf("list: %+v %v", list, err)
		}
		if list, _ := st.Replies(ctx, email, "faturacao"); len(list) != 0 {
			t.Fatalf("another department's replies within email's reach: %+v", list)
		}
		if _, err := st.DeleteReply(ctx, email, "faturacao", "outlook"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("delete out of reach: %v", err)
		}
		if gone, err := st.DeleteReply(ctx, email, "email", "outlook"); err != nil || gone.Title != "Outlook 365" {
			t.Fatalf("delete: %+v %v", gone, err)
		}
		if _, err := st.Reply(ctx, email, "email", "outlook"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a deleted reply: %v", err)
		}
		if r, err := st.Reply(ctx, storage.ReachAll(), "faturacao", "outlook"); err != nil || r.Title != "Fatura" {
			t.Fatalf("the other department's reply of the same id: %+v %v", r, err)
		}
	})
}
