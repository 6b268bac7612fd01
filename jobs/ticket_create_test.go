package jobs_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/storage"
)

type outboxState struct {
	Kind  string `db:"kind"`
	State string `db:"state"`
}

func ticketEmails(t *testing.T, s *systemtest.System, ticketID int64) []outboxState {
	t.Helper()
	var rows []outboxState
	if err := s.Store.DB().Select(&rows, s.Store.DB().Rebind(`SELECT kind, state FROM outbox WHERE ticket_id = ? AND task = 'email:send' ORDER BY id`), ticketID); err != nil {
		t.Fatal(err)
	}
	return rows
}

func pendingEmailTasks(t *testing.T, s *systemtest.System) []string {
	t.Helper()
	infos, err := asynq.NewInspectorFromRedisClient(s.Redis).ListPendingTasks(jobs.QueueDefault)
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	var ids []string
	for _, i := range infos {
		ids = append(ids, i.ID)
	}
	return ids
}

func TestTicketCreateSendsBothEmailsAndRecordsThemDone(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		s.PutCustomer(t, "ana", "pt-PT")
		tk := newTicket(t, s, "s3gredo")
		task := jobs.NewTicketCreateTask(tk.ID)
		if err := s.Deps.HandleTicketCreate(ctx, task); err != nil {
			t.Fatal(err)
		}
		if n := s.Sink.Total(); n != 2 {
			t.Fatalf("%d mails sent, want the confirmation and the department's notification", n)
		}
		if got := ticketEmails(t, s, tk.ID); len(got) != 2 || got[0] != (outboxState{"confirmation", "done"}) || got[1] != (outboxState{"department", "done"}) {
			t.Fatalf("outbox rows = %+v, want both done", got)
		}
		if tasks := pendingEmailTasks(t, s); len(tasks) != 0 {
			t.Fatalf("email:send tasks %v queued for emails already sent", tasks)
		}
		routed, err := s.Store.TicketByID(ctx, tk.ID)
		if err != nil || routed.ProcessedAt == nil || routed.DepartmentID != "email" {
			t.Fatalf("ticket after processing: %+v, %v", routed, err)
		}
		// The password's destruction is scheduled, by time, not by ticket.
		info, err := asynq.NewInspectorFromRedisClient(s.Redis).ListScheduledTasks(jobs.QueueCritical)
		if err != nil || len(info) != 1 || info[0].Type != jobs.TypeSecretExpire || !info[0].NextProcessAt.After(time.Now().Add(71*time.Hour)) {
			t.Fatalf("scheduled tasks = %+v, %v; want one secret:expire in 72 h", info, err)
		}

		// A redelivery sends nothing and queues nothing.
		if err := s.Deps.HandleTicketCreate(ctx, task); err != nil {
			t.Fatal(err)
		}
		if n := s.Sink.Total(); n != 2 {
			t.Fatalf("%d mails after a redelivery, want still 2", n)
		}
		if tasks := pendingEmailTasks(t, s); len(tasks) != 0 {
			t.Fatalf("email:send tasks %v after a redelivery", tasks)
		}
	})
}

func TestTicketCreateHandsARefusedEmailToEmailSend(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		s.PutCustomer(t, "ana", "pt-PT")
		s.Sink.Reject(func(_ string, to []string) *smtp.SMTPError {
			if slices.Contains(to, "email@suporte.example.pt") {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
			}
			return nil
		})
		tk := newTicket(t, s, nil)
		if err := s.Deps.HandleTicketCreate(ctx, jobs.NewTicketCreateTask(tk.ID)); err != nil {
			t.Fatal(err)
		}
		if got := ticketEmails(t, s, tk.ID); len(got) != 2 || got[0] != (outboxState{"confirmation", "done"}) || got[1] != (outboxState{"department", "pending"}) {
			t.Fatalf("outbox rows = %+v, want the confirmation done and the notification pending", got)
		}
		tasks := pendingEmailTasks(t, s)
		if len(tasks) != 1 {
			t.Fatalf("email:send tasks = %v, want one, for the notification", tasks)
		}
		// A redelivery queues the same task again: its id makes that a no-op.
		if err := s.Deps.HandleTicketCreate(ctx, jobs.NewTicketCreateTask(tk.ID)); err != nil {
			t.Fatal(err)
		}
		if again := pendingEmailTasks(t, s); !slices.Equal(again, tasks) {
			t.Fatalf("email:send tasks after a redelivery = %v, want %v", again, tasks)
		}

		// Once the relay takes mail again, email:send delivers it and records it.
		s.Sink.Reject(nil)
		s.StartWorker(t)
		systemtest.Eventually(t, 10*time.Second, "the notification to be sent", func() bool {
			got := ticketEmails(t, s, tk.ID)
			return len(got) == 2 && got[1].State == "done"
		})
		if n := s.Sink.Total(); n != 2 {
			t.Fatalf("%d mails accepted, want 2", n)
		}
	})
}

func TestSecretExpireDestroysEveryPasswordDueByItsSecond(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		s.PutCustomer(t, "ana", "pt-PT")
		first, second, none := newTicket(t, s, "um"), newTicket(t, s, "dois"), newTicket(t, s, nil)
		live := func() int {
			var n int
			if err := s.Store.DB().Get(&n, `SELECT COUNT(*) FROM ticket_passwords WHERE password_sealed IS NOT NULL OR data_key_sealed IS NOT NULL`); err != nil {
				t.Fatal(err)
			}
			return n
		}
		due := first.PasswordExpiresAt.Add(time.Second)
		task := jobs.NewSecretExpireTask(*first.PasswordExpiresAt)

		// Run before its time (a host whose clock is behind), it destroys nothing and fails, to be retried.
		s.Deps.Now = func() time.Time { return due.Add(-time.Hour) }
		if err := s.Deps.HandleSecretExpire(ctx, task); err == nil || live() != 2 {
			t.Fatalf("early run: err %v, %d passwords left; want an error and both kept", err, live())
		}
		// On time, one task destroys every password due, whichever ticket queued it.
		s.Deps.Now = func() time.Time { return due.Add(time.Minute) }
		if err := s.Deps.HandleSecretExpire(ctx, task); err != nil {
			t.Fatal(err)
		}
		if n := live(); n != 0 {
			t.Fatalf("%d passwords left after the task", n)
		}
		for _, tk := range []storage.Ticket{first, second, none} {
			got, err := s.Store.TicketByID(ctx, tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if (tk.PasswordExpiresAt != nil) != (got.PasswordPurgedAt != nil) {
				t.Fatalf("ticket %s: purged at %v", tk.Number, got.PasswordPurgedAt)
			}
		}
	})
}

func TestSecretExpireStillRunsTasksThatNameATicket(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		s.PutCustomer(t, "ana", "pt-PT")
		tk := newTicket(t, s, "s3gredo")
		other := newTicket(t, s, "outro")
		// A task queued by an earlier version: {"ticket_id": N}.
		task := asynq.NewTask(jobs.TypeSecretExpire, []byte(`{"ticket_id":`+strconv.FormatInt(tk.ID, 10)+`}`))
		s.Deps.Now = func() time.Time { return time.Now().Add(73 * time.Hour) }
		if err := s.Deps.HandleSecretExpire(ctx, task); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			tk     storage.Ticket
			purged bool
		}{{tk, true}, {other, false}} {
			got, err := s.Store.TicketByID(ctx, c.tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if (got.PasswordPurgedAt != nil) != c.purged {
				t.Fatalf("ticket %s: purged at %v, want purged %v", c.tk.Number, got.PasswordPurgedAt, c.purged)
			}
		}
	})
}
