package storage_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
	"github.com/assistd/assistd/tickets"
)

func TestTicketsAreStoredOncePerIdempotencyKeyAndScopedToTheirCustomer(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		putCustomer(t, st, "rui")

		var wg sync.WaitGroup
		results := make([]storage.Created, 8)
		errs := make([]error, 8)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = st.CreateTicket(ctx, newTicket("ana", "key-1"))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("create %d: %v", i, err)
			}
			if results[i].Number != results[0].Number {
				t.Fatalf("same idempotency key gave two numbers: %s and %s", results[0].Number, results[i].Number)
			}
		}
		_, total, err := st.History(ctx, storage.HistoryQuery{CustomerID: "ana", Page: 1, PerPage: 10})
		if err != nil || total != 1 {
			t.Fatalf("history total = %d, %v; want 1", total, err)
		}
		other := newTicket("ana", "key-1")
		other.SubjectID = "billing-invoice"
		if _, err := st.CreateTicket(ctx, other); !errors.Is(err, storage.ErrIdempotencyMismatch) {
			t.Fatalf("reused key for another subject: err = %v", err)
		}

		if _, err := st.CustomerTicket(ctx, "rui", results[0].Number); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("another customer's ticket: err = %v, want ErrNotFound", err)
		}
		tk, err := st.CustomerTicket(ctx, "ana", results[0].Number)
		if err != nil {
			t.Fatal(err)
		}
		if tk.Status != tickets.Open || tk.DepartmentID != "email" || tk.ProcessedAt != nil {
			t.Fatalf("ticket = %+v", tk)
		}
		if len(tk.Number) != 8 {
			t.Fatalf("number %q is not 8 digits", tk.Number)
		}
	})
}

func TestProcessingRoutesOnceAndQueuesTheEmails(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		c := fileTicket(t, st, "ana")
		pending, _ := st.PendingOutbox(ctx, time.Now().Add(time.Minute), 0, 10)
		if len(pending) != 1 || pending[0].Task != storage.TaskTicketCreate {
			t.Fatalf("pending outbox = %+v", pending)
		}
		m, processed, err := st.NewTicketMail(ctx, c.TicketID)
		if err != nil || processed || m.Message == "" || m.Customer.Email != "ana@example.pt" || m.Ticket.DepartmentID != "email" {
			t.Fatalf("mail context = %+v, processed %v, %v", m, processed, err)
		}
		emails := []storage.Email{
			{Kind: "confirmation", TicketID: &m.Ticket.ID, Recipient: m.Customer.Email, MessageID: "<a@x>", Raw: []byte("x")},
			{Kind: "department", TicketID: &m.Ticket.ID, Recipient: m.Ticket.DepartmentEmail, MessageID: "<b@x>", Raw: []byte("y")},
		}
		// The department's notification was accepted already; the confirmation was not.
		ids, claimed, err := st.RecordTicketProcessed(ctx, c.TicketID, emails, []bool{false, true})
		if err != nil || !claimed || len(ids) != 2 {
			t.Fatalf("first processing: ids=%v claimed=%v err=%v", ids, claimed, err)
		}
		if _, processed, err := st.NewTicketMail(ctx, c.TicketID); err != nil || !processed {
			t.Fatalf("after processing: processed %v, %v", processed, err)
		}
		again, claimed, err := st.RecordTicketProcessed(ctx, c.TicketID, emails, nil)
		if err != nil || claimed || len(again) != 0 {
			t.Fatalf("second processing: ids=%v claimed=%v err=%v", again, claimed, err)
		}
		// An email the SMTP server accepted keeps its record but not its content; one still to
		// send keeps its content, byte for byte, until it is accepted.
		if sent, err := st.OutboxRowByID(ctx, ids[1]); err != nil || sent.State != storage.OutboxDone || sent.DoneAt == nil ||
			sent.Raw != nil || deref(sent.MessageID) != "<b@x>" || deref(sent.Recipient) != m.Ticket.DepartmentEmail || sent.Kind != "department" {
			t.Fatalf("the email recorded as sent: %+v, %v", sent, err)
		}
		if unsent, err := st.OutboxRowByID(ctx, ids[0]); err != nil || string(unsent.Raw) != "x" {
			t.Fatalf("the email still to send: %+v, %v", unsent, err)
		}
		pending, _ = st.PendingOutbox(ctx, time.Now().Add(time.Minute), 0, 10)
		if len(pending) != 1 || pending[0].Task != storage.TaskEmailSend || pending[0].ID != ids[0] {
			t.Fatalf("after processing, pending = %+v", pending)
		}
		if err := st.MarkOutboxDone(ctx, pending[0].ID); err != nil {
			t.Fatal(err)
		}
		pending, _ = st.PendingOutbox(ctx, time.Now().Add(time.Minute), 0, 10)
		if len(pending) != 0 {
			t.Fatalf("after sending, pending = %+v", pending)
		}
		if done, err := st.OutboxRowByID(ctx, ids[0]); err != nil || done.State != storage.OutboxDone || done.Raw != nil || deref(done.MessageID) != "<a@x>" {
			t.Fatalf("the email once sent: %+v, %v", done, err)
		}
	})
}

