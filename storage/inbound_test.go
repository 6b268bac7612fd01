package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
	"github.com/assistd/assistd/tickets"
)

var dayLimits = storage.AnswerLimits{PerKey: 24 * time.Hour, PerHour: 100}

func answer(key, sender string) storage.InboundRecord {
	return storage.InboundRecord{DedupeKey: key, From: sender, Subject: "Olá", Outcome: storage.InboundAnsweredNoTicket,
		Reason: "no_reference", LimitKey: sender + "|", Answer: &storage.Email{Kind: "auto_answer", Recipient: sender,
			MessageID: "<" + key + "@example.pt>", Raw: []byte("Subject: x\r\n\r\nx\r\n")}}
}

func TestMailboxCursorStartsMissingAndOnlyMovesForward(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		if _, err := st.MailboxCursor(ctx, "box"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("cursor of a new mailbox: %v", err)
		}
		if err := st.SetMailboxCursor(ctx, storage.MailboxCursor{Mailbox: "box", UIDValidity: 7, LastUID: 10}); err != nil {
			t.Fatal(err)
		}
		for _, last := range []uint32{15, 12} {
			if _, err := st.RecordInbound(ctx, storage.InboundBatch{Mailbox: "box", UIDValidity: 7, LastUID: last, Limits: dayLimits}); err != nil {
				t.Fatal(err)
			}
		}
		c, err := st.MailboxCursor(ctx, "box")
		if err != nil || c.UIDValidity != 7 || c.LastUID != 15 {
			t.Fatalf("cursor %+v, %v; want 7/15", c, err)
		}
		// A new UIDVALIDITY starts over.
		if _, err := st.RecordInbound(ctx, storage.InboundBatch{Mailbox: "box", UIDValidity: 8, LastUID: 3, Limits: dayLimits}); err != nil {
			t.Fatal(err)
		}
		if c, _ = st.MailboxCursor(ctx, "box"); c.UIDValidity != 8 || c.LastUID != 3 {
			t.Fatalf("cursor %+v; want 8/3", c)
		}
	})
}

func TestAMessageRecordedTwiceIsAnsweredOnce(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		batch := storage.InboundBatch{Mailbox: "box", UIDValidity: 1, LastUID: 2, Limits: dayLimits,
			Records: []storage.InboundRecord{answer("mid:a@x", "a@x.example"), answer("mid:a@x", "a@x.example"), answer("mid:b@x", "b@x.example")}}
		res, err := st.RecordInbound(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.OutboxIDs) != 2 || res.Outcomes[0] != storage.InboundAnsweredNoTicket || res.Outcomes[1] != "" {
			t.Fatalf("first record: %+v", res)
		}
		res, err = st.RecordInbound(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.OutboxIDs) != 0 || res.Outcomes[0] != "" || res.Outcomes[2] != "" {
			t.Fatalf("second record: %+v", res)
		}
		ms, err := st.InboundMessages(ctx, 10, "")
		if err != nil || len(ms) != 2 {
			t.Fatalf("%d rows, %v", len(ms), err)
		}
		if ms[0].OutboxID == nil {
			t.Errorf("answered message without its outbox row")
		}
	})
}

func TestTwoPollersRecordingTheSameBatchAtOnceQueueOneAnswer(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		var recs []storage.InboundRecord
		for i := range 20 {
			recs = append(recs, answer(fmt.Sprintf("mid:%d@x", i), fmt.Sprintf("p%d@x.example", i)))
		}
		batch := storage.InboundBatch{Mailbox: "box", UIDValidity: 1, LastUID: 20, Limits: dayLimits, Records: recs}
		var wg sync.WaitGroup
		var mu sync.Mutex
		queued := 0
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					res, err := st.RecordInbound(ctx, batch)
					if errors.Is(err, storage.ErrInboundRace) {
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					queued += len(res.OutboxIDs)
					mu.Unlock()
					return
				}
			}()
		}
		wg.Wait()
		if queued != 20 {
			t.Errorf("%d answers queued for 20 messages", queued)
		}
	})
}

