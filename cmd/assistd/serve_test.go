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

// A worker has no API, but its own counters must still reach Prometheus: with ASSISTD_OPS_ADDR
// it serves /metrics, /healthz and /readyz there, and nothing else.
func TestAWorkerServesItsMetricsOnTheOpsAddress(t *testing.T) {
	m := miniredis.RunT(t)
	addr := freeAddr(t)
	t.Setenv("ASSISTD_SECRET_KEYS", secret.GenerateKey())
	t.Setenv("ASSISTD_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "w.db"))
	t.Setenv("ASSISTD_REDIS_URL", "redis://"+m.Addr()+"/0")
	t.Setenv("ASSISTD_OPS_ADDR", addr)
	t.Setenv("ASSISTD_LOG_LEVEL", "error")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dispatch(ctx, []string{"serve", "--roles", "worker"}) }()
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

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := get("/healthz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker never answered on its ops address")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "\nassistd_queue_up 1\n") {
		t.Fatalf("/metrics: %d\n%.300s", code, body)
	}
	if code, body := get("/readyz"); code != http.StatusOK || !strings.Contains(body, `"redis":"ok"`) {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	if code, _ := get("/api/v1/subjects"); code != http.StatusNotFound {
		t.Fatalf("the API on a worker's ops address: %d, want 404", code)
	}
}
