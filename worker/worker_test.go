package worker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/storage/storagetest"
	"github.com/assistd/assistd/worker"
)

func TestThreeInstancesRunEachPeriodicTaskOncePerPeriod(t *testing.T) {
	const every = time.Second // task ids name periods in whole seconds
	s := systemtest.Start(t, storagetest.Backends(t)[0], systemtest.Options{NoWorker: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	done := make(chan struct{})
	const instances = 3
	for range instances {
		w := worker.New(s.Redis, worker.Config{Concurrency: 4, ShutdownTimeout: time.Second, DelayedTaskCheckInterval: 100 * time.Millisecond,
			TaskCheckInterval: 10 * time.Millisecond, Periods: []jobs.Period{{Type: jobs.TypeSecretSweep, Every: every}}}, s.Deps)
		go func() { _ = w.Run(ctx); done <- struct{}{} }()
	}
	time.Sleep(4 * time.Second)
	cancel()
	for range instances {
		<-done
	}
	periods := int(time.Now().Truncate(every).Sub(start.Truncate(every))/every) + 1

	info, err := asynq.NewInspectorFromRedisClient(s.Redis).GetQueueInfo(jobs.QueueCritical)
	if err != nil {
		t.Fatalf("no periodic task ran: %v", err)
	}
	// The last period's run may have been queued as the instances stopped.
	if info.ProcessedTotal > periods || info.ProcessedTotal < periods-1 {
		t.Fatalf("%d runs over %d periods on %d instances, want one per period", info.ProcessedTotal, periods, instances)
	}
}

// After Redis loses its data, asynq's client does not list a queue again (it remembers having
// done so); the worker does, so that the queue metrics, the dashboard and the outbox relay see the
// queues again without a restart.
func TestAWorkerListsItsQueuesAgainAfterRedisLostThem(t *testing.T) {
	s := systemtest.Start(t, storagetest.Backends(t)[0], systemtest.Options{NoWorker: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := worker.New(s.Redis, worker.Config{Concurrency: 2, ShutdownTimeout: time.Second}, s.Deps)
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	ins := asynq.NewInspectorFromRedisClient(s.Redis)
	listed := func() bool {
		qs, err := ins.Queues()
		return err == nil && slices.Contains(qs, jobs.QueueCritical) && slices.Contains(qs, jobs.QueueDefault) && slices.Contains(qs, jobs.QueueLow)
	}
	systemtest.Eventually(t, 5*time.Second, "the queues to be listed", listed)
	if err := s.Deps.Enqueuer.Enqueue(context.Background(), jobs.NewEmailSendTask(0), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Redis.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	// The client has listed "default" before: it will not do so again.
	if err := s.Deps.Enqueuer.Enqueue(context.Background(), jobs.NewEmailSendTask(1), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	systemtest.Eventually(t, 15*time.Second, "the queues to be listed again", listed)
	if _, err := ins.GetTaskInfo(jobs.QueueDefault, "email:1"); err != nil {
		t.Fatalf("the task queued after the loss: %v", err)
	}
}
