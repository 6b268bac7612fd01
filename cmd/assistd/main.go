// Command assistd is the support-request service: its API, its workers and its mailbox poller,
// and the commands that operate them. See `assistd help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/assistd/assistd/internal/assembly"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
)

func main() {
	assembly.TuneGC(os.LookupEnv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := dispatch(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "assistd:", err)
		os.Exit(1)
	}
}

func dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		printHelp()
		return errors.New("a command is required")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		printHelp()
		return nil
	case "keys":
		return keysCommand(ctx, rest)
	case "demo":
		return demo(ctx)
	case "bench":
		return benchCommand(ctx, rest)
	case "login-link":
		return loginLink(rest)
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	switch cmd {
	case "serve":
		roles, err := parseRoles(rest)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, log, roles)
	case "migrate":
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		applied, err := st.Migrate(ctx)
		if err != nil {
			return err
		}
		if err := st.EnsureCatalog(ctx); err != nil {
			return err
		}
		fmt.Printf("%d migration(s) applied\n", len(applied))
		return nil
	case "check":
		return checkCommand(ctx, cfg, rest, os.Stdout)
	case "customer":
		return customerCommand(ctx, cfg, log, rest)
	case "staff":
		return staffCommand(ctx, cfg, log, rest, os.Stdout)
	case "catalog":
		if len(rest) != 2 || rest[0] != "import" {
			return errors.New("usage: assistd catalog import FILE.yaml")
		}
		data, err := os.ReadFile(rest[1])
		if err != nil {
			return err
		}
		c, err := storage.ParseCatalog(data)
		if err != nil {
			return err
		}
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.ImportCatalog(ctx, c); err != nil {
			return err
		}
		fmt.Printf("%d department(s), %d subject(s) imported\n", len(c.Departments), len(c.Subjects))
		return nil
	}
	printHelp()
	return fmt.Errorf("unknown command %q", cmd)
}

func parseRoles(args []string) (map[string]bool, error) {
	spec := "api,worker,poller"
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "--roles" && i+1 < len(args):
			spec = args[i+1]
			i++
		case strings.HasPrefix(args[i], "--roles="):
			spec = strings.TrimPrefix(args[i], "--roles=")
		default:
			return nil, fmt.Errorf("serve: unknown argument %q (usage: assistd serve [--roles api,worker,poller])", args[i])
		}
	}
	roles := map[string]bool{}
	for _, r := range strings.Split(spec, ",") {
		r = strings.TrimSpace(r)
		if r != "api" && r != "worker" && r != "poller" {
			return nil, fmt.Errorf("serve: unknown role %q (roles: api, worker, poller)", r)
		}
		roles[r] = true
	}
	return roles, nil
}

func keysCommand(ctx context.Context, args []string) error {
	if len(args) == 1 && args[0] == "generate" {
		fmt.Println(secret.GenerateKey())
		return nil
	}
	if len(args) != 1 || args[0] != "rotate" {
		return errors.New("usage: assistd keys generate | assistd keys rotate")
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	ring, err := secret.ParseKeyring(cfg.SecretKeys)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.ResealPasswords(ctx, time.Now().UTC(), ring.Reseal)
	var unsealed *storage.UnsealedError
	if err != nil && !errors.As(err, &unsealed) {
		return err
	}
	fmt.Printf("%d live password(s) re-sealed with the first key\n", n)
	if unsealed != nil {
		// The others are done; these cannot be revealed with this ring either.
		return fmt.Errorf("%w\nthose keep their old sealing and are destroyed at their deadline; if a key that sealed them "+
			"is missing from ASSISTD_SECRET_KEYS, put it back after the first key and run keys rotate again", err)
	}
	fmt.Println("keys after the first can be removed from ASSISTD_SECRET_KEYS once every instance runs with the new list")
	return nil
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
