package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/assistd/assistd/bench"
)

// benchCommand runs `assistd bench [flags]` against the configured Postgres and Redis.
func benchCommand(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "imap" {
		// Its Dovecot harness is kept out of this binary.
		return errors.New("the IMAP bench is a command of its own: go run ./cmd/assistd-bench-imap [flags]")
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	n := fs.Int("n", 5000, "tickets to create")
	c := fs.Int("c", 32, "clients posting at once; with -rate, the cap on requests in flight")
	rate := fs.Float64("rate", 0, "tickets per second to offer (open loop); 0 posts as fast as -c clients go")
	workerC := fs.Int("worker-concurrency", 0, "tasks the in-process worker runs at once (default ASSISTD_WORKER_CONCURRENCY)")
	noWorker := fs.Bool("no-worker", false, "run no worker here: start `assistd serve --roles worker` with ASSISTD_SMTP_URL=smtp://<-smtp-addr>")
	smtpAddr := fs.String("smtp-addr", "", "address of the benchmark's SMTP sink (default: a free loopback port)")
	noop := fs.Int("noop", 20000, "no-op tasks that measure asynq's own rate on the same Redis")
	flush := fs.Bool("flush", false, "empty the Redis database (FLUSHDB) before starting; without it a non-empty database is refused")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the ticket phase to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile taken at the end of the ticket phase to this file")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: assistd bench [flags]   (ASSISTD_DATABASE_URL: a scratch Postgres database; ASSISTD_REDIS_URL: a Redis database of its own)\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	tc := bench.TicketsConfig{DatabaseURL: cfg.DatabaseURL, RedisURL: cfg.RedisURL, N: *n, Concurrency: *c, Rate: *rate,
		WorkerConcurrency: cfg.WorkerConcurrency, WorkerPollInterval: cfg.WorkerPollInterval, SMTPPool: cfg.SMTPPool, DatabasePool: cfg.DatabasePool, NoWorker: *noWorker, SMTPAddr: *smtpAddr, NoopTasks: *noop,
		Flush: *flush, Log: newLogger("warn")}
	if *workerC > 0 {
		tc.WorkerConcurrency = *workerC
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		tc.CPUProfile = f
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		tc.HeapProfile = f
	}
	rep, err := bench.RunTickets(ctx, tc)
	fmt.Print(rep.String())
	return err
}
