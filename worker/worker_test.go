package worker_test

import (
	"context"
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