// A stored request is in its department's queue at once, before ticket:create has run (staff see
// it even while Redis is down); processing routes it again, so a subject moved to another
// department in between sends it, and its emails, to the new one.
func TestATicketIsFiledWhenStoredAndProcessingFollowsItsSubject(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		inQueue := func(dept string, id int64) bool {
			t.Helper()
			ts, err := st.Queue(ctx, storage.QueueQuery{Reach: storage.ReachAll(), DepartmentID: dept, Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			return slices.ContainsFunc(ts, func(tk storage.Ticket) bool { return tk.ID == id })
		}
		stays := fileTicket(t, st, "ana")
		moves := fileTicket(t, st, "ana")
		if !inQueue("email", stays.TicketID) || !inQueue("email", moves.TicketID) {
			t.Fatal("new tickets are not in their subject's department's queue before processing")
		}
		if counts, err := st.QueueCounts(ctx, storage.ReachAll(), "email"); err != nil || counts[tickets.Open] != 2 {
			t.Fatalf("queue counts before processing = %v, %v; want 2 open", counts, err)
		}

		if m, _, err := st.NewTicketMail(ctx, stays.TicketID); err != nil || m.Ticket.DepartmentID != "email" {
			t.Fatalf("mail context = %+v, %v", m.Ticket, err)
		}
		if _, claimed, err := st.RecordTicketProcessed(ctx, stays.TicketID, nil, nil); err != nil || !claimed {
			t.Fatalf("processing: claimed=%v err=%v", claimed, err)
		}

		cat := storage.DefaultCatalog()
		for i := range cat.Subjects {
			if cat.Subjects[i].ID == "email-account-setup" {
				cat.Subjects[i].DepartmentID = "alojamento"
			}
		}
		if err := st.ImportCatalog(ctx, cat); err != nil {
			t.Fatal(err)
		}
		m, processed, err := st.NewTicketMail(ctx, moves.TicketID)
		if err != nil || processed || m.Ticket.DepartmentID != "alojamento" || m.Ticket.DepartmentEmail == "" {
			t.Fatalf("mail context of the ticket whose subject moved = %+v, processed %v, %v; want the new department", m.Ticket, processed, err)
		}
		if _, claimed, err := st.RecordTicketProcessed(ctx, moves.TicketID, nil, nil); err != nil || !claimed {
			t.Fatalf("processing: claimed=%v err=%v", claimed, err)
		}
		if inQueue("email", moves.TicketID) || !inQueue("alojamento", moves.TicketID) {
			t.Fatal("processing did not move the ticket to its subject's new department")
		}
		// A ticket processed before the move stays where it was routed.
		if tk, err := st.TicketByID(ctx, stays.TicketID); err != nil || tk.DepartmentID != "email" || !inQueue("email", stays.TicketID) {
			t.Fatalf("ticket processed before the move = %+v, %v", tk, err)
		}

		if st.Postgres() {
			// Filed at intake, a ticket is processed without changing an indexed column: a
			// heap-only update, which adds nothing to the table's eight indexes. Only the ticket
			// whose subject moved changed one. A backend reports its statistics when it ends (a
			// running one may hold them back for seconds): the store's are ended first.
			if _, err := st.DB().ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
				t.Fatal(err)
			}
			var upd, hot int
			var err error // a pooled connection that was ended fails once
			for deadline := time.Now().Add(10 * time.Second); upd < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				err = st.DB().QueryRowContext(ctx, `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'tickets'`).Scan(&upd, &hot)
			}
			if upd != 2 || hot != 1 {
				t.Fatalf("processing updated tickets %d times, %d of them heap-only; want 2, 1 (%v)", upd, hot, err)
			}
		}
	})
}

