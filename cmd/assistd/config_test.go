package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/assistd/assistd/secret"
)

// validEnv sets every setting a start needs to a good value, so that a test changes one.
func validEnv(t *testing.T) {
	t.Helper()
	t.Setenv("ASSISTD_SECRET_KEYS", secret.GenerateKey())
	t.Setenv("ASSISTD_API_TOKEN", "client-area-token-for-the-tests-of-cmd")
	t.Setenv("ASSISTD_STAFF_TOKEN", "staff-token-for-the-tests-of-the-command")
	t.Setenv("ASSISTD_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "c.db"))
	t.Setenv("ASSISTD_REDIS_URL", "redis://"+miniredis.RunT(t).Addr()+"/0")
	t.Setenv("ASSISTD_HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("ASSISTD_LOG_LEVEL", "error")
}

func TestEveryBadSettingRefusesTheStartWithAMessageNamingIt(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"ASSISTD_LOG_LEVEL", "verbose"},
		{"ASSISTD_LOG_LEVEL", ""},
		{"ASSISTD_HTTP_ADDR", "nonsense"},
		{"ASSISTD_HTTP_ADDR", "127.0.0.1:99999"},
		{"ASSISTD_OPS_ADDR", "9090"},
		{"ASSISTD_PUBLIC_URL", "clientes.example.pt"},
		{"ASSISTD_PUBLIC_URL", "https://clientes.example.pt/?x=1"},
		{"ASSISTD_PORTAL_URL", "clientes.example.pt/area"},
		{"ASSISTD_PORTAL_URL", "javascript:alert(1)"},
		{"ASSISTD_PORTAL_SECRET", "short"},
		{"ASSISTD_DATABASE_URL", "mysql://db/assistd"},
		{"ASSISTD_DATABASE_URL", "sqlite:"},
		{"ASSISTD_REDIS_URL", "http://redis:6379"},
		{"ASSISTD_REDIS_URL", "redis-sentinel://sentinel-1:26379,sentinel-2:26379"},
		{"ASSISTD_SMTP_URL", "ftp://relay"},
		{"ASSISTD_IMAP_URL", "http://mail.example.pt"},
		{"ASSISTD_IMAP_POLL_INTERVAL", "often"},
		{"ASSISTD_IMAP_IDLE", "maybe"},
		{"ASSISTD_SECRET_TTL", "-72h"},
		{"ASSISTD_AUTOCLOSE_AFTER", "a week"},
		{"ASSISTD_RETENTION_CLOSED", "five years"},
		{"ASSISTD_RETENTION_CLOSED", "-30d"},
		{"ASSISTD_SHUTDOWN_TIMEOUT", "0"},
		{"ASSISTD_MIGRATE", "yes please"},
		{"ASSISTD_WORKER_CONCURRENCY", "0"},
		{"ASSISTD_WORKER_POLL_INTERVAL", "0"},
		{"ASSISTD_WORKER_POLL_INTERVAL", "20"},
		{"ASSISTD_SMTP_POOL", "-1"},
		{"ASSISTD_DATABASE_POOL", "many"},
		{"ASSISTD_OIDC_ISSUER", "http://login.example.pt"},
		{"ASSISTD_OIDC_ISSUER", "login.example.pt"},
		{"ASSISTD_OIDC_CLIENT_ID", "assistd"},
		{"ASSISTD_OIDC_CLIENT_SECRET", "secret"},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			validEnv(t)
			t.Setenv(tc.name, tc.value)
			// Without a refusal serve would run: the deadline makes that a nil error, not a hang.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			err := dispatch(ctx, []string{"serve"})
			if err == nil || !strings.Contains(err.Error(), tc.name) {
				t.Fatalf("serve with %s=%q: %v, want a refusal naming %s", tc.name, tc.value, err, tc.name)
			}
		})
	}
}

