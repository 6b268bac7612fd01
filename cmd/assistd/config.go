package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/assembly"
	"github.com/assistd/assistd/internal/oidclogin"
	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/mail/inbound"
	"github.com/assistd/assistd/objects"
	"github.com/assistd/assistd/scan"
)

// setting is one ASSISTD_* variable; the table below is both the loader and `assistd help`.
type setting struct {
	name, def, help string
}

var settings = []setting{
	{"ASSISTD_DATABASE_URL", "sqlite:assistd.db", "postgres://user:pass@host:5432/db?sslmode=… or sqlite:PATH"},
	{"ASSISTD_REDIS_URL", "redis://127.0.0.1:6379/0", "Redis for the task queues and the mailbox lease: redis://, rediss:// (TLS) or redis-sentinel://host:26379,host2:26379?master=NAME"},
	{"ASSISTD_SMTP_URL", "smtp://127.0.0.1:1025", "outgoing relay: smtp://host:port, smtp://user:pass@host:587?starttls=true, smtps://user:pass@host:465"},
	{"ASSISTD_IMAP_URL", "", "support mailbox for email replies: imaps://user:pass@host:993/INBOX (empty: the poller role idles)"},
	{"ASSISTD_IMAP_POLL_INTERVAL", "30s", "how often to poll when the IMAP server has no IDLE"},
	{"ASSISTD_IMAP_IDLE", "true", "use IDLE when the IMAP server offers it; false polls instead"},
	{"ASSISTD_IMAP_DONE_FOLDER", "Processed", "folder that handled mail is moved to (created if missing)"},
	{"ASSISTD_AUTOANSWER_CUSTOMER_CAP", "500", "automatic answers an hour to email known to be from a customer (a customer's address or a reply to our mail), apart from strangers'"},
	{"ASSISTD_AUTOANSWER_STRANGER_CAP", "100", "automatic answers an hour to all other email, every sender together"},
	{"ASSISTD_MAIL_AUTHSERV_ID", "", "authserv-id of our receiving server's Authentication-Results: when present and DMARC and SPF both fail, mail is not a customer's (empty: such fields are ignored)"},
	{"ASSISTD_HTTP_ADDR", "127.0.0.1:8080", "address the HTTP server listens on"},
	{"ASSISTD_OPS_ADDR", "", "where /metrics, /healthz and /readyz are served openly, for Prometheus on a private network; the public listener shows /metrics to staff credentials only (empty: nowhere)"},
	{"ASSISTD_PUBLIC_URL", "http://127.0.0.1:8080", "base URL of the client area, used in links sent to customers"},
	{"ASSISTD_PORTAL_URL", "http://127.0.0.1:8080/", "the hosting company's client-area management, linked from the pages; sign-in links followed from it sign in at once"},
	{"ASSISTD_PORTAL_SECRET", "", "HMAC-SHA256 key shared with the portal for /login?token=… sign-in links, at least 32 characters"},
	{"ASSISTD_MAIL_FROM", "Apoio ao Cliente <suporte@example.pt>", "From address of every email, and the support mailbox's own address"},
	{"ASSISTD_SECRET_KEYS", "", "comma-separated base64 32-byte keys; the first seals, all open (`assistd keys generate`) — required"},
	{"ASSISTD_SECRET_TTL", "72h", "how long a customer's password is kept before it is destroyed"},
	{"ASSISTD_API_TOKEN", "", "bearer token of client-area API calls, at least 32 characters — required for the api role"},
	{"ASSISTD_STAFF_TOKEN", "", "the service token: the portal's and operators' bearer token for staff API calls, acting as the member named by the Assistd-Staff-Member header (alone: managing members, tokens, service levels, /metrics), at least 32 characters — required for the api role"},
	{"ASSISTD_STAFF_LINK_SECRET", "", "HMAC-SHA256 key of staff sign-in links (/staff/login?token=…, assistd login-link --staff SID), at least 32 characters, never the portal secret (empty: staff links are off)"},
	{"ASSISTD_OIDC_ISSUER", "", "the company's OpenID Connect identity provider for the staff console sign-in, https (http only on loopback); redirect URL PUBLIC_URL/staff/oidc/callback (empty: off)"},
	{"ASSISTD_OIDC_CLIENT_ID", "", "assistd's client id at that provider (required with ASSISTD_OIDC_ISSUER)"},
	{"ASSISTD_OIDC_CLIENT_SECRET", "", "assistd's client secret at that provider (required with ASSISTD_OIDC_ISSUER)"},
	{"ASSISTD_AUTOCLOSE_AFTER", "168h", "answered tickets with no customer activity for this long are closed"},
	{"ASSISTD_RETENTION_CLOSED", "", "tickets closed longer ago than this (1825d, 8760h) are erased as a customer's erasure does (empty: kept)"},
	{"ASSISTD_ATTACHMENTS_URL", "file://attachments", "where attachment files are kept: file:///path (a folder) or s3://bucket/prefix?endpoint=host:port&region=…&insecure=true (any S3-compatible store; credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); `demo` keeps them beside its database"},
	{"ASSISTD_CLAMD_ADDR", "", "clamd that scans every upload before it is served: tcp://host:port or unix:///path (empty: files are served unscanned, and the console says so)"},
	{"ASSISTD_ATTACHMENT_MAX_BYTES", "10485760", "the largest attachment accepted, in bytes (10 MiB)"},
	{"ASSISTD_ATTACHMENT_TYPES", "png,jpeg,gif,webp,pdf,text,zip", "kinds of file accepted, decided from their content: png, jpeg, gif, webp, pdf, text (plain text and logs), zip"},
	{"ASSISTD_MIGRATE", "true", "apply pending database migrations when serve starts"},
	{"ASSISTD_WORKER_CONCURRENCY", "50", "tasks a worker runs at once"},
	{"ASSISTD_WORKER_POLL_INTERVAL", "20ms", "how long a worker whose queues are empty waits before looking again: the most a new ticket waits to be picked up"},
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
	CustomerAnswerCap, StrangerAnswerCap      int
	MailAuthServID                            string
	HTTPAddr, OpsAddr, PublicURL, PortalURL   string
	PortalSecret                              string
	StaffLinkSecret                           string // empty: no staff sign-in links
	MailFrom                                  string
	SecretKeys                                string
	SecretTTL, AutoCloseAfter, ShutdownAfter  time.Duration
	RetentionClosed                           time.Duration // 0: closed tickets are kept
	WorkerPollInterval                        time.Duration
	APIToken, StaffToken                      string
	OIDCIssuer, OIDCClientID, OIDCSecret      string // all empty: no sign-in with the identity provider
	Migrate                                   bool
	WorkerConcurrency, SMTPPool, DatabasePool int
	LogLevel                                  string
	AttachmentsURL, ClamdAddr                 string
	AttachmentMaxBytes                        int64
	AttachmentTypes                           []string
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
		CustomerAnswerCap: num("ASSISTD_AUTOANSWER_CUSTOMER_CAP"), StrangerAnswerCap: num("ASSISTD_AUTOANSWER_STRANGER_CAP"),
		MailAuthServID: strings.TrimSpace(env("ASSISTD_MAIL_AUTHSERV_ID")),
		IMAPURL:        env("ASSISTD_IMAP_URL"), IMAPPollInterval: dur("ASSISTD_IMAP_POLL_INTERVAL"), IMAPDoneFolder: env("ASSISTD_IMAP_DONE_FOLDER"),
		HTTPAddr: env("ASSISTD_HTTP_ADDR"), OpsAddr: env("ASSISTD_OPS_ADDR"), PublicURL: strings.TrimRight(env("ASSISTD_PUBLIC_URL"), "/"), PortalURL: env("ASSISTD_PORTAL_URL"),
		PortalSecret: env("ASSISTD_PORTAL_SECRET"), StaffLinkSecret: env("ASSISTD_STAFF_LINK_SECRET"), MailFrom: env("ASSISTD_MAIL_FROM"), SecretKeys: env("ASSISTD_SECRET_KEYS"),
		SecretTTL: dur("ASSISTD_SECRET_TTL"), AutoCloseAfter: dur("ASSISTD_AUTOCLOSE_AFTER"), ShutdownAfter: dur("ASSISTD_SHUTDOWN_TIMEOUT"),
		APIToken: env("ASSISTD_API_TOKEN"), StaffToken: env("ASSISTD_STAFF_TOKEN"), Migrate: migrate,
		OIDCIssuer: strings.TrimSpace(env("ASSISTD_OIDC_ISSUER")), OIDCClientID: strings.TrimSpace(env("ASSISTD_OIDC_CLIENT_ID")), OIDCSecret: env("ASSISTD_OIDC_CLIENT_SECRET"),
		WorkerPollInterval: dur("ASSISTD_WORKER_POLL_INTERVAL"),
		WorkerConcurrency:  num("ASSISTD_WORKER_CONCURRENCY"), SMTPPool: num("ASSISTD_SMTP_POOL"), DatabasePool: num("ASSISTD_DATABASE_POOL"), LogLevel: env("ASSISTD_LOG_LEVEL"),
	}
	c.AttachmentsURL, c.ClamdAddr = env("ASSISTD_ATTACHMENTS_URL"), strings.TrimSpace(env("ASSISTD_CLAMD_ADDR"))
	check := func(name string, err error) {
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", name, err))
		}
	}
	check("ASSISTD_ATTACHMENTS_URL", objects.CheckURL(c.AttachmentsURL))
	if c.ClamdAddr != "" {
		_, err := scan.ParseAddr(c.ClamdAddr)
		check("ASSISTD_CLAMD_ADDR", err)
	}
	if n, err := strconv.ParseInt(env("ASSISTD_ATTACHMENT_MAX_BYTES"), 10, 64); err != nil || n <= 0 {
		errs = append(errs, fmt.Sprintf("ASSISTD_ATTACHMENT_MAX_BYTES=%q is not a positive number of bytes", env("ASSISTD_ATTACHMENT_MAX_BYTES")))
	} else {
		c.AttachmentMaxBytes = n
	}
	for _, k := range strings.Split(env("ASSISTD_ATTACHMENT_TYPES"), ",") {
		if k = strings.ToLower(strings.TrimSpace(k)); k == "" {
			continue
		}
		if _, ok := api.AttachmentKinds[k]; !ok {
			errs = append(errs, fmt.Sprintf("ASSISTD_ATTACHMENT_TYPES: %q is not one of png, jpeg, gif, webp, pdf, text, zip", k))
		}
		c.AttachmentTypes = append(c.AttachmentTypes, k)
	}
	if len(c.AttachmentTypes) == 0 {
		errs = append(errs, "ASSISTD_ATTACHMENT_TYPES names no kind of file")
	}
	if v := env("ASSISTD_RETENTION_CLOSED"); v != "" {
		d, err := parseDays(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Sprintf("ASSISTD_RETENTION_CLOSED=%q is not a positive period such as 1825d or 8760h", v))
		}
		c.RetentionClosed = d
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Sprintf("ASSISTD_LOG_LEVEL=%q is not one of debug, info, warn, error", c.LogLevel))
	}
	check("ASSISTD_DATABASE_URL", assembly.CheckDatabaseURL(c.DatabaseURL))
	check("ASSISTD_REDIS_URL", assembly.CheckRedisURL(c.RedisURL))
	if sender, err := mail.NewSender(mail.SenderConfig{URL: c.SMTPURL}); err != nil {
		check("ASSISTD_SMTP_URL", err)
	} else {
		sender.Close() // it only checked the URL: it connects at its first send
	}
	if c.IMAPURL != "" {
		_, err := inbound.ParseIMAPURL(c.IMAPURL)
		check("ASSISTD_IMAP_URL", err)
	}
	check("ASSISTD_HTTP_ADDR", checkListenAddr(c.HTTPAddr))
	if c.OpsAddr != "" {
		check("ASSISTD_OPS_ADDR", checkListenAddr(c.OpsAddr))
	}
	check("ASSISTD_PUBLIC_URL", checkWebURL(c.PublicURL, false))
	check("ASSISTD_PORTAL_URL", checkWebURL(c.PortalURL, true))
	if c.PortalSecret != "" && len(c.PortalSecret) < minPortalSecret {
		// Session cookies are signed with a key derived from it: a short one can be found from any
		// customer's cookie, and with it a staff session forged (RFC 2104 asks for the hash length).
		errs = append(errs, fmt.Sprintf("ASSISTD_PORTAL_SECRET is %d characters; it must have at least %d (openssl rand -hex 32)", len(c.PortalSecret), minPortalSecret))
	}
	if c.StaffLinkSecret != "" && len(c.StaffLinkSecret) < minPortalSecret {
		errs = append(errs, fmt.Sprintf("ASSISTD_STAFF_LINK_SECRET is %d characters; it must have at least %d (openssl rand -hex 32)", len(c.StaffLinkSecret), minPortalSecret))
	}
	if c.StaffLinkSecret != "" && c.StaffLinkSecret == c.PortalSecret {
		// Whoever holds the customers' portal secret must not be able to sign staff in.
		errs = append(errs, "ASSISTD_STAFF_LINK_SECRET must differ from ASSISTD_PORTAL_SECRET")
	}
	errs = append(errs, checkOIDC(c)...)
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	return c, nil
}