func TestAnswersAreLimitedPerSenderAndTicketAndPerHour(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		lim := storage.AnswerLimits{PerKey: 24 * time.Hour, PerHour: 3}
		first := answer("mid:1@x", "ana@x.example")
		res, err := st.RecordInbound(ctx, storage.InboundBatch{Mailbox: "box", UIDValidity: 1, LastUID: 1, Limits: lim,
			Records: []storage.InboundRecord{first}})
		if err != nil || len(res.OutboxIDs) != 1 {
			t.Fatalf("%+v %v", res, err)
		}
		again := answer("mid:2@x", "ana@x.example")
		otherTicket := answer("mid:3@x", "ana@x.example")
		otherTicket.LimitKey = "ana@x.example|12345678"
		res, err = st.RecordInbound(ctx, storage.InboundBatch{Mailbox: "box", UIDValidity: 1, LastUID: 6, Limits: lim,
			Records: []storage.InboundRecord{again, otherTicket, answer("mid:4@x", "rui@x.example"), answer("mid:5@x", "eva@x.example")}})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{storage.InboundRateLimited, storage.InboundAnsweredNoTicket, storage.InboundAnsweredNoTicket, storage.InboundRateLimited}
		reasons := []string{storage.ReasonSenderLimit, "no_reference", "no_reference", storage.ReasonGlobalCap}
		for i := range want {
			if res.Outcomes[i] != want[i] || res.Reasons[i] != reasons[i] {
				t.Errorf("record %d: %s/%s, want %s/%s", i, res.Outcomes[i], res.Reasons[i], want[i], reasons[i])
			}
		}
		if len(res.OutboxIDs) != 2 {
			t.Errorf("%d answers queued, want 2", len(res.OutboxIDs))
		}
		limited, err := st.InboundMessages(ctx, 10, storage.InboundRateLimited)
		if err != nil || len(limited) != 2 || limited[0].OutboxID != nil {
			t.Errorf("rate-limited rows: %+v %v", limited, err)
		}
	})
}

func TestABounceMarksOurEmailAndFlagsTheCustomersAddress(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		c := fileTicket(t, st, "ana")
		ids, err := st.QueueEmails(ctx, []storage.Email{
			{Kind: "confirmation", TicketID: &c.TicketID, Recipient: "ana@example.pt", MessageID: "<conf@example.pt>", Raw: []byte("x")},
			{Kind: "department", TicketID: &c.TicketID, Recipient: "email@suporte.example.pt", MessageID: "<dept@example.pt>", Raw: []byte("x")},
		})
		if err != nil {
			t.Fatal(err)
		}
		bounce := func(key, msgID, status string) storage.InboundResult {
			res, err := st.RecordInbound(ctx, storage.InboundBatch{Mailbox: "box", UIDValidity: 1, LastUID: 1, Limits: dayLimits,
				Records: []storage.InboundRecord{{DedupeKey: key, Outcome: storage.InboundIgnoredAutomatic, Reason: "delivery_report",
					Bounce: &storage.InboundBounce{MessageIDs: []string{msgID}, Status: status, Permanent: status[0] == '5'}}}})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		// A department's address bouncing says nothing about the customer.
		if res := bounce("mid:dsn1@x", "<dept@example.pt>", "5.1.1"); !res.Linked[0] {
			t.Errorf("bounce not linked")
		}
		if cu, _ := st.Customer(ctx, "ana"); cu.EmailUndeliverableAt != nil {
			t.Errorf("customer flagged for the department's bounce")
		}
		bounce("mid:dsn2@x", "<conf@example.pt>", "4.2.2")
		if cu, _ := st.Customer(ctx, "ana"); cu.EmailUndeliverableAt != nil {
			t.Errorf("customer flagged for a temporary failure")
		}
		if row, _ := st.OutboxRowByID(ctx, ids[0]); row.State != storage.OutboxBounced {
			t.Errorf("confirmation state %q", row.State)
		}
		// Permanent: a second report of the same email, now 5.x.x.
		if _, err := st.DB().Exec(st.DB().Rebind(`UPDATE outbox SET state = 'done' WHERE id = ?`), ids[0]); err != nil {
			t.Fatal(err)
		}
		bounce("mid:dsn3@x", "<conf@example.pt>", "5.1.1")
		if cu, _ := st.Customer(ctx, "ana"); cu.EmailUndeliverableAt == nil {
			t.Errorf("customer not flagged for a permanent failure")
		}
		ms, _ := st.InboundMessages(ctx, 10, storage.InboundIgnoredAutomatic)
		if len(ms) != 3 || ms[0].OutboxID == nil || *ms[0].OutboxID != ids[0] {
			t.Errorf("import log does not name the bounced email: %+v", ms)
		}
	})
}

