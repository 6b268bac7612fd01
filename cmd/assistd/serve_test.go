package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/assistd/assistd/secret"
)

const testStaffToken = "staff-token-for-the-tests-of-the-command"

// A worker has no API, but its own counters must still reach Prometheus: with ASSISTD_OPS_ADDR
// it serves /metrics, /healthz and /readyz there, and nothing else.
func TestAWorkerServesItsMetricsOnTheOpsAddress(t *testing.T) {
	ops := freeAddr(t)
	t.Setenv("ASSISTD_OPS_ADDR", ops)
	serveRoles(t, "worker")
	waitHealthy(t, ops)
	if code, body := get("GET", ops, "/metrics", ""); code != http.StatusOK || !strings.Contains(body, "\nassistd_queue_up 1\n") {
		t.Fatalf("/metrics: %d\n%.300s", code, body)
	}
	if code, body := get("GET", ops, "/readyz", ""); code != http.StatusOK || !strings.Contains(body, `"redis":"ok"`) {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	if code, _ := get("GET", ops, "/api/v1/subjects", ""); code != http.StatusNotFound {
		t.Fatalf("the API on a worker's ops address: %d, want 404", code)
	}
}

// /metrics tells business volume: on the public listener only staff credentials read it, and
// a process with the api role also serves it openly on ASSISTD_OPS_ADDR, which an operator keeps
// off the public network.
func TestTheAPIServesItsMetricsToStaffAndOnTheOpsAddress(t *testing.T) {
	public, ops := freeAddr(t), freeAddr(t)
	t.Setenv("ASSISTD_HTTP_ADDR", public)
	t.Setenv("ASSISTD_OPS_ADDR", ops)
	t.Setenv("ASSISTD_API_TOKEN", testAPIToken)
	t.Setenv("ASSISTD_STAFF_TOKEN", testStaffToken)
	serveRoles(t, "api")
	waitHealthy(t, public)
	waitHealthy(t, ops)
	cases := []struct {
		name, addr, token string
		want              int
	}{
		{"anyone on the public listener is refused", public, "", http.StatusUnauthorized},
		{"the client-area token on the public listener is refused", public, testAPIToken, http.StatusUnauthorized},
		{"the staff token on the public listener reads it", public, testStaffToken, http.StatusOK},
		{"anyone on the ops address reads it", ops, "", http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := get("GET", c.addr, "/metrics", c.token)
			if code != c.want || (code == http.StatusOK) != strings.Contains(body, "assistd_http_request_duration_seconds") {
				t.Fatalf("%d %.200s, want %d", code, body, c.want)
			}
		})
	}
}

// serveRoles runs `assistd serve --roles roles` on SQLite and miniredis until the test ends.
func serveRoles(t *testing.T, roles string) {
	m := miniredis.RunT(t)
	t.Setenv("ASSISTD_SECRET_KEYS", secret.GenerateKey())
	t.Setenv("ASSISTD_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "w.db"))
	t.Setenv("ASSISTD_REDIS_URL", "redis://"+m.Addr()+"/0")
	t.Setenv("ASSISTD_LOG_LEVEL", "error")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dispatch(ctx, []string{"serve", "--roles", roles}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
}

func waitHealthy(t *testing.T, addr string) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := get("GET", addr, "/healthz", ""); code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing answered on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(method, addr, path, token string) (int, string) {
	req, _ := http.NewRequest(method, "http://"+addr+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
