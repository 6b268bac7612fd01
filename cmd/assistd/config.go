package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// setting is one ASSISTD_* variable; the table below is both the loader and `assistd help`.
type setting struct {
	name, def, help string
}

var settings = []setting{
	{"ASSISTD_DATABASE_URL", "sqlite:assistd.db", "postgres://user:pass@host:5432/db?sslmode=… or sqlite:PATH"},
	{"ASSISTD_REDIS_URL", "redis://127.0.0.1:6379/0", "Redis for the task queues and the mailbox lease (redis:// or rediss://)"},
	{"ASSISTD_SMTP_URL", "smtp://127.0.0.1:1025", "outgoing relay: smtp://host:port, smtp://user:pass@host:587?starttls=true, smtps://user:pass@host:465"},
	{"ASSISTD_IMAP_URL", "", "support mailbox for email replies: imaps://user:pass@host:993/INBOX (empty: the poller role idles)"},
	{"ASSISTD_IMAP_POLL_INTERVAL", "30s", "how often to poll when the IMAP server has no IDLE"},
	{"ASSISTD_IMAP_IDLE", "true", "use IDLE when the IMAP server offers it; false polls instead"},
	{"ASSISTD_IMAP_DONE_FOLDER", "Processed", "folder that handled mail is moved to (created if missing)"},
	{"ASSISTD_HTTP_ADDR", "127.0.0.1:8080", "address the HTTP server listens on"},
	{"ASSISTD_OPS_ADDR", "", "where a process without the api role serves /metrics, /healthz and /readyz (empty: nowhere)"},
	{"ASSISTD_PUBLIC_URL", "http://127.0.0.1:8080", "base URL of the client area, used in links sent to customers"},
	{"ASSISTD_PORTAL_URL", "http://127.0.0.1:8080/", "the hosting company's client-area management, linked from the pages"},
	{"ASSISTD_PORTAL_SECRET", "", "HMAC-SHA256 key shared with the portal for /login?token=… sign-in links"},
	{"ASSISTD_MAIL_FROM", "Apoio ao Cliente <suporte@example.pt>", "From address of every email, and the support mailbox's own address"},
	{"ASSISTD_SECRET_KEYS", "", "comma-separated base64 32-byte keys; the first seals, all open (`assistd keys generate`) — required"},
	{"ASSISTD_SECRET_TTL", "72h", "how long a customer's password is kept before it is destroyed"},
	{"ASSISTD_API_TOKEN", "", "bearer token of client-area API calls — required for the api role"},
	{"ASSISTD_STAFF_TOKEN", "", "bearer token of staff API calls — required for the api role"},
	{"ASSISTD_AUTOCLOSE_AFTER", "168h", "answered tickets with no customer activity for this long are closed"},
	{"ASSISTD_MIGRATE", "true", "apply pending database migrations when serve starts"},
	{"ASSISTD_WORKER_CONCURRENCY", "50", "tasks a worker runs at once"},
	{"ASSISTD_SMTP_POOL", "8", "SMTP connections a worker keeps open"},
	{"ASSISTD_DATABASE_POOL", "16", "Postgres connections per pool (a worker has two); each pool has 4 more for the grouped statements"},
	{"ASSISTD_SHUTDOWN_TIMEOUT", "20s", "how long in-flight work may finish on SIGTERM"},
	{"ASSISTD_LOG_LEVEL", "info", "debug, info, warn or error"},
}

// config is the environment, read and checked.
type config struct {
	DatabaseURL, RedisURL, SMTPURL, IMAPURL   string
	IMAPPollInterval                          time.Duration
	IMAPNoIDLE                                bool
	IMAPDoneFolder                            string
	HTTPAddr, OpsAddr, PublicURL, PortalURL   string
	PortalSecret                              string
	MailFrom                                  string
	SecretKeys                                string
	SecretTTL, AutoCloseAfter, ShutdownAfter  time.Duration
	APIToken, StaffToken                      string
	Migrate                                   bool
	WorkerConcurrency, SMTPPool, DatabasePool int
	LogLevel                                  string
}

func env(name string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	for _, s := range settings {
		if s.name == name {
			return s.def
		}
	}
	panic("unknown setting " + name)
}