func TestPasswordsOpenUntilExpiryAndArePurgedAfter(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		ring, _ := secret.ParseKeyring(secret.GenerateKey())
		created := time.Now().UTC()
		expires := created.Add(time.Hour)
		nt := newTicket("ana", "")
		nt.PasswordExpiresAt = &expires
		nt.Seal = func(id int64) (secret.Sealed, error) {
			return ring.Seal(secret.NewPassword("p4ss \"word\" 🔑"), storage.PasswordBinding(id))
		}
		c, err := st.CreateTicket(ctx, nt)
		if err != nil {
			t.Fatal(err)
		}
		var got secret.Password
		putMember(t, st, "joao", true, nil)
		open := func(p storage.SealedPassword) (err error) {
			got, err = ring.Open(secret.Sealed{Password: p.Password, DataKey: p.DataKey}, storage.PasswordBinding(p.TicketID))
			return err
		}
		if _, outcome, err := st.RevealPassword(ctx, storage.ReachAll(), c.TicketID, storage.Revealer{MemberID: "joao", Via: storage.ViaToken}, created.Add(59*time.Minute), open); err != nil || outcome != storage.RevealGranted || got.Reveal() != "p4ss \"word\" 🔑" {
			t.Fatalf("reveal before expiry: outcome=%s err=%v", outcome, err)
		}
		if _, outcome, _ := st.RevealPassword(ctx, storage.ReachAll(), c.TicketID, storage.Revealer{MemberID: "joao", Via: storage.ViaToken}, expires, open); outcome != storage.RevealExpired {
			t.Fatalf("reveal at expiry: outcome=%s, want expired even before the purge", outcome)
		}
		if n, err := st.PurgeExpiredPasswords(ctx, expires); err != nil || n != 1 {
			t.Fatalf("purge: n=%d err=%v", n, err)
		}
		var left int
		if err := st.DB().Get(&left, `SELECT COUNT(*) FROM ticket_passwords WHERE password_sealed IS NOT NULL OR data_key_sealed IS NOT NULL`); err != nil || left != 0 {
			t.Fatalf("rows still holding ciphertext: %d (%v)", left, err)
		}
		reveals, _ := st.Reveals(ctx, c.TicketID)
		if len(reveals) != 2 || reveals[0].Staff != "joao" {
			t.Fatalf("audit = %+v", reveals)
		}
	})
}