// parseDays reads a duration that may also be a whole number of days ("1825d").
func parseDays(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 100*365 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// checkOIDC checks the identity provider's settings: none, or all three with an issuer that is
// https (http only on a loopback address).
func checkOIDC(c config) []string {
	if c.OIDCIssuer == "" && c.OIDCClientID == "" && c.OIDCSecret == "" {
		return nil
	}
	var errs []string
	all := []struct{ name, value string }{{"ASSISTD_OIDC_ISSUER", c.OIDCIssuer}, {"ASSISTD_OIDC_CLIENT_ID", c.OIDCClientID},
		{"ASSISTD_OIDC_CLIENT_SECRET", c.OIDCSecret}}
	var set []string
	for _, s := range all {
		if s.value != "" {
			set = append(set, s.name)
		}
	}
	for _, s := range all {
		if s.value == "" {
			errs = append(errs, fmt.Sprintf("%s is required with %s", s.name, strings.Join(set, " and ")))
		}
	}
	if c.OIDCIssuer != "" {
		if err := oidclogin.CheckIssuer(c.OIDCIssuer); err != nil {
			errs = append(errs, "ASSISTD_OIDC_ISSUER: "+err.Error())
		}
	}
	return errs
}

// minPortalSecret is the shortest ASSISTD_PORTAL_SECRET accepted: HMAC-SHA256's output length.
const minPortalSecret = 32

// checkListenAddr accepts what net.Listen("tcp", …) takes: host:port, where host may be empty.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = net.LookupPort("tcp", port)
	}
	if err != nil {
		return fmt.Errorf("%q is not host:port such as 127.0.0.1:8080 or :8080", addr)
	}
	return nil
}

