package main

import (
	"context"
	"strings"
	"testing"
)

// A parse error quotes the whole URL, password included, and the bench's errors reach stderr:
// a malformed URL is refused before Dovecot starts, by the variable's name alone.
func TestAMalformedURLIsRefusedByItsNameWithoutItsPassword(t *testing.T) {
	cases := []struct{ name, database, redis string }{
		{"ASSISTD_DATABASE_URL", "postgresql://bench:hunter2@db/bench%zz", ""},
		{"ASSISTD_REDIS_URL", "", "rediss://:hunter2@127.0.0.1:6380/1%zz"},
	}
	for _, c := range cases {
		t.Setenv("ASSISTD_DATABASE_URL", c.database)
		t.Setenv("ASSISTD_REDIS_URL", c.redis)
		if err := run(context.Background(), []string{"-n", "1"}); err == nil || !strings.HasPrefix(err.Error(), c.name+":") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v, want a refusal naming %s without the password", err, c.name)
		}
	}
}