func loadConfig() (config, error) {
	var errs []string
	dur := func(name string) time.Duration {
		d, err := time.ParseDuration(env(name))
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Sprintf("%s=%q is not a positive duration such as 72h or 30s", name, env(name)))
		}
		return d
	}
	num := func(name string) int {
		n, err := strconv.Atoi(env(name))
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Sprintf("%s=%q is not a positive number", name, env(name)))
		}
		return n
	}
	migrate, err := strconv.ParseBool(env("ASSISTD_MIGRATE"))
	if err != nil {
		errs = append(errs, "ASSISTD_MIGRATE must be true or false")
	}
	idle, err := strconv.ParseBool(env("ASSISTD_IMAP_IDLE"))
	if err != nil {
		errs = append(errs, "ASSISTD_IMAP_IDLE must be true or false")
	}
	c := config{
		IMAPNoIDLE:  !idle,
		DatabaseURL: env("ASSISTD_DATABASE_URL"), RedisURL: env("ASSISTD_REDIS_URL"), SMTPURL: env("ASSISTD_SMTP_URL"),
		IMAPURL: env("ASSISTD_IMAP_URL"), IMAPPollInterval: dur("ASSISTD_IMAP_POLL_INTERVAL"), IMAPDoneFolder: env("ASSISTD_IMAP_DONE_FOLDER"),
		HTTPAddr: env("ASSISTD_HTTP_ADDR"), OpsAddr: env("ASSISTD_OPS_ADDR"), PublicURL: strings.TrimRight(env("ASSISTD_PUBLIC_URL"), "/"), PortalURL: env("ASSISTD_PORTAL_URL"),
		PortalSecret: env("ASSISTD_PORTAL_SECRET"), MailFrom: env("ASSISTD_MAIL_FROM"), SecretKeys: env("ASSISTD_SECRET_KEYS"),
		SecretTTL: dur("ASSISTD_SECRET_TTL"), AutoCloseAfter: dur("ASSISTD_AUTOCLOSE_AFTER"), ShutdownAfter: dur("ASSISTD_SHUTDOWN_TIMEOUT"),
		APIToken: env("ASSISTD_API_TOKEN"), StaffToken: env("ASSISTD_STAFF_TOKEN"), Migrate: migrate,
		WorkerConcurrency: num("ASSISTD_WORKER_CONCURRENCY"), SMTPPool: num("ASSISTD_SMTP_POOL"), DatabasePool: num("ASSISTD_DATABASE_POOL"), LogLevel: env("ASSISTD_LOG_LEVEL"),
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	return c, nil
}

// messageIDKeys derives the keys that sign our Message-IDs from the secret key ring, one per
// ring key and in the same order, so that no further secret has to be configured and mail sent
// before a rotation is still recognised after it (the first signs, all verify).
func (c config) messageIDKeys() [][]byte {
	var keys [][]byte
	for _, k := range strings.Split(c.SecretKeys, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		m := hmac.New(sha256.New, []byte(k))
		m.Write([]byte("assistd message-id key"))
		keys = append(keys, m.Sum(nil))
	}
	return keys
}

func printHelp() {
	fmt.Print(`assistd — support requests ("Pedidos de Assistência") for a hosting company's client area

Commands:
  assistd serve [--roles api,worker,poller]   run the given roles (default: all three)
  assistd demo                                everything in one process on embedded parts, no servers
  assistd migrate                             apply pending database migrations
  assistd catalog import FILE.yaml            create or update subjects and departments
  assistd keys generate                       print a new key for ASSISTD_SECRET_KEYS
  assistd keys rotate                         re-seal every live password with the first key
  assistd login-link CUSTOMER [--staff NAME]  print a sign-in link signed with ASSISTD_PORTAL_SECRET
  assistd bench [flags]                       end-to-end tickets/s against the configured Postgres + Redis
  assistd bench imap [flags]                  inbound mail drain against a Dovecot started on loopback
  assistd help                                this text

Environment (default in brackets):
`)
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = "none"
		}
		fmt.Printf("  %-28s %s\n  %-28s [%s]\n", s.name, s.help, "", def)
	}
}
