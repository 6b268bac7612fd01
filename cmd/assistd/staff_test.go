package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/assistd/assistd/api"
)

func TestTheStaffCommandAddsListsMakesATokenAndDisables(t *testing.T) {
	validEnv(t)
	t.Setenv("ASSISTD_MIGRATE", "true")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	ctx, log := context.Background(), newLogger("error")
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := staffCommand(ctx, cfg, log, args, &out)
		return out.String(), err
	}
	if out, err := run("add", "rita", "--name", "Rita Sousa", "--email", "rita@example.pt", "--dept", "email:agent", "--dept", "alojamento:lead"); err != nil ||
		!strings.Contains(out, "alojamento:lead email:agent") {
		t.Fatalf("add: %q %v", out, err)
	}
	if _, err := run("add", "x", "--name", "X", "--email", "x@example.pt", "--dept", "nowhere:agent"); err == nil || !strings.Contains(err.Error(), "departments") {
		t.Fatalf("add with an unknown department: %v", err)
	}
	token, err := run("token", "rita", "--label", "laptop")
	if err != nil || !strings.HasPrefix(token, api.MemberTokenPrefix) {
		t.Fatalf("token: %q %v", token, err)
	}
	if out, err := run("list"); err != nil || !strings.Contains(out, "rita") || !strings.Contains(out, "true") {
		t.Fatalf("list: %q %v", out, err)
	}
	if _, err := run("disable", "rita"); err != nil {
		t.Fatal(err)
	}
	if out, _ := run("list"); !strings.Contains(out, "false") {
		t.Fatalf("after disable: %q", out)
	}
	if _, err := run("token", "rita"); err == nil {
		t.Fatal("a token for a disabled member")
	}
	if _, err := run("fire", "rita"); err == nil {
		t.Fatal("an unknown subcommand")
	}
}
