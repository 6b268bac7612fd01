// Package faults checks that assistd keeps every ticket and every email through the outages an
// operator meets: an SMTP relay that defers, refuses or disappears, a Redis that goes away or
// comes back empty, a Postgres that stops answering, and a worker killed mid-run. Each test runs
// on real services (ASSISTD_TEST_DATABASE_URL, a private redis-server) and is skipped otherwise.
package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/assistd/assistd/internal/faulttest"
	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/metrics"
)

// outage is how long Redis and the SMTP relay stay away in the tests that say "for 30 s".
const outage = 30 * time.Second

// createTickets posts n tickets for a customer and fails the test unless each is accepted.
func createTickets(t *testing.T, s *faulttest.System, customer, prefix string, n int) []string {
	t.Helper()
	var numbers []string
	for i := range n {
		code, number := s.CreateTicket(customer, fmt.Sprintf("%s-%d", prefix, i))
		if code != http.StatusAccepted {
			t.Fatalf("ticket %s-%d: %d, want 202", prefix, i, code)
		}
		numbers = append(numbers, number)
	}
	return numbers
}

// waitConfirmed waits until every ticket has its confirmation and its department notification,
// then a moment more for any duplicate to show itself, and fails on a duplicate.
func waitConfirmed(t *testing.T, s *faulttest.System, numbers []string, timeout time.Duration) faulttest.Deliveries {
	t.Helper()
	var why string
	deadline := time.Now().Add(timeout)
	for {
		ok, w := s.Delivered().Confirmed(numbers)
		if ok {
			break
		}
		why = w
		if time.Now().After(deadline) {
			t.Fatalf("after %s not every ticket was confirmed: %s", timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	d := s.Delivered()
	if d.Duplicates() != 0 {
		t.Fatalf("%d mail(s) sent twice with the same Message-ID", d.Duplicates())
	}
	if d.Total != 2*len(numbers) {
		t.Fatalf("%d mails for %d tickets, want %d", d.Total, len(numbers), 2*len(numbers))
	}
	return d
}

func outboxCount(t *testing.T, s *faulttest.System, where string) int {
	t.Helper()
	var n int
	if err := s.Check.DB().Get(&n, `SELECT COUNT(*) FROM outbox WHERE `+where); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSMTPDeferringForAWhileDeliversEveryEmailOnceAfterwards(t *testing.T) {
	t.Parallel()
	s := faulttest.Start(t, faulttest.Options{})
	s.PutCustomer(t, "ana", "ana@example.pt")
	var deferred atomic.Int64
	s.Sink.Reject(func(string, []string) *smtp.SMTPError {
		deferred.Add(1)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	})
	numbers := createTickets(t, s, "ana", "deferred", 10)
	systemtest.Eventually(t, 20*time.Second, "every email to be deferred once", func() bool {
		return outboxCount(t, s, `task = 'email:send' AND state = 'pending' AND attempts > 0`) == 20
	})
	s.Sink.Reject(nil)
	waitConfirmed(t, s, numbers, time.Minute)
	if deferred.Load() < 20 {
		t.Fatalf("the relay deferred %d attempts, want at least 20", deferred.Load())
	}
	if n := outboxCount(t, s, `task = 'email:send' AND state <> 'done'`); n != 0 {
		t.Fatalf("%d outbox email(s) not done", n)
	}
	s.AssertNoMessageInLogs(t)
}

func TestSMTPDownFor30sDeliversEveryEmailOnceAfterwards(t *testing.T) {
	t.Parallel()
	s := faulttest.Start(t, faulttest.Options{})
	s.PutCustomer(t, "ana", "ana@example.pt")
	s.SMTPProxy.Cut()
	start := time.Now()
	numbers := createTickets(t, s, "ana", "down", 10)
	systemtest.Eventually(t, 20*time.Second, "every email to fail once", func() bool {
		return outboxCount(t, s, `task = 'email:send' AND attempts > 0`) == 20
	})
	time.Sleep(time.Until(start.Add(outage)))
	if n := s.Sink.Total(); n != 0 {
		t.Fatalf("%d mails arrived while the relay was down", n)
	}
	s.SMTPProxy.Restore(t)
	waitConfirmed(t, s, numbers, 90*time.Second)
	s.AssertNoMessageInLogs(t)
}

func TestSMTPRefusingOneAddressFailsThatEmailOnly(t *testing.T) {
	t.Parallel()
	s := faulttest.Start(t, faulttest.Options{})
	s.PutCustomer(t, "ana", "ana@example.pt")
	s.PutCustomer(t, "rui", "rui@nowhere.example.pt")
	s.Sink.Reject(func(_ string, to []string) *smtp.SMTPError {
		if to[0] == "rui@nowhere.example.pt" {
			// As some relays answer: in Latin-1, which is not text Postgres stores as it is.
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Utilizador n\xe3o existe"}
		}
		return nil
	})
	failedBefore := emailsFailed(t, "confirmation")
	good := createTickets(t, s, "ana", "good", 3)
	bad := createTickets(t, s, "rui", "bad", 1)[0]
	systemtest.Eventually(t, 30*time.Second, "the other customer's tickets to be confirmed", func() bool {
		ok, _ := s.Delivered().Confirmed(good)
		return ok
	})

	systemtest.Eventually(t, 30*time.Second, "the refused confirmation to be marked failed", func() bool {
		return outboxCount(t, s, `kind = 'confirmation' AND state = 'failed'`) == 1
	})
	failed, err := s.Check.FailedEmails(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || failed[0].Recipient == nil || *failed[0].Recipient != "rui@nowhere.example.pt" ||
		failed[0].LastError == nil || !strings.Contains(*failed[0].LastError, "SMTP error 550: Utilizador n\uFFFDo existe") || failed[0].Attempts != 1 {
		t.Fatalf("staff see failed emails %+v, want rui's confirmation, refused with 550 at the first attempt", failed)
	}
	if got := emailsFailed(t, "confirmation") - failedBefore; got != 1 {
		t.Fatalf("assistd_emails_total{kind=confirmation,result=failed} rose by %v, want 1", got)
	}
	// The department still hears of rui's ticket; the others are untouched.
	systemtest.Eventually(t, 10*time.Second, "the department notification of the refused customer's ticket", func() bool {
		return s.Delivered().Kinds[bad]["department"] == 1
	})
	if d := s.Delivered(); d.Kinds[bad]["confirmation"] != 0 || d.Total != 7 || d.Duplicates() != 0 {
		t.Fatalf("%d mails (%d duplicates), rui's ticket %v; want 7 mails, none to rui", d.Total, d.Duplicates(), d.Kinds[bad])
	}
	if n := outboxCount(t, s, `state = 'pending'`); n != 0 {
		t.Fatalf("%d outbox row(s) still pending", n)
	}
	s.AssertNoMessageInLogs(t)
}

// emailsFailed reads assistd_emails_total{kind,result="failed"} from the registry /metrics serves.
func emailsFailed(t *testing.T, kind string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "assistd_emails_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind && labels["result"] == "failed" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestRedisDownFor30sLosesNoTicket(t *testing.T) {
	t.Parallel()
	s := faulttest.Start(t, faulttest.Options{})
	s.PutCustomer(t, "ana", "ana@example.pt")
	numbers := createTickets(t, s, "ana", "before", 5)

	s.RedisProxy.Cut()
	start := time.Now()
	for i := 0; time.Since(start) < outage; i++ {
		t0 := time.Now()
		code, number := s.CreateTicket("ana", fmt.Sprintf("during-%d", i))
		if code != http.StatusAccepted {
			t.Fatalf("ticket created while Redis is down: %d, want 202", code)
		}
		if d := time.Since(t0); d > 3*time.Second {
			t.Fatalf("a ticket took %s to be accepted while Redis is down", d)
		}
		numbers = append(numbers, number)
		time.Sleep(2 * time.Second)
	}
	if code, body := s.Do("GET", "/readyz", nil); code != http.StatusServiceUnavailable || !strings.Contains(string(body), `"redis":"unavailable"`) {
		t.Fatalf("/readyz while Redis is down: %d %s", code, body)
	}
	s.RedisProxy.Restore(t)
	numbers = append(numbers, createTickets(t, s, "ana", "after", 5)...)
	waitConfirmed(t, s, numbers, 90*time.Second)
	s.AssertNoMessageInLogs(t)
}

func TestRedisRestartedWithoutItsDataLosesNoTicket(t *testing.T) {
	t.Parallel()
	s := faulttest.Start(t, faulttest.Options{})
	s.PutCustomer(t, "ana", "ana@example.pt")
	// Emails waiting in asynq's retry set, and tickets waiting in its pending list, when Redis
	// loses everything.
	s.Sink.Reject(func(string, []string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Busy"}
	})
	numbers := createTickets(t, s, "ana", "retrying", 5)
	systemtest.Eventually(t, 20*time.Second, "the emails to be in asynq's retry set", func() bool {
		return outboxCount(t, s, `task = 'email:send' AND attempts > 0`) == 10
	})
	s.StopWorker()
	numbers = append(numbers, createTickets(t, s, "ana", "pending", 5)...)

	s.RedisServer.Stop()
	numbers = append(numbers, createTickets(t, s, "ana", "down", 5)...)
	s.RedisServer.Start(t)
	s.Sink.Reject(nil)
	s.StartWorker(t)
	numbers = append(numbers, createTickets(t, s, "ana", "after", 5)...)
	waitConfirmed(t, s, numbers, 90*time.Second)
	s.AssertNoMessageInLogs(t)
}

func TestPostgresDownAnswers503AndLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	s := faulttest.Start(t, faulttest.Options{NoWorker: true})
	s.PutCustomer(t, "ana", "ana@example.pt")
	numbers := createTickets(t, s, "ana", "acknowledged", 10)

	s.PostgresProxy.Cut()
	s.StartWorker(t) // finds Postgres away: its tasks fail and are retried
	for i := range 5 {
		t0 := time.Now()
		code, body := s.Do("POST", "/api/v1/customers/ana/tickets", map[string]any{"subject_id": "hosting-site-down", "domain": "example.pt",
			"message": faulttest.Message}, "Idempotency-Key", fmt.Sprintf("during-%d", i))
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(body, &e)
		if code != http.StatusServiceUnavailable || e.Error.Code != "database_unavailable" {
			t.Fatalf("ticket while Postgres is down: %d %s, want 503 database_unavailable", code, body)
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Fatalf("the 503 took %s", d)
		}
	}
	if code, _ := s.Do("GET", "/readyz", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while Postgres is down: %d, want 503", code)
	}
	time.Sleep(5 * time.Second)
	if n := s.Sink.Total(); n != 0 {
		t.Fatalf("%d mails sent while Postgres was down", n)
	}
	s.PostgresProxy.Restore(t)

	numbers = append(numbers, createTickets(t, s, "ana", "after", 2)...)
	// ticket:create retries after 15 to 45 s (asynq's default backoff).
	waitConfirmed(t, s, numbers, 2*time.Minute)
	var stored, during int
	if err := s.Check.DB().Get(&stored, `SELECT COUNT(*) FROM tickets`); err != nil {
		t.Fatal(err)
	}
	if err := s.Check.DB().Get(&during, `SELECT COUNT(*) FROM tickets WHERE idempotency_key LIKE 'during-%'`); err != nil {
		t.Fatal(err)
	}
	if stored != len(numbers) || during != 0 {
		t.Fatalf("%d tickets stored (%d from the outage), want %d and none", stored, during, len(numbers))
	}
	s.AssertNoMessageInLogs(t)
}

// killRecoveryBound is how long after a worker's SIGKILL its tasks are done at worst: 30 s of
// lease, 30 s of asynq's allowance for clock skew, up to 60 s to the recoverer's next pass, and
// some slack for a busy machine.
const killRecoveryBound = 2*time.Minute + 15*time.Second

// workerConcurrency is how many tasks each worker process of the kill test runs at once.
const workerConcurrency = 20

func TestAWorkerKilledMidRunLosesNoTicket(t *testing.T) {
	t.Parallel()
	s := faulttest.Start(t, faulttest.Options{NoWorker: true})
	bin := faulttest.BuildAssistd(t)
	const smtpPool = 4
	// A slow relay keeps many emails in flight when the worker dies.
	s.Sink.Reject(func(string, []string) *smtp.SMTPError {
		time.Sleep(40 * time.Millisecond)
		return nil
	})
	s.PutCustomer(t, "ana", "ana@example.pt")
	workers := make([]*exec.Cmd, 3)
	exited := make([]chan error, 3)
	for i := range workers {
		workers[i], exited[i] = startWorker(t, bin, s, i, smtpPool)
	}
	const n = 150
	numbers := make([]string, 0, n)
	for i := range n {
		code, number := s.CreateTicket("ana", fmt.Sprintf("load-%d", i))
		if code != http.StatusAccepted {
			t.Fatalf("ticket %d: %d", i, code)
		}
		numbers = append(numbers, number)
	}
	systemtest.Eventually(t, time.Minute, "a third of the mail to arrive", func() bool { return s.Sink.Total() >= 2*n/3 })
	if err := workers[0].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-exited[0]
	if left := 2*n - s.Sink.Total(); left <= 0 {
		t.Fatalf("all mail was sent before the worker was killed: the test proves nothing")
	}
	// ticket:create sends a ticket's two mails and then records them; only a ticket not yet
	// recorded when the worker died can see its mails sent again.
	var unrecorded []string
	if err := s.Check.DB().Select(&unrecorded, `SELECT number FROM tickets WHERE processed_at IS NULL`); err != nil {
		t.Fatal(err)
	}

	// A SIGTERM is graceful: the worker stops taking work and exits within its shutdown bound.
	if err := workers[1].Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited[1]:
		if err != nil {
			t.Fatalf("worker 1 after SIGTERM: %v, want a clean exit", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("worker 1 still running 15 s after SIGTERM (shutdown bound 5 s)")
	}

	// The killed worker's tasks come back once their lease (30 s, renewed every 5 s) has been
	// expired for 30 s, at the surviving worker's recoverer's next pass (every minute), and run
	// at once: two minutes at worst, plus a moment for the forwarder and the work itself.
	systemtest.Eventually(t, killRecoveryBound, "every ticket to be confirmed", func() bool {
		ok, _ := s.Delivered().Confirmed(numbers)
		return ok
	})
	recovered := time.Since(killed)
	time.Sleep(2 * time.Second)
	d := s.Delivered()
	for number, n := range d.RepeatedTickets() {
		if !slices.Contains(unrecorded, number) {
			t.Errorf("ticket %s: %d mail(s) sent again, though its processing was recorded before the kill", number, n)
		}
	}
	if d.Duplicates() > 2*workerConcurrency {
		t.Fatalf("%d mails repeated a Message-ID; at most %d (two per task of the killed worker) were in flight", d.Duplicates(), 2*workerConcurrency)
	}
	t.Logf("%d mails for %d tickets, %d repeated after the kill; every ticket confirmed %s after the kill", d.Total, n, d.Duplicates(), recovered.Round(time.Second))
	if recovered < 55*time.Second {
		// A task of the killed worker comes back 55 s after the kill at the earliest.
		t.Logf("the killed worker held no unfinished ticket: this run did not measure how long its tickets wait")
	}
	var unprocessed int
	if err := s.Check.DB().Get(&unprocessed, `SELECT COUNT(*) FROM tickets WHERE processed_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	if unprocessed != 0 || outboxCount(t, s, `state <> 'done'`) != 0 {
		t.Fatalf("%d ticket(s) unprocessed, %d outbox row(s) not done", unprocessed, outboxCount(t, s, `state <> 'done'`))
	}
}

// startWorker runs `assistd serve --roles worker` on the system's services.
func startWorker(t *testing.T, bin string, s *faulttest.System, i, smtpPool int) (*exec.Cmd, chan error) {
	t.Helper()
	return startAssistd(t, bin, fmt.Sprintf("worker %d", i), "worker",
		"ASSISTD_DATABASE_URL="+s.DatabaseURL, "ASSISTD_REDIS_URL="+s.RedisURL, "ASSISTD_SMTP_URL="+s.Sink.URL(),
		"ASSISTD_SECRET_KEYS="+s.KeySpec, "ASSISTD_MIGRATE=false", fmt.Sprintf("ASSISTD_SMTP_POOL=%d", smtpPool))
}

// startAssistd runs `assistd serve --roles ROLES` with the fault systems' settings and the given
// ones (NAME=value, which win), logging to a file shown when the test fails; a message body in
// that log fails the test.
func startAssistd(t *testing.T, bin, name, roles string, env ...string) (*exec.Cmd, chan error) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), strings.ReplaceAll(name, " ", "-")+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--roles", roles)
	cmd.Env = append(append(os.Environ(), "ASSISTD_MAIL_FROM="+systemtest.MailFrom, "ASSISTD_PUBLIC_URL="+systemtest.PublicURL,
		"ASSISTD_WORKER_CONCURRENCY="+strconv.Itoa(workerConcurrency), "ASSISTD_SHUTDOWN_TIMEOUT=5s", "ASSISTD_LOG_LEVEL=info"), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, readFile(logPath))
		}
		if strings.Contains(readFile(logPath), faulttest.Message) {
			t.Errorf("%s logged a message body", name)
		}
	})
	return cmd, exited
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
