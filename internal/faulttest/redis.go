package faulttest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server of the test's own, without persistence: stopping it loses its data,
// as a Redis restarted without a disk would.
type Redis struct {
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis runs redis-server on a free loopback port until cleanup, with extra settings
// (such as "--replicaof", "127.0.0.1", "6380") after its own. The test is skipped when there is
// no redis-server on PATH.
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: these faults need a redis-server binary on PATH to restart Redis without its data")
	}
	r := &Redis{port: freePort(t), dir: t.TempDir(), args: extra}
	r.Start(t)
	t.Cleanup(r.Stop)
	return r
}

// Addr is the server's host:port.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// URL is a redis:// URL of the server's database 0.
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// Start runs the server (again, after Stop) on its port, empty.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	args := append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log")}, r.args...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(r.done) }()
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			t.Fatalf("redis-server did not answer on %s:\n%s", r.Addr(), log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Port is the server's port.
func (r *Redis) Port() int { return r.port }

// Stop kills the server (SIGKILL); everything it held is gone.
func (r *Redis) Stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// FreeAddr is a loopback host:port nobody listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
}

// freePort asks the kernel for a port nobody listens on.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Services returns the Postgres URL the fault tests run on, or skips the test when the real
// services are not configured.
func Services(t testing.TB) string {
	t.Helper()
	pg, rd := os.Getenv("ASSISTD_TEST_DATABASE_URL"), os.Getenv("ASSISTD_TEST_REDIS_URL")
	if pg == "" || rd == "" {
		t.Skip("skipping fault test: set ASSISTD_TEST_DATABASE_URL (Postgres) and ASSISTD_TEST_REDIS_URL to run it on real services")
	}
	return pg
}

// BuildAssistd compiles cmd/assistd into a temporary folder and returns the binary's path.
func BuildAssistd(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "assistd")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/assistd/assistd/cmd/assistd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
