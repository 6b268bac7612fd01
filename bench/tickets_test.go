package bench

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/assistd/assistd/storage/storagetest"
)

// runEmbedded runs the benchmark on SQLite and miniredis.
func runEmbedded(t *testing.T, cfg TicketsConfig) TicketsReport {
	t.Helper()
	m := miniredis.RunT(t)
	m.ClockTTL(true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg.DatabaseURL, cfg.RedisURL = "sqlite:"+filepath.Join(t.TempDir(), "bench.db"), "redis://"+m.Addr()+"/0"
	rep, err := RunTickets(ctx, cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, rep)
	}
	return rep
}

func TestRunTicketsConfirmsEveryTicketAndReportsTheRatio(t *testing.T) {
	rep := runEmbedded(t, TicketsConfig{N: 40, Concurrency: 4, WorkerConcurrency: 8, SMTPPool: 2, NoopTasks: 200})
	if rep.Accepted != 40 || rep.TicketsPerSecond <= 0 || rep.P50 <= 0 || rep.P99 < rep.P50 || rep.NoopPerSecond <= 0 || rep.NoopBefore <= 0 || rep.NoopAfter <= 0 || rep.NoopPerSecond != max(rep.NoopBefore, rep.NoopAfter) || rep.Ratio <= 0 || rep.PeakRSS <= 0 {
		t.Fatalf("report lacks figures:\n%s", rep)
	}
	if !strings.Contains(rep.String(), "ratio") {
		t.Fatalf("report:\n%s", rep)
	}
	if runtime.GOOS == "linux" {
		for name, c := range map[string]CPUUse{"tickets": rep.CPU, "no-op tasks": rep.NoopCPU} {
			if c.User <= 0 || c.Kernel < 0 || c.MachineBusy < 0 || c.MachineBusy > 1 || c.Cores != runtime.NumCPU() {
				t.Errorf("CPU of the %s: %+v", name, c)
			}
		}
		if !strings.Contains(rep.String(), "CPU per ticket") || !strings.Contains(rep.String(), "CPU per no-op task") {
			t.Errorf("report without its CPU lines:\n%s", rep)
		}
	}
}

func TestCPUUseIsPerItemAndTheMachineShareIsOfItsTicks(t *testing.T) {
	before := cpuSample{user: time.Second, system: 2 * time.Second, busy: 100, total: 400}
	after := cpuSample{user: 3 * time.Second, system: 3 * time.Second, busy: 250, total: 600}
	u := cpuUse(before, after, 1000)
	if u.User != 2*time.Millisecond || u.Kernel != time.Millisecond || u.MachineBusy != 0.75 {
		t.Fatalf("%+v", u)
	}
	rep := TicketsReport{CPU: u}
	if line := "CPU per ticket     3000µs in this process (user 2000µs, kernel 1000µs); the machine 75 % busy"; !strings.Contains(rep.String(), line) {
		t.Fatalf("want %q in\n%s", line, rep)
	}
	// No ticket accepted, or a machine without /proc/stat: no figure rather than a division by zero.
	if u := cpuUse(before, cpuSample{user: time.Second, system: 2 * time.Second}, 0); u.User != 0 || u.Kernel != 0 || u.MachineBusy != 0 {
		t.Fatalf("%+v", u)
	}
	if strings.Contains(TicketsReport{}.String(), "CPU per") {
		t.Fatalf("a report without CPU figures prints them:\n%s", TicketsReport{})
	}
}

// With -rate the tickets are offered on a schedule, not as fast as the clients go: 30 tickets at
// 100 a second take at least 0.29 s however fast the system is.
func TestRunTicketsAtARatePacesThePosts(t *testing.T) {
	rep := runEmbedded(t, TicketsConfig{N: 30, Concurrency: 2, Rate: 100, WorkerConcurrency: 4, SMTPPool: 2, NoopTasks: 50})
	if rep.Accepted != 30 || rep.Elapsed < 290*time.Millisecond || !strings.Contains(rep.String(), "100 tickets/s offered") {
		t.Fatalf("accepted %d in %v:\n%s", rep.Accepted, rep.Elapsed, rep)
	}
}

func TestRunTicketsRefusesARedisDatabaseInUse(t *testing.T) {
	m := miniredis.RunT(t)
	m.Set("someone-else", "x")
	_, err := RunTickets(context.Background(), TicketsConfig{DatabaseURL: "sqlite:" + filepath.Join(t.TempDir(), "bench.db"), RedisURL: "redis://" + m.Addr() + "/0", N: 1})
	if err == nil || !strings.Contains(err.Error(), "-flush") {
		t.Fatalf("err = %v, want a refusal naming -flush", err)
	}
	if !m.Exists("someone-else") {
		t.Fatal("the benchmark touched a database it was not given")
	}
}

// On the real services the run goes through the grouped Postgres statements: the report says how
// many calls each carried, and every ticket is still confirmed once.
func TestRunTicketsOnPostgresAndRedisReportsGroupedStatements(t *testing.T) {
	redisURL := os.Getenv("ASSISTD_TEST_REDIS_URL")
	var pg *storagetest.Backend
	for _, b := range storagetest.Backends(t) {
		if b.Name == "postgres" {
			pg = &b
		}
	}
	if pg == nil || redisURL == "" {
		t.Skip("ASSISTD_TEST_DATABASE_URL and ASSISTD_TEST_REDIS_URL are not both set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := RunTickets(ctx, TicketsConfig{DatabaseURL: pg.URL, RedisURL: redisURL, Flush: true,
		N: 400, Concurrency: 16, NoopTasks: 500})
	if err != nil {
		t.Fatalf("%v\n%s", err, rep)
	}
	if rep.Accepted != 400 || rep.Failed != 0 || rep.Ratio <= 0 {
		t.Fatalf("report:\n%s", rep)
	}
	for _, name := range []string{"customer", "intake", "new_ticket_read", "ticket_processed"} {
		if rep.Grouped[name] < 1 {
			t.Fatalf("no grouped %s statement in the report:\n%s", name, rep)
		}
	}
	if !strings.Contains(rep.String(), "calls per statement") {
		t.Fatalf("report:\n%s", rep)
	}
	t.Logf("\n%s", rep)
}

func TestTheSinkReadsTheMessageIDOfTheHeaderOnly(t *testing.T) {
	msg := []byte("Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <pedido.20261126-AB12CD.confirmation.x.y@example.pt>\r\nSubject: s\r\n\r\nMessage-Id: <pedido.1.department.x.y@example.pt>\r\n")
	number, kind, ok := messageIDParts(msg)
	if !ok || number != "20261126-AB12CD" || kind != "confirmation" {
		t.Fatalf("got %q %q %v", number, kind, ok)
	}
	if _, _, ok := messageIDParts([]byte("Subject: s\r\n\r\nMessage-Id: <pedido.1.confirmation.x.y@example.pt>\r\n")); ok {
		t.Fatal("a Message-Id in the body was taken for the header's")
	}
	if _, _, ok := messageIDParts([]byte("Message-Id: <unrelated@example.pt>\r\n\r\n")); ok {
		t.Fatal("a foreign Message-Id was read as a ticket's")
	}
}