func TestInboundTicketsLooksUpABatchOfNumbers(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		c := fileTicket(t, st, "ana")
		found, err := st.InboundTickets(ctx, []string{c.Number, "99999999"})
		if err != nil {
			t.Fatal(err)
		}
		tk, ok := found[c.Number]
		if len(found) != 1 || !ok || tk.ID != c.TicketID || tk.Status != tickets.Open || tk.CustomerEmail != "ana@example.pt" || tk.Language != "pt-PT" {
			t.Errorf("found %+v", found)
		}
	})
}

func TestTheImportLogNamesTheTicketOfEachMessage(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		c := fileTicket(t, st, "ana")
		_, err := st.RecordInbound(ctx, storage.InboundBatch{Mailbox: "suporte@imap/INBOX", UIDValidity: 7, LastUID: 2, Records: []storage.InboundRecord{
			{DedupeKey: "a", UID: 1, From: "ana@example.pt", Subject: "Re: [Pedido]", Outcome: storage.InboundIgnoredAutomatic, Reason: "auto_submitted", TicketID: &c.TicketID},
			{DedupeKey: "b", UID: 2, From: "x@example.pt", Subject: "Olá", Outcome: storage.InboundIgnoredAutomatic, Reason: "list_header"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		ms, err := st.InboundMessages(ctx, 10, "")
		if err != nil || len(ms) != 2 {
			t.Fatalf("%d rows, %v", len(ms), err)
		}
		byUID := map[uint32]storage.InboundMessage{ms[0].UID: ms[0], ms[1].UID: ms[1]}
		if got := byUID[1].Ticket; got == nil || *got != c.Number {
			t.Errorf("message 1 names ticket %v, want %s", got, c.Number)
		}
		if byUID[2].Ticket != nil {
			t.Errorf("message 2 names ticket %v, want none", *byUID[2].Ticket)
		}
	})
}

func TestTwoPollersRecordingAtOnceStayWithinTheHourlyCapTogether(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		if b.Name != "postgres" {
			continue // an SQLite transaction holds the database's write lock from its start
		}
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := storagetest.Open(t, b)
			lim := storage.AnswerLimits{PerKey: 24 * time.Hour, PerHour: 1}
			// Another transaction holds both senders' rows, so that each poller, having counted
			// the answers of the last hour, waits at its claim until both are there.
			hold, err := st.DB().BeginTxx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer hold.Rollback()
			if _, err := hold.ExecContext(ctx, `INSERT INTO auto_answer_limits (limit_key, answered_at) VALUES ('ana@x.example|', $1), ('rui@x.example|', $1)`,
				time.Now().Add(-48*time.Hour)); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			results := make([]storage.InboundResult, 2)
			for i, sender := range []string{"ana@x.example", "rui@x.example"} {
				wg.Go(func() {
					var err error
					results[i], err = st.RecordInbound(ctx, storage.InboundBatch{Mailbox: "box-" + sender, UIDValidity: 1, LastUID: 1, Limits: lim,
						Records: []storage.InboundRecord{answer("mid:"+sender, sender)}})
					if err != nil {
						t.Error(err)
					}
				})
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				var waiting int
				if err := st.DB().GetContext(ctx, &waiting, `SELECT COUNT(*) FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'`); err != nil {
					t.Fatal(err)
				}
				if waiting >= 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d pollers waiting, want 2", waiting)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := hold.Rollback(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			answered := len(results[0].OutboxIDs) + len(results[1].OutboxIDs)
			if answered != 1 {
				t.Fatalf("%d automatic answers queued in the hour, over a cap of 1 (outcomes %v and %v)", answered, results[0].Outcomes, results[1].Outcomes)
			}
		})
	}
}

