package assembly

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"

	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/mail/inbound"
	"github.com/assistd/assistd/secret"
)

func goodSettings(t *testing.T) Settings {
	m := miniredis.RunT(t)
	return Settings{DatabaseURL: "sqlite:" + filepath.Join(t.TempDir(), "a.db"), Migrate: true, RedisURL: "redis://" + m.Addr() + "/0",
		SecretKeys: secret.GenerateKey(), MailFrom: "Apoio <suporte@suporte.example.pt>", PublicURL: "https://clientes.example.pt"}
}

func TestASettingTheSystemCannotStartWithIsNamedAndItsPasswordNotShown(t *testing.T) {
	cases := []struct {
		name    string
		change  func(*Settings)
		setting string
	}{
		{"a malformed key ring is the SecretKeys setting", func(s *Settings) { s.SecretKeys = "not-a-key" }, "SecretKeys"},
		{"a database that does not open is the DatabaseURL setting", func(s *Settings) { s.DatabaseURL = "mysql://root:hunter2@db/x" }, "DatabaseURL"},
		{"a malformed Redis URL is the RedisURL setting", func(s *Settings) { s.RedisURL = "redis://:hunter2@127.0.0.1:6379/0%zz" }, "RedisURL"},
		{"a From without an address is the MailFrom/PublicURL setting", func(s *Settings) { s.MailFrom = "Apoio <>" }, "MailFrom/PublicURL"},
		{"an SMTP URL of another scheme is the SMTP setting", func(s *Settings) { s.SMTP.URL = "http://relay.example.pt" }, "SMTP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set := goodSettings(t)
			c.change(&set)
			sys, err := New(context.Background(), set)
			var bad *SettingError
			if !errors.As(err, &bad) || bad.Setting != c.setting || strings.Contains(err.Error(), "hunter2") {
				if sys != nil {
					sys.Close()
				}
				t.Fatalf("err = %v, want a SettingError of %s without the password", err, c.setting)
			}
		})
	}
}

func TestEveryPartIsPutTogetherFromTheSettings(t *testing.T) {
	set := goodSettings(t)
	set.RelaxedDeliveries = true
	set.SMTP = mail.SenderConfig{URL: "smtp://127.0.0.1:1"}
	set.Poller = inbound.Config{URL: "imap://suporte:x@127.0.0.1:1/INBOX"}
	sys, err := New(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	d := sys.Deps
	if d.Store != sys.Store || d.Deliveries == nil || d.Deliveries == sys.Store || d.Sender == nil || d.Inspector == nil || d.Enqueuer == nil ||
		d.Composer == nil || d.Keys == nil || d.SecretTTL == 0 || d.AutoCloseAfter == 0 {
		t.Fatalf("the tasks' dependencies lack a part: %+v", d)
	}
	if err := sys.RedisReady(context.Background()); err != nil {
		t.Fatalf("redis: %v", err)
	}
	if _, err := sys.NewPoller(); err != nil {
		t.Fatalf("poller: %v", err)
	}
	if sys.NewAPI() == nil || sys.NewWorker() == nil {
		t.Fatal("no API or worker")
	}
}
