package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/assembly"
	"github.com/assistd/assistd/mail/memimap"
	"github.com/assistd/assistd/mail/smtpsink"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
)

// demoToken is a fresh random token for one demo run.
func demoToken(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// demo runs every role in one process on embedded parts: SQLite in a local file, miniredis,
// an in-process SMTP server and an in-memory IMAP mailbox.
func demo(ctx context.Context) error {
	defaults := map[string]string{
		"ASSISTD_API_TOKEN":          demoToken("demo-api-"), // fresh each run, and printed: fixed ones would be known to all
		"ASSISTD_STAFF_TOKEN":        demoToken("demo-staff-"),
		"ASSISTD_PORTAL_SECRET":      secret.GenerateKey(),
		"ASSISTD_STAFF_LINK_SECRET":  secret.GenerateKey(),
		"ASSISTD_SECRET_TTL":         "72h",
		"ASSISTD_IMAP_POLL_INTERVAL": "2s",
		"ASSISTD_LOG_LEVEL":          "warn",
	}
	var notes []string
	for k, v := range defaults {
		if _, set := os.LookupEnv(k); !set {
			os.Setenv(k, v)
			if k == "ASSISTD_API_TOKEN" || k == "ASSISTD_STAFF_TOKEN" {
				notes = append(notes, fmt.Sprintf("%s=%s", k, v))
			}
		}
	}
	if _, set := os.LookupEnv("ASSISTD_SECRET_KEYS"); !set {
		os.Setenv("ASSISTD_SECRET_KEYS", secret.GenerateKey())
		notes = append(notes, "ASSISTD_SECRET_KEYS: a fresh key for this run (passwords of earlier runs will not open)")
	}
	dir := filepath.Join(os.TempDir(), "assistd-demo")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if _, set := os.LookupEnv("ASSISTD_DATABASE_URL"); !set {
		os.Setenv("ASSISTD_DATABASE_URL", "sqlite:"+filepath.Join(dir, "assistd.db"))
	}
	if _, set := os.LookupEnv("ASSISTD_ATTACHMENTS_URL"); !set {
		// The files beside the database.
		os.Setenv("ASSISTD_ATTACHMENTS_URL", "file://"+filepath.ToSlash(filepath.Join(dir, "attachments")))
	}
	if _, set := os.LookupEnv("ASSISTD_HTTP_ADDR"); !set {
		os.Setenv("ASSISTD_HTTP_ADDR", "127.0.0.1:8080")
	}
	if _, set := os.LookupEnv("ASSISTD_PUBLIC_URL"); !set {
		os.Setenv("ASSISTD_PUBLIC_URL", "http://"+os.Getenv("ASSISTD_HTTP_ADDR"))
	}
	if _, set := os.LookupEnv("ASSISTD_PORTAL_URL"); !set {
		os.Setenv("ASSISTD_PORTAL_URL", os.Getenv("ASSISTD_PUBLIC_URL")+"/demo/mail")
	}

	mr := miniredis.NewMiniRedis()
	mr.ClockTTL(true) // asynq's leases and locks expire with real time
	if err := mr.Start(); err != nil {
		return err
	}
	defer mr.Close()
	os.Setenv("ASSISTD_REDIS_URL", "redis://"+mr.Addr())

	sink, err := smtpsink.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer sink.Close()
	os.Setenv("ASSISTD_SMTP_URL", sink.URL())

	box, err := memimap.Start("127.0.0.1:0", "suporte", "demo")
	if err != nil {
		return err
	}
	defer box.Close()
	os.Setenv("ASSISTD_IMAP_URL", box.URL())

	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	sys, err := openSystem(ctx, cfg, log, true, "demo")
	if err != nil {
		return err
	}
	defer sys.Close()
	if _, err := sys.Store.PutCustomer(ctx, storage.Customer{ID: "demo", Name: "Cliente Demonstração", Email: "demo@example.pt",
		Language: "pt-PT", Domains: []string{"exemplo-demo.pt", "loja-demo.com"}}); err != nil {
		return err
	}
	for _, m := range demoMembers {
		if _, err := sys.Store.PutStaffMember(ctx, m); err != nil {
			return err
		}
	}

	fmt.Print(demoBanner(cfg, notes))

	return run(ctx, sys, cfg, map[string]bool{"api": true, "worker": true, "poller": true}, func(srv *api.Server) {
		srv.MountDemo(api.DemoMailbox{
			SupportAddr: assembly.AddressOf(cfg.MailFrom),
			AppendReply: box.Append,
			Mails: func() []api.DemoMail {
				var out []api.DemoMail
				for _, m := range sink.Mails() {
					out = append(out, api.DemoMail{From: m.From, To: m.To, Data: m.Data, Received: m.Received})
				}
				return out
			},
		})
	})
}

// demoMembers are the demo's staff, in different departments, so that the console shows each
// only their own.
var demoMembers = []storage.StaffMember{
	{ID: "ines", Name: "Inês Admin", Email: "ines@suporte.example.pt", Language: "pt-PT", Active: true, Admin: true},
	{ID: "rita", Name: "Rita Sousa", Email: "rita@suporte.example.pt", Language: "pt-PT", Active: true,
		Departments: map[string]string{"email": storage.RoleAgent, "alojamento": storage.RoleLead}},
	{ID: "bruno", Name: "Bruno Costa", Email: "bruno@suporte.example.pt", Language: "en", Active: true,
		Departments: map[string]string{"faturacao": storage.RoleAgent, "dominios": storage.RoleAgent}},
}

// demoBanner is what the demo prints at start: where everything is, and a sign-in link of each
// demo member. The database URL is shown without its password.
func demoBanner(cfg config, notes []string) string {
	database := cfg.DatabaseURL
	if u, err := url.Parse(database); err == nil && u.User != nil {
		database = u.Redacted()
	}
	var staff strings.Builder
	for _, m := range demoMembers {
		fmt.Fprintf(&staff, "  staff %-6s  %s — %s\n                %s\n", m.ID, m.Name, strings.TrimPrefix(describeAccess(m), ", "),
			api.StaffLoginURL(cfg.PublicURL, cfg.StaffLinkSecret, m.ID, 12*time.Hour))
	}
	return fmt.Sprintf(`assistd demo — everything in one process, no servers
  client area:  %[1]s/  (you are the demo customer "demo")
  sent mail:    %[1]s/demo/mail
%[5]s                (each link signs one browser in to the console as that member; another with
                 assistd login-link --staff ID; the API as a member: the staff token with
                 the header Assistd-Staff-Member: ID)
  API:          curl -H "Authorization: Bearer %[2]s" %[1]s/api/v1/customers/demo/tickets
  database:     %[3]s
  defaults used: %[4]v
Stop with Ctrl-C.
`, cfg.PublicURL, cfg.APIToken, database, notes, staff.String())
}