// On Postgres concurrent calls share statements; each must still get exactly its own outcome.
func TestConcurrentIntakeAndProcessingGiveEachTicketItsOwnOutcome(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		putCustomer(t, st, "rui")
		const n = 24
		created := make([]storage.Created, n)
		errs := make([]error, n+2)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nt := newTicket([]string{"ana", "rui"}[i%2], "")
				nt.Message = "Pedido " + strconv.Itoa(i)
				if i%3 == 0 {
					expires := nt.CreatedAt.Add(time.Hour)
					nt.PasswordExpiresAt = &expires
					nt.Seal = func(id int64) (secret.Sealed, error) {
						return secret.Sealed{Password: []byte("p" + strconv.FormatInt(id, 10)), DataKey: []byte("k")}, nil
					}
				}
				created[i], errs[i] = st.CreateTicket(ctx, nt)
			}()
		}
		// A ticket the database refuses (no such customer) in the same moment fails alone.
		var refused error
		wg.Add(1)
		go func() { defer wg.Done(); _, refused = st.CreateTicket(ctx, newTicket("ghost", "")) }()
		// Customers read at the same moment, one of them unknown.
		var ana storage.Customer
		wg.Add(2)
		go func() { defer wg.Done(); ana, errs[n] = st.Customer(ctx, "ana") }()
		go func() { defer wg.Done(); _, errs[n+1] = st.Customer(ctx, "nobody") }()
		wg.Wait()
		for i := range n {
			if errs[i] != nil || created[i].Replayed {
				t.Fatalf("ticket %d: %+v, %v", i, created[i], errs[i])
			}
		}
		if refused == nil {
			t.Fatal("a ticket for a customer that does not exist was stored")
		}
		if errs[n] != nil || ana.Email != "ana@example.pt" || !slices.Equal(ana.Domains, []string{"example.pt", "loja-exemplo.com"}) {
			t.Fatalf("customer read: %+v, %v", ana, errs[n])
		}
		if !errors.Is(errs[n+1], storage.ErrNotFound) {
			t.Fatalf("unknown customer: %v", errs[n+1])
		}

		// Every ticket read at once, with one that does not exist.
		mails := make([]storage.NewTicketMail, n)
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); mails[i], _, errs[i] = st.NewTicketMail(ctx, created[i].TicketID) }()
		}
		wg.Add(1)
		go func() { defer wg.Done(); _, _, errs[n] = st.NewTicketMail(ctx, -1) }()
		wg.Wait()
		for i, m := range mails {
			if errs[i] != nil || m.Ticket.Number != created[i].Number || m.Message != "Pedido "+strconv.Itoa(i) ||
				m.Customer.ID != []string{"ana", "rui"}[i%2] || (m.Ticket.PasswordExpiresAt != nil) != (i%3 == 0) {
				t.Fatalf("ticket %d read as %+v, %v", i, m, errs[i])
			}
		}
		if !errors.Is(errs[n], storage.ErrNotFound) {
			t.Fatalf("unknown ticket: %v", errs[n])
		}

		// Every ticket recorded twice at once: each is claimed by one run only, with its own emails.
		type outcome struct {
			ids     []int64
			claimed bool
			err     error
		}
		outcomes := make([]outcome, 2*n)
		for i := range 2 * n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := created[i%n].TicketID
				emails := []storage.Email{
					{Kind: "confirmation", TicketID: &id, Recipient: "c@example.pt", MessageID: "<c." + created[i%n].Number + "@x>", Raw: []byte("c")},
					{Kind: "department", TicketID: &id, Recipient: "d@example.pt", MessageID: "<d." + created[i%n].Number + "@x>", Raw: []byte("d")},
				}
				o := &outcomes[i]
				o.ids, o.claimed, o.err = st.RecordTicketProcessed(ctx, id, emails, []bool{true, i%4 == 0})
			}()
		}
		wg.Wait()
		for i := range n {
			a, b := outcomes[i], outcomes[i+n]
			if a.err != nil || b.err != nil || a.claimed == b.claimed {
				t.Fatalf("ticket %d recorded twice: %+v and %+v", i, a, b)
			}
			won := a
			if b.claimed {
				won = b
			}
			if len(won.ids) != 2 {
				t.Fatalf("ticket %d: email ids %v", i, won.ids)
			}
			for j, kind := range []string{"confirmation", "department"} {
				row, err := st.OutboxRowByID(ctx, won.ids[j])
				if err != nil || row.Kind != kind || row.TicketID == nil || *row.TicketID != created[i].TicketID {
					t.Fatalf("ticket %d, %s: outbox row %+v, %v", i, kind, row, err)
				}
			}
			if pending, err := st.PendingTicketEmails(ctx, created[i].TicketID); err != nil || len(pending) > 1 {
				t.Fatalf("ticket %d: pending emails %v, %v", i, pending, err)
			}
		}
		pending, err := st.PendingOutbox(ctx, time.Now().Add(time.Minute), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range pending {
			if r.Task == storage.TaskTicketCreate {
				t.Fatalf("a processed ticket's work is still pending: %+v", r)
			}
		}
	})
}

