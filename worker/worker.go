// Package worker runs assistd's background work: the asynq server with its middleware, and the
// periodic enqueuer of sweeps. It holds no business logic; the handlers live in package jobs.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/metrics"
)

// Config tunes the worker.
type Config struct {
	Concurrency int
	// ShutdownTimeout bounds how long in-flight tasks may finish on SIGTERM; what is left
	// returns to the queue through asynq's recovery.
	ShutdownTimeout time.Duration
	// DelayedTaskCheckInterval is how often scheduled and retried tasks are moved to pending: the
	// lateness of a password's destruction task beyond its deadline.
	DelayedTaskCheckInterval time.Duration
	// TaskCheckInterval is how long an idle worker waits before looking for work again.
	TaskCheckInterval time.Duration
	// Periods are the periodic tasks to enqueue.
	Periods []jobs.Period
}

// DefaultPeriods are the sweeps every deployment runs.
func DefaultPeriods() []jobs.Period {
	return []jobs.Period{
		{Type: jobs.TypeSecretSweep, Every: time.Minute},
		{Type: jobs.TypeOutboxRelay, Every: 10 * time.Second},
		{Type: jobs.TypeAutoClose, Every: 10 * time.Second},
		{Type: jobs.TypeSLASweep, Every: 10 * time.Second},
		{Type: jobs.TypeErasureSweep, Every: time.Minute},
		{Type: jobs.TypeAttachmentSweep, Every: time.Minute},
	}
}

// Worker is an asynq server with assistd's handlers.
type Worker struct {
	srv     *asynq.Server
	mux     *asynq.ServeMux
	rc      redis.UniversalClient
	enq     *jobs.Enqueuer
	periods []jobs.Period
	log     *slog.Logger
}

// queues are the worker's queues and their weights.
var queues = map[string]int{jobs.QueueCritical: 6, jobs.QueueDefault: 3, jobs.QueueLow: 1}

// queueSetKey is where asynq lists the queues that exist (its base.AllQueues). asynq's client
// adds a queue's name there at its first task only, and remembers having done so: after Redis
// comes back without its data, nothing puts the names back until every process restarts, and
// until then the queue metrics, the dashboard and the outbox relay's look for tasks asynq gave
// up on (all through asynq's Inspector, which asks that set first) see no queue at all.
const queueSetKey = "asynq:queues"

// publishQueuesEvery is how often a worker puts its queues' names back in queueSetKey.
const publishQueuesEvery = 10 * time.Second

// New builds a worker on a Redis client.
func New(rc redis.UniversalClient, cfg Config, d *jobs.Deps) *Worker {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 50
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 20 * time.Second
	}
	if cfg.DelayedTaskCheckInterval <= 0 {
		cfg.DelayedTaskCheckInterval = time.Second
	}
	if cfg.TaskCheckInterval <= 0 {
		cfg.TaskCheckInterval = 20 * time.Millisecond
	}
	log := d.Log
	srv := asynq.NewServerFromRedisClient(rc, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   queues,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		DelayedTaskCheckInterval: cfg.DelayedTaskCheckInterval,
		TaskCheckInterval:        cfg.TaskCheckInterval,
		RetryDelayFunc:           retryDelay,
		// Nor is it counted among the queue's failures.
		IsFailure: func(err error) bool { return !errors.Is(err, asynq.ErrLeaseExpired) },
		Logger:    asynqLogger{log},
		LogLevel:  asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(_ context.Context, t *asynq.Task, err error) {
			log.Warn("task failed", "type", t.Type(), "err", err)
		}),
	})
	mux := asynq.NewServeMux()
	mux.Use(observe)
	jobs.Register(mux, d)
	return &Worker{srv: srv, mux: mux, rc: rc, enq: d.Enqueuer, periods: cfg.Periods, log: log}
}

// Run processes tasks until ctx is done, then shuts down gracefully.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.srv.Start(w.mux); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	done := make(chan struct{})
	for _, p := range w.periods {
		go func() { w.schedule(ctx, p); done <- struct{}{} }()
	}
	go func() { w.publishQueues(ctx); done <- struct{}{} }()
	<-ctx.Done()
	w.srv.Stop() // stop taking new tasks
	w.srv.Shutdown()
	for range len(w.periods) + 1 {
		<-done
	}
	return nil
}

// publishQueues keeps the worker's queues listed in queueSetKey (see there).
func (w *Worker) publishQueues(ctx context.Context) {
	names := make([]any, 0, len(queues))
	for q := range queues {
		names = append(names, q)
	}
	t := time.NewTicker(publishQueuesEvery)
	defer t.Stop()
	for {
		if err := w.rc.SAdd(ctx, queueSetKey, names...).Err(); err != nil && ctx.Err() == nil {
			w.log.Debug("queue names not published", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// schedule enqueues a periodic task at the start of every period. Every instance does so; the
// task id names the period, so Redis keeps one run per period.
func (w *Worker) schedule(ctx context.Context, p jobs.Period) {
	for {
		if err := w.enq.Enqueue(ctx, jobs.NewPeriodicTask(p.Type, p.Every, time.Now())); err != nil && ctx.Err() == nil {
			w.log.Warn("periodic task not enqueued", "type", p.Type, "err", err)
		}
		next := time.Now().Truncate(p.Every).Add(p.Every)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
	}
}

// retryDelay is how long a task waits before its next run. A task whose lease expired did not
// fail: its worker died or lost Redis, asynq's recoverer gave it back at least 30 s after the
// lease ran out, and waiting longer would only delay the ticket further.
func retryDelay(n int, err error, t *asynq.Task) time.Duration {
	if errors.Is(err, asynq.ErrLeaseExpired) {
		return 0
	}
	if t.Type() == jobs.TypeEmailSend {
		return jobs.EmailRetryDelay(n, err, t)
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}

// observe counts and times every task; payloads are never logged.
func observe(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		start := time.Now()
		err := next.ProcessTask(ctx, t)
		metrics.TaskDuration.WithLabelValues(t.Type()).Observe(time.Since(start).Seconds())
		result := "ok"
		if err != nil {
			result = "error"
		}
		metrics.TasksProcessed.WithLabelValues(t.Type(), result).Inc()
		return err
	})
}

// asynqLogger sends asynq's own messages to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq")
	os.Exit(1)
}