func TestTheHourlyCapCountsTheLastHourEvenWhenTheWindowPerSenderIsShorter(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		if _, err := st.DB().ExecContext(ctx, st.DB().Rebind(`INSERT INTO auto_answer_limits (limit_key, answered_at) VALUES ('ana@x.example|', ?)`),
			time.Now().UTC().Add(-30*time.Minute)); err != nil {
			t.Fatal(err)
		}
		res, err := st.RecordInbound(ctx, storage.InboundBatch{Mailbox: "box", UIDValidity: 1, LastUID: 1,
			Limits:  storage.AnswerLimits{PerKey: 10 * time.Minute, PerHour: 1},
			Records: []storage.InboundRecord{answer("mid:1@x", "rui@x.example")}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.OutboxIDs) != 0 || res.Reasons[0] != storage.ReasonGlobalCap {
			t.Fatalf("%d answers queued (%s/%s) with one answer 30 minutes ago and a cap of 1 an hour", len(res.OutboxIDs), res.Outcomes[0], res.Reasons[0])
		}
	})
}

// A subject of up to 200 characters reaches storage, which keeps 200 bytes of it: cut inside a
// character, it would be text Postgres refuses, and the whole batch with it (the poller would
// retry the same mail for ever).
func TestALongAccentedSubjectIsKeptCutOnACharacter(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		rec := answer("mid:long@x", "long@x.example")
		rec.Subject = "Re: a" + strings.Repeat("ã", 150) // byte 200 falls inside an "ã"
		rec.From = strings.Repeat("é", 200)
		if _, err := st.RecordInbound(ctx, storage.InboundBatch{Mailbox: "box", UIDValidity: 1, LastUID: 1, Limits: dayLimits,
			Records: []storage.InboundRecord{rec}}); err != nil {
			t.Fatal(err)
		}
		ms, err := st.InboundMessages(ctx, 10, "")
		if err != nil || len(ms) != 1 {
			t.Fatalf("%d rows, %v", len(ms), err)
		}
		if s := ms[0].Subject; !utf8.ValidString(s) || len(s) > 200 || !strings.HasPrefix(s, "Re: aããã") || len(s) < 199 {
			t.Errorf("subject kept as %q (%d bytes)", s, len(s))
		}
	})
}

// What an SMTP server answers is kept as the email's last error, whatever its bytes: a relay that
// answers in Latin-1, or at length in Portuguese, must not keep its refusal from being recorded
// (the email would be retried for ever and never listed as failed).
func TestAnSMTPServersAnswerIsKeptAsTextWhateverItsBytes(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		var emails []storage.Email
		for _, to := range []string{"a@example.pt", "b@example.pt"} {
			emails = append(emails, storage.Email{Kind: "update", Recipient: to, MessageID: "<" + to + ">", Raw: []byte("x")})
		}
		ids, err := st.QueueEmails(ctx, emails)
		if err != nil {
			t.Fatal(err)
		}
		latin1 := "smtp: 550 5.1.1 Utilizador n\xe3o existe\x00"
		if err := st.MarkOutboxAttempt(ctx, ids[0], latin1); err != nil {
			t.Fatal(err)
		}
		long := "smtp: 550 " + strings.Repeat("Caixa de correio inexistente; não é possível entregar. ", 12)
		if err := st.MarkOutboxFailed(ctx, ids[1], long); err != nil {
			t.Fatal(err)
		}
		const want = "smtp: 550 5.1.1 Utilizador n\uFFFDo existe"
		row, err := st.OutboxRowByID(ctx, ids[0])
		if err != nil || row.LastError == nil || *row.LastError != want || row.State != storage.OutboxPending || row.Attempts != 1 {
			t.Fatalf("row %+v, %v; want pending after one attempt, last error %q", row, err, want)
		}
		row, err = st.OutboxRowByID(ctx, ids[1])
		if err != nil || row.State != storage.OutboxFailed || row.LastError == nil {
			t.Fatalf("row %+v, %v; want failed with its last error", row, err)
		}
		if e := *row.LastError; !utf8.ValidString(e) || len(e) > 500 || len(e) < 497 || !strings.HasPrefix(long, e) {
			t.Fatalf("last error kept as %q (%d bytes)", e, len(e))
		}
	})
}