func TestGoodSettingsAreAccepted(t *testing.T) {
	validEnv(t)
	for name, value := range map[string]string{
		"ASSISTD_LOG_LEVEL":            "DEBUG",
		"ASSISTD_HTTP_ADDR":            ":8080",
		"ASSISTD_OPS_ADDR":             "0.0.0.0:9090",
		"ASSISTD_PUBLIC_URL":           "https://clientes.example.pt/suporte/",
		"ASSISTD_PORTAL_URL":           "https://clientes.example.pt/clientarea.php?action=services",
		"ASSISTD_PORTAL_SECRET":        strings.Repeat("k", minPortalSecret),
		"ASSISTD_DATABASE_URL":         "postgresql://assistd:s%40cret@db.internal:5432/assistd?sslmode=require",
		"ASSISTD_REDIS_URL":            "rediss://assistd:secret@redis.internal:6380/2",
		"ASSISTD_SMTP_URL":             "smtps://user:pass@relay.example.pt:465",
		"ASSISTD_IMAP_URL":             "imaps://suporte%40example.pt:secret@mail.example.pt:993/INBOX",
		"ASSISTD_WORKER_POLL_INTERVAL": "250ms",
		"ASSISTD_RETENTION_CLOSED":     "1825d",
		"ASSISTD_OIDC_ISSUER":          "https://login.example.pt/realms/staff",
		"ASSISTD_OIDC_CLIENT_ID":       "assistd",
		"ASSISTD_OIDC_CLIENT_SECRET":   "client-secret",
	} {
		t.Setenv(name, value)
	}
	cfg, err := loadConfig()
	if err != nil {
		t.Fatalf("good settings refused: %v", err)
	}
	if cfg.WorkerPollInterval != 250*time.Millisecond {
		t.Errorf("ASSISTD_WORKER_POLL_INTERVAL=250ms read as %s", cfg.WorkerPollInterval)
	}
	if cfg.RetentionClosed != 1825*24*time.Hour {
		t.Errorf("ASSISTD_RETENTION_CLOSED=1825d read as %s", cfg.RetentionClosed)
	}
}

func TestASentinelRedisURLIsAccepted(t *testing.T) {
	validEnv(t)
	t.Setenv("ASSISTD_REDIS_URL", "redis-sentinel://:secret@sentinel-1:26379,sentinel-2:26379,sentinel-3:26379?master=assistd")
	if _, err := loadConfig(); err != nil {
		t.Fatalf("a Sentinel URL refused: %v", err)
	}
}

// A malformed URL's parse error quotes the whole URL, password included, and the error reaches
// stderr and so the logs.
func TestAMalformedRedisOrDatabaseURLNeverPrintsItsPassword(t *testing.T) {
	const password = "hunter2-not-for-logs"
	for name, value := range map[string]string{
		"ASSISTD_REDIS_URL":    "redis://:" + password + "@127.0.0.1:6379/0%zz",
		"ASSISTD_DATABASE_URL": "postgres://assistd:" + password + "@db:5432/assistd%zz",
	} {
		t.Run(name, func(t *testing.T) {
			validEnv(t)
			t.Setenv(name, value)
			for _, args := range [][]string{{"serve", "--roles", "worker"}, {"migrate"}} {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				err := dispatch(ctx, args)
				cancel()
				if err == nil || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), password) {
					t.Errorf("%s: %v, want a refusal naming %s without the password", strings.Join(args, " "), err, name)
				}
			}
		})
	}
}

func TestTheDemoBannerShowsTheDatabaseWithoutItsPassword(t *testing.T) {
	validEnv(t)
	t.Setenv("ASSISTD_DATABASE_URL", "postgres://assistd:hunter2-not-for-logs@db:5432/assistd")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	banner := demoBanner(cfg, nil)
	if strings.Contains(banner, "hunter2") || !strings.Contains(banner, "postgres://assistd:xxxxx@db:5432/assistd") {
		t.Fatalf("banner:\n%s", banner)
	}
}

func TestDockerComposeSetsOnlySettingsTheBinaryReads(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, s := range settings {
		known[s.name] = true
	}
	keys := regexp.MustCompile(`(?m)^\s+(ASSISTD_[A-Z0-9_]+):`).FindAllStringSubmatch(string(data), -1)
	if len(keys) == 0 {
		t.Fatal("docker-compose.yml sets no ASSISTD_ variable")
	}
	for _, k := range keys {
		if !known[k[1]] {
			t.Errorf("docker-compose.yml sets %s, which assistd does not read", k[1])
		}
	}
}
