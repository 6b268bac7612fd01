package jobs_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/storage"
)

func TestTheRelayRevivesWhatAsynqGaveUpOn(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		s.PutCustomer(t, "ana", "pt-PT")
		var created struct{ Number string }
		if code := s.Do(t, "POST", "/api/v1/customers/ana/tickets", systemtest.APIToken,
			map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Olá"}, &created); code != 202 {
			t.Fatalf("create: %d", code)
		}
		tk, err := s.Store.TicketByNumber(ctx, created.Number)
		if err != nil {
			t.Fatal(err)
		}
		emailIDs, err := s.Store.QueueEmails(ctx, []storage.Email{{Kind: "update", TicketID: &tk.ID, Recipient: "ana@example.pt", MessageID: "<x@y>", Raw: []byte("x")}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Deps.Enqueuer.Enqueue(ctx, jobs.NewEmailSendTask(emailIDs[0])); err != nil {
			t.Fatal(err)
		}
		ins := asynq.NewInspectorFromRedisClient(s.Redis)
		ticketTask, emailTask := "ticket:"+strconv.FormatInt(tk.ID, 10), "email:"+strconv.FormatInt(emailIDs[0], 10)
		if err := ins.ArchiveTask(jobs.QueueCritical, ticketTask); err != nil {
			t.Fatalf("archive the ticket's task: %v", err)
		}
		if err := ins.ArchiveTask(jobs.QueueDefault, emailTask); err != nil {
			t.Fatalf("archive the email's task: %v", err)
		}

		later := time.Now().Add(time.Hour)
		s.Deps.Now = func() time.Time { return later }
		if _, err := s.Deps.RelayOutbox(ctx, later); err != nil {
			t.Fatal(err)
		}
		info, err := ins.GetTaskInfo(jobs.QueueCritical, ticketTask)
		if err != nil || info.State != asynq.TaskStatePending {
			t.Fatalf("the ticket's task after the relay: %+v, %v; want pending again", info, err)
		}
		row, err := s.Store.OutboxRowByID(ctx, emailIDs[0])
		if err != nil || row.State != storage.OutboxFailed {
			t.Fatalf("the email's row after the relay: %+v, %v; want failed", row.State, err)
		}
	})
}