// checkWebURL accepts an absolute http(s) URL; a query is allowed where withQuery says so.
func checkWebURL(raw string, withQuery bool) error {
	u, err := url.Parse(raw)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil &&
		(withQuery || (u.RawQuery == "" && u.Fragment == "")) {
		return nil
	}
	shown := raw
	if err == nil {
		shown = u.Redacted()
	}
	if withQuery {
		return fmt.Errorf("%q is not an absolute http(s) URL such as https://clientes.example.pt/", shown)
	}
	return fmt.Errorf("%q is not an absolute http(s) URL without query, such as https://clientes.example.pt", shown)
}

func printHelp() {
	fmt.Print(`assistd — support requests ("Pedidos de Assistência") for a hosting company's client area

Commands:
  assistd serve [--roles api,worker,poller]   run the given roles (default: all three)
  assistd demo                                everything in one process on embedded parts, no servers
  assistd migrate                             apply pending database migrations
  assistd catalog import FILE.yaml            create or update subjects and departments
  assistd check addresses                     list stored addresses no relay would take (exit 1 if any)
  assistd keys generate                       print a new key for ASSISTD_SECRET_KEYS
  assistd keys rotate                         re-seal every live password with the first key
  assistd login-link CUSTOMER                 print a customer's sign-in link, signed with ASSISTD_PORTAL_SECRET
  assistd login-link --staff SID              print a member's console sign-in link, signed with ASSISTD_STAFF_LINK_SECRET
  assistd staff add SID --name N --email E [--dept DEPT:agent|lead ...] [--admin] [--language pt-PT|en]
                                              create or replace a staff member
  assistd staff list                          every staff member, their departments and roles
  assistd staff disable SID                   disable a member: every token and session ends at once
  assistd staff token SID [--label L]         make an API token of a member (shown once)
  assistd customer export CID > FILE.json     everything held about a customer, as one JSON document
  assistd customer erase CID                  erase a customer and wait until nothing of theirs is left
  assistd bench [flags]                       end-to-end tickets/s against the configured Postgres + Redis
  (the IMAP drain bench is a command of its own: go run ./cmd/assistd-bench-imap [flags])
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
