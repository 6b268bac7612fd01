package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assistd/assistd/secret"
)

func TestEverySettingIsDocumentedInHelpAndTheReadme(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	help := captureStdout(t, printHelp)
	for _, s := range settings {
		if !strings.Contains(help, s.name) {
			t.Errorf("assistd help does not list %s", s.name)
		}
		if !strings.Contains(string(readme), "`"+s.name+"`") {
			t.Errorf("README.md does not document %s", s.name)
		}
	}
	for _, cmd := range []string{"serve", "demo", "migrate", "catalog import", "keys generate", "keys rotate", "login-link", "bench"} {
		if !strings.Contains(help, "assistd "+cmd) {
			t.Errorf("assistd help does not list the %q command", cmd)
		}
	}
}

func TestServeRefusesToStartWithoutAUsableKey(t *testing.T) {
	for name, keys := range map[string]string{"missing": "", "malformed": "not-a-key", "short": "c2hvcnQ="} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("ASSISTD_SECRET_KEYS", keys)
			t.Setenv("ASSISTD_API_TOKEN", "a")
			t.Setenv("ASSISTD_STAFF_TOKEN", "b")
			t.Setenv("ASSISTD_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "x.db"))
			err := dispatch(context.Background(), []string{"serve", "--roles", "worker"})
			if err == nil || !strings.Contains(err.Error(), "ASSISTD_SECRET_KEYS") || !strings.Contains(err.Error(), "refusing to start") {
				t.Fatalf("err = %v, want a refusal naming ASSISTD_SECRET_KEYS", err)
			}
		})
	}
}

func TestServeRefusesOneTokenForBothTheClientAreaAndStaff(t *testing.T) {
	t.Setenv("ASSISTD_SECRET_KEYS", secret.GenerateKey())
	t.Setenv("ASSISTD_API_TOKEN", "same-token")
	t.Setenv("ASSISTD_STAFF_TOKEN", "same-token")
	t.Setenv("ASSISTD_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "x.db"))
	err := dispatch(context.Background(), []string{"serve", "--roles", "api"})
	if err == nil || !strings.Contains(err.Error(), "must differ") {
		t.Fatalf("err = %v, want a refusal saying the two tokens must differ", err)
	}
}

func TestKeysGenerateGivesAKeyTheRingAccepts(t *testing.T) {
	out := captureStdout(t, func() {
		if err := dispatch(context.Background(), []string{"keys", "generate"}); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := secret.ParseKeyring(strings.TrimSpace(out)); err != nil {
		t.Fatalf("generated key %q: %v", out, err)
	}
}

func TestUnknownRolesAndCommandsAreRefused(t *testing.T) {
	if _, err := parseRoles([]string{"--roles", "api,mailer"}); err == nil {
		t.Fatal("an unknown role was accepted")
	}
	roles, err := parseRoles(nil)
	if err != nil || !roles["api"] || !roles["worker"] || !roles["poller"] {
		t.Fatalf("default roles = %v, %v", roles, err)
	}
	t.Setenv("ASSISTD_SECRET_KEYS", secret.GenerateKey())
	captureStdout(t, func() {
		if err := dispatch(context.Background(), []string{"frobnicate"}); err == nil {
			t.Error("an unknown command was accepted")
		}
	})
}

func captureStdout(t *testing.T, fn func()) string {
	t.Helper()
	r, w, _ := os.Pipe()
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() { b, _ := io.ReadAll(r); done <- string(b) }()
	defer func() { os.Stdout = old }()
	fn()
	w.Close()
	os.Stdout = old
	return <-done
}

func TestLoginLinkRefusesALifetimeBeyondTheMaximum(t *testing.T) {
	t.Setenv("ASSISTD_PORTAL_SECRET", "a portal secret long enough for the test")
	err := loginLink([]string{"ana", "--ttl", "720h"})
	if err == nil || !strings.Contains(err.Error(), "longer than a sign-in link may live") {
		t.Fatalf("login-link --ttl 720h: %v, want a refusal", err)
	}
}

func TestServeRefusesATokenShortEnoughToGuess(t *testing.T) {
	long := strings.Repeat("k", minToken)
	for name, tc := range map[string]struct{ api, staff, want string }{
		"api":   {"short-client-area-token", long + "-staff", "ASSISTD_API_TOKEN is 23 characters"},
		"staff": {long + "-api", "short", "ASSISTD_STAFF_TOKEN is 5 characters"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("ASSISTD_SECRET_KEYS", secret.GenerateKey())
			t.Setenv("ASSISTD_API_TOKEN", tc.api)
			t.Setenv("ASSISTD_STAFF_TOKEN", tc.staff)
			t.Setenv("ASSISTD_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "x.db"))
			err := dispatch(context.Background(), []string{"serve", "--roles", "api"})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "at least 32") {
				t.Fatalf("err = %v, want a refusal saying %q", err, tc.want)
			}
		})
	}
}
