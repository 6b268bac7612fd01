package jobs_test

import (
	"context"
	"slices"
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
		tk := anasTicket(t, s)
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

// A backlog longer than one relay run can walk is walked over several runs: each run goes on
// after the last row the one before it handled, and the walk starts again from the first row
// once it has reached the last. Without that, every run would walk the front of the backlog
// and the rows behind it would never be queued again after Redis lost them.
func TestTheRelayWalksALongBacklogOverSeveralRuns(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		tk := anasTicket(t, s)
		var emails []storage.Email
		for i := range 5 {
			emails = append(emails, storage.Email{Kind: "update", TicketID: &tk.ID, Recipient: "ana@example.pt",
				MessageID: "<m" + strconv.Itoa(i) + "@y>", Raw: []byte("x")})
		}
		ids, err := s.Store.QueueEmails(ctx, emails)
		if err != nil {
			t.Fatal(err)
		}
		ins := asynq.NewInspectorFromRedisClient(s.Redis)
		queued := func() []bool {
			out := make([]bool, len(ids))
			for i, id := range ids {
				_, err := ins.GetTaskInfo(jobs.QueueDefault, "email:"+strconv.FormatInt(id, 10))
				out[i] = err == nil
			}
			return out
		}

		// The ticket's own row and five emails, two rows a run.
		s.Deps.RelayPerRun = 2
		later := time.Now().Add(time.Minute)
		want := [][]bool{
			{true, false, false, false, false},
			{true, true, true, false, false},
			{true, true, true, true, true},
		}
		for run, w := range want {
			n, err := s.Deps.RelayOutbox(ctx, later)
			if err != nil || n != 2 {
				t.Fatalf("run %d: %d rows, %v; want 2", run+1, n, err)
			}
			if got := queued(); !slices.Equal(got, w) {
				t.Fatalf("after run %d the emails queued are %v, want %v", run+1, got, w)
			}
		}

		// Redis loses everything: the next runs start again from the first row.
		if err := s.Redis.FlushDB(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		// What a running worker does within 10 s (worker.publishQueues), so that the inspector
		// sees the queue again.
		if err := s.Redis.SAdd(ctx, "asynq:queues", jobs.QueueCritical, jobs.QueueDefault).Err(); err != nil {
			t.Fatal(err)
		}
		for run := range 3 {
			if n, err := s.Deps.RelayOutbox(ctx, later); err != nil || n != 2 {
				t.Fatalf("run %d after the loss: %d rows, %v; want 2", run+1, n, err)
			}
		}
		if got := queued(); !slices.Equal(got, want[2]) {
			t.Fatalf("after the loss the emails queued are %v, want all", got)
		}
	})
}
