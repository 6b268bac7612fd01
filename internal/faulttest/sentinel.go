package faulttest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/redis/go-redis/v9"
)

// MasterName is the name the Sentinel of StartSentinel monitors.
const MasterName = "assistd"

// Sentinel is a Redis master, its replica and one Sentinel watching them, all of the test's
// own: the smallest deployment in which losing the master promotes the replica.
type Sentinel struct {
	Master, Replica *Redis
	port            int
	dir             string
	cmd             *exec.Cmd
	done            chan struct{}
}

// StartSentinel runs a master, a replica and a Sentinel (Debian's redis-server with --sentinel)
// on free loopback ports until cleanup, and waits until the Sentinel knows the replica, so that
// a failover can promote it. The Sentinel declares a master down after 1 s without an answer.
// The test is skipped when there is no redis-server on PATH.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	master := StartRedis(t)
	replica := StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port()))
	s := &Sentinel{Master: master, Replica: replica, port: freePort(t), dir: t.TempDir()}
	conf := filepath.Join(s.dir, "sentinel.conf")
	// Sentinel rewrites its configuration file as it learns: it must be a writable file.
	if err := os.WriteFile(conf, fmt.Appendf(nil, `port %d
bind 127.0.0.1
dir %s
logfile %s
sentinel monitor %s 127.0.0.1 %d 1
sentinel down-after-milliseconds %[4]s 1000
sentinel failover-timeout %[4]s 5000
`, s.port, s.dir, filepath.Join(s.dir, "sentinel.log"), MasterName, master.Port()), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command("redis-server", conf, "--sentinel")
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("redis-server --sentinel: %v", err)
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("sentinel log:\n%s", s.Log())
		}
	})

	sc := s.client()
	defer sc.Close()
	systemtest.Eventually(t, 30*time.Second, "the Sentinel to see the master and its replica", func() bool {
		replicas, err := sc.Replicas(context.Background(), MasterName).Result()
		if err != nil {
			return false
		}
		for _, r := range replicas {
			if r["port"] == strconv.Itoa(replica.Port()) && !strings.Contains(r["flags"], "down") && r["master-link-status"] == "ok" {
				return true
			}
		}
		return false
	})
	return s
}

// URL is the redis-sentinel:// URL of the monitored master, as ASSISTD_REDIS_URL takes it.
func (s *Sentinel) URL() string {
	return fmt.Sprintf("redis-sentinel://%s?master=%s", s.Addr(), MasterName)
}

// Addr is the Sentinel's host:port.
func (s *Sentinel) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// MasterPort is the port of the master the Sentinel names now, or 0 when it cannot say.
func (s *Sentinel) MasterPort(ctx context.Context) int {
	sc := s.client()
	defer sc.Close()
	addr, err := sc.GetMasterAddrByName(ctx, MasterName).Result()
	if err != nil || len(addr) != 2 {
		return 0
	}
	port, _ := strconv.Atoi(addr[1])
	return port
}

// Log is what the Sentinel wrote to its log file.
func (s *Sentinel) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "sentinel.log"))
	return string(b)
}

func (s *Sentinel) client() *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: s.Addr()})
}
