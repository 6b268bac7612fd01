package jobs_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/storage"
)

// storeAnasAddress stores an address for ana as a row written before the address rule would
// have, bypassing the API.
func storeAnasAddress(t *testing.T, s *systemtest.System, email string) {
	t.Helper()
	c, err := s.Store.Customer(context.Background(), "ana")
	if err != nil {
		t.Fatal(err)
	}
	c.Email = email
	if _, err := s.Store.PutCustomer(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// A customer stored before the address rule, with an address no relay takes: her ticket is
// still routed and its department told, her confirmation is recorded as failed where staff see
// it (nothing retries it), and staff can still answer her and change the ticket's status.
func TestAnUnusableStoredAddressFailsOnlyTheEmailsToIt(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		s.PutCustomer(t, "ana", "pt-PT")
		storeAnasAddress(t, s, "dave@[127.0.0.1]")
		tk := newTicket(t, s, nil)
		if err := s.Deps.HandleTicketCreate(ctx, jobs.NewTicketCreateTask(tk.ID)); err != nil {
			t.Fatalf("ticket:create: %v, want the ticket processed", err)
		}
		got := ticketEmails(t, s, tk.ID)
		if !slices.Contains(got, outboxState{"confirmation", "failed"}) || !slices.Contains(got, outboxState{"department", "done"}) {
			t.Fatalf("outbox rows = %+v, want the confirmation failed and the notification sent", got)
		}
		failed, err := s.Store.FailedEmails(ctx, 10)
		if err != nil || len(failed) != 1 || failed[0].Kind != "confirmation" {
			t.Fatalf("failed emails = %+v, %v; want the confirmation", failed, err)
		}
		if c, _ := s.Store.Customer(ctx, "ana"); c.EmailUndeliverableAt == nil {
			t.Fatal("the customer's address is not flagged for staff")
		}
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+tk.Number+"/messages", systemtest.StaffToken,
			map[string]any{"staff": "joao", "message": "Já está."}, nil); code != 201 {
			t.Fatalf("staff answer: %d, want 201", code)
		}
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+tk.Number+"/status", systemtest.StaffToken,
			map[string]any{"staff": "joao", "status": "in_progress"}, nil); code != 200 {
			t.Fatalf("status change: %d, want 200", code)
		}
		// The relay, an hour later, finds nothing of the ticket left to queue.
		later := time.Now().Add(time.Hour)
		s.Deps.Now = func() time.Time { return later }
		if n, err := s.Deps.RelayOutbox(ctx, later); err != nil || n != 0 {
			t.Fatalf("relay queued %d, %v; want nothing", n, err)
		}
	})
}

// A task's last error is kept in Redis, where personal data has no place: a relay's refusal
// that quotes the recipient leaves only its code there (the whole answer stays with the outbox
// row, for staff).
func TestATaskErrorKeepsNoPersonalData(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		s.PutCustomer(t, "ana", "pt-PT")
		s.Sink.Reject(func(_ string, to []string) *smtp.SMTPError {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to[0] + ">: Recipient address rejected: Ana Silva unknown"}
		})
		tk := newTicket(t, s, nil)
		if err := s.Deps.HandleTicketCreate(ctx, jobs.NewTicketCreateTask(tk.ID)); err != nil {
			t.Fatal(err)
		}
		ids, err := s.Store.PendingTicketEmails(ctx, tk.ID)
		if err != nil || len(ids) == 0 {
			t.Fatalf("pending emails %v, %v", ids, err)
		}
		s.StartWorker(t)
		ins := asynq.NewInspectorFromRedisClient(s.Redis)
		var info *asynq.TaskInfo
		systemtest.Eventually(t, 15*time.Second, "the email's task to be archived", func() bool {
			info, err = ins.GetTaskInfo(jobs.QueueDefault, "email:"+strconv.FormatInt(ids[0], 10))
			return err == nil && info.State == asynq.TaskStateArchived
		})
		if info.LastErr == "" || !strings.Contains(info.LastErr, "550 5.1.1") {
			t.Fatalf("last error %q, want the relay's code", info.LastErr)
		}
		for _, personal := range []string{"ana@", "example.pt", "Ana Silva", "Olá", "Recipient address rejected"} {
			if strings.Contains(info.LastErr, personal) {
				t.Errorf("the task's last error %q holds %q", info.LastErr, personal)
			}
		}
		row, err := s.Store.OutboxRowByID(ctx, ids[0])
		if err != nil || row.State != storage.OutboxFailed || row.LastError == nil || !strings.Contains(*row.LastError, "Recipient address rejected") {
			t.Fatalf("outbox row %+v, %v; want failed with the relay's whole answer for staff", row, err)
		}
	})
}

// An internationalised domain is sent in its IDNA form: through the API, which stores that
// form, and from a row stored before the rule, which the composer converts.
func TestAnInternationalisedDomainIsSentInItsIDNAForm(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		for _, viaAPI := range []bool{true, false} {
			if viaAPI {
				if code := s.Do(t, "PUT", "/api/v1/customers/ana", systemtest.APIToken, map[string]any{"name": "Carol", "email": "user@exämple.pt"}, nil); code != 200 {
					t.Fatalf("put: %d", code)
				}
			} else {
				storeAnasAddress(t, s, "user@exämple.pt")
			}
			before := len(s.Sink.Mails())
			tk := newTicket(t, s, nil)
			if err := s.Deps.HandleTicketCreate(ctx, jobs.NewTicketCreateTask(tk.ID)); err != nil {
				t.Fatal(err)
			}
			var to []string
			for _, m := range s.Sink.Mails()[before:] {
				to = append(to, m.To...)
			}
			if !slices.Contains(to, "user@xn--exmple-cua.pt") {
				t.Fatalf("stored via the API %v: mail went to %v, want user@xn--exmple-cua.pt", viaAPI, to)
			}
		}
	})
}