// A rendered email (about 5 KB, 2 KB and more compressed) is kept in its outbox row on Postgres,
// not moved out into the table's TOAST relation, and reads back whole.
func TestStoredEmailsStayInTheOutboxRow(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		if !st.Postgres() {
			t.Skip("SQLite keeps every value in its row")
		}
		ctx := context.Background()
		putCustomer(t, st, "ana")
		c := fileTicket(t, st, "ana")
		// Text that compresses to about half, like a quoted-printable email.
		rnd := rand.New(rand.NewPCG(1, 2))
		raw := make([]byte, 0, 6000)
		for len(raw) < 5800 {
			for range 12 {
				raw = append(raw, "abcdefghijklmnopqrstuvwxyz0123456789"[rnd.IntN(36)])
			}
			raw = append(raw, " Pedido=C3=AA\r\n"...)
		}
		emails := []storage.Email{
			{Kind: "confirmation", TicketID: &c.TicketID, Recipient: "ana@example.pt", MessageID: "<a@x>", Raw: raw},
			{Kind: "department", TicketID: &c.TicketID, Recipient: "dep@example.pt", MessageID: "<b@x>", Raw: raw},
		}
		ids, claimed, err := st.RecordTicketProcessed(ctx, c.TicketID, emails, nil)
		if err != nil || !claimed || len(ids) != 2 {
			t.Fatalf("processing: ids=%v claimed=%v err=%v", ids, claimed, err)
		}
		var stored, toasted int
		if err := st.DB().GetContext(ctx, &stored, `SELECT pg_column_size(raw) FROM outbox WHERE id = $1`, ids[0]); err != nil {
			t.Fatal(err)
		}
		if stored <= 2100 || stored >= len(raw) {
			t.Fatalf("stored size %d of %d bytes: the test email should compress to more than 2 KB", stored, len(raw))
		}
		var toast string
		if err := st.DB().GetContext(ctx, &toast, `SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = 'outbox'::regclass`); err != nil {
			t.Fatal(err)
		}
		if err := st.DB().GetContext(ctx, &toasted, `SELECT count(*) FROM `+toast); err != nil {
			t.Fatal(err)
		}
		if toasted != 0 {
			t.Fatalf("%d chunks moved out of the outbox rows", toasted)
		}
		row, err := st.OutboxRowByID(ctx, ids[1])
		if err != nil || string(row.Raw) != string(raw) {
			t.Fatalf("email read back: %d bytes of %d, %v", len(row.Raw), len(raw), err)
		}
	})
}

func TestTimesGivenInAnyZoneCompareAsTheInstantsTheyAre(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		west, east := time.FixedZone("UTC-5", -5*3600), time.FixedZone("UTC+5", 5*3600)
		putCustomer(t, st, "ana")
		nt := newTicket("ana", "")
		nt.CreatedAt = time.Now().In(east).Truncate(time.Microsecond)
		expires := nt.CreatedAt.Add(time.Minute)
		nt.PasswordExpiresAt = &expires
		nt.Seal = func(int64) (secret.Sealed, error) {
			return secret.Sealed{Password: []byte("sealed"), DataKey: []byte("key")}, nil
		}
		c, err := st.CreateTicket(ctx, nt)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := st.PendingOutbox(ctx, time.Now().Add(time.Minute).In(west), 0, 10)
		if err != nil || len(rows) != 1 {
			t.Fatalf("pending before a minute from now, told in UTC-5: %d rows, %v; want the new ticket's", len(rows), err)
		}
		if rows, _ = st.PendingOutbox(ctx, time.Now().Add(-time.Minute).In(east), 0, 10); len(rows) != 0 {
			t.Fatalf("pending before a minute ago, told in UTC+5: %d rows; want none", len(rows))
		}
		if n, err := st.PurgeExpiredPasswords(ctx, time.Now().In(east)); err != nil || n != 0 {
			t.Fatalf("purged %d passwords, %v, a minute before their expiry", n, err)
		}
		if n, err := st.PurgeExpiredPasswords(ctx, time.Now().Add(2*time.Minute).In(west)); err != nil || n != 1 {
			t.Fatalf("purged %d passwords, %v, after their expiry; want 1", n, err)
		}
		tk, err := st.TicketByID(ctx, c.TicketID)
		if err != nil || tk.PasswordState(time.Now()) != secret.Obfuscated {
			t.Fatalf("password state %q, %v", tk.PasswordState(time.Now()), err)
		}
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
