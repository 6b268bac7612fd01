// Command assistd-bench-uploads measures attachment uploads through the API: N concurrent
// uploads of SIZE bytes each to a customer's upload endpoint, for the folder store and for an S3
// store (a versitygw it starts on loopback when installed), reporting the throughput and how much
// the process's peak resident memory rose while they ran. The uploads are generated as they are
// sent, so the figure is the API's (streaming, spooling, hashing, storing), not the client's.
// It uses ASSISTD_DATABASE_URL when set, else SQLite; Redis is in-process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/assistd/assistd/internal/assembly"
)

func main() {
	assembly.TuneGC(os.LookupEnv) // as assistd's: the API's memory is measured as it runs there
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "assistd-bench-uploads:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("assistd-bench-uploads", flag.ContinueOnError)
	n := fs.Int("n", 20, "concurrent uploads")
	size := fs.Int64("size", 10<<20, "bytes of each upload")
	rounds := fs.Int("rounds", 3, "rounds of n uploads per store")
	stores := fs.String("stores", "folder,s3", "stores to measure: folder, s3 (skipped without versitygw)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	db := os.Getenv("ASSISTD_DATABASE_URL")
	if db != "" {
		if err := assembly.CheckDatabaseURL(db); err != nil {
			return fmt.Errorf("ASSISTD_DATABASE_URL: %w", err)
		}
	}
	for _, kind := range strings.Split(*stores, ",") {
		rep, err := Run(ctx, Config{Store: strings.TrimSpace(kind), Uploads: *n, Size: *size, Rounds: *rounds, DatabaseURL: db})
		if errors.Is(err, ErrNoS3) {
			fmt.Printf("%s: skipped (%v)\n", kind, err)
			continue
		}
		if err != nil {
			return err
		}
		fmt.Print(rep.String())
	}
	return nil
}
