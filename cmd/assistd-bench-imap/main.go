// Command assistd-bench-imap measures the mailbox poller draining a Dovecot it starts on
// loopback (dovecot-imapd, as root). It is a command of its own so that the Dovecot harness
// stays out of the assistd binary. It uses ASSISTD_DATABASE_URL and ASSISTD_REDIS_URL when they
// are set, else SQLite and an in-process Redis.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/assistd/assistd/internal/assembly"
)

func main() {
	assembly.TuneGC(os.LookupEnv) // as assistd's: the poller's memory is measured as it runs there
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "assistd-bench-imap:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("assistd-bench-imap", flag.ContinueOnError)
	n := fs.Int("n", 2000, "mails delivered at once")
	atRest := fs.Int("at-rest", 5, "single deliveries timed to their automatic answer")
	idle := fs.Duration("idle", 30*time.Second, "how long the idle CPU is measured")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the drain to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg := IMAPConfig{Mails: *n, AtRest: *atRest, IdleFor: *idle, DatabaseURL: os.Getenv("ASSISTD_DATABASE_URL"), RedisURL: os.Getenv("ASSISTD_REDIS_URL"),
		Log: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if cfg.DatabaseURL != "" {
		if err := assembly.CheckDatabaseURL(cfg.DatabaseURL); err != nil {
			return fmt.Errorf("ASSISTD_DATABASE_URL: %w", err)
		}
	}
	if cfg.RedisURL != "" {
		if err := assembly.CheckRedisURL(cfg.RedisURL); err != nil {
			return fmt.Errorf("ASSISTD_REDIS_URL: %w", err)
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.CPUProfile = f
	}
	rep, err := RunIMAP(ctx, cfg)
	fmt.Print(rep.String())
	return err
}
