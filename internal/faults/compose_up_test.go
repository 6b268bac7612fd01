package faults

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/faulttest"
	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/secret"
)

// composeProject runs docker compose on the repository's docker-compose.yml as its own project.
type composeProject struct {
	t   *testing.T
	env []string
}

const (
	composeName    = "assistd-composetest"
	composeAPI     = "http://127.0.0.1:8080"
	composeMailpit = "http://127.0.0.1:8025"
	// composeConcurrency is the workers' default ASSISTD_WORKER_CONCURRENCY in docker-compose.yml.
	composeConcurrency = 50
)

func (p *composeProject) run(timeout time.Duration, args ...string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", append([]string{"compose", "-f", "../../docker-compose.yml", "-p", composeName}, args...)...)
	cmd.Env = p.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		p.t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestComposeUpScaledToThreeWorkersConfirmsEveryTicketOnce runs `docker compose up --build
// --scale worker=3` on the repository's docker-compose.yml and Dockerfile, then puts the
// containers through what the worker tests put processes through: tickets posted to the api
// container while one worker is killed with SIGKILL and another is stopped with `docker stop`
// (SIGTERM). Every ticket must be confirmed by Mailpit's count, once per Message-ID but for the
// tasks the killed worker had in flight. It needs a Docker engine, the compose plugin and the
// images the file names, so it runs only with ASSISTD_TEST_COMPOSE=1; it uses ports 8080 and
// 8025 on 127.0.0.1, as the file publishes them.
func TestComposeUpScaledToThreeWorkersConfirmsEveryTicketOnce(t *testing.T) {
	if os.Getenv("ASSISTD_TEST_COMPOSE") == "" {
		t.Skip("ASSISTD_TEST_COMPOSE=1 runs docker compose up --scale worker=3 (needs Docker, the compose plugin and the images)")
	}
	apiToken, staffToken := randomHex(t), randomHex(t)
	p := &composeProject{t: t, env: append(os.Environ(),
		"ASSISTD_SECRET_KEYS="+secret.GenerateKey(), "ASSISTD_API_TOKEN="+apiToken, "ASSISTD_STAFF_TOKEN="+staffToken)}
	p.run(time.Minute, "down", "-v", "--remove-orphans")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", p.run(time.Minute, "logs", "--tail", "40"))
		}
		p.run(2*time.Minute, "down", "-v", "--remove-orphans")
	})
	start := time.Now()
	p.run(20*time.Minute, "up", "--build", "--detach", "--wait", "--scale", "worker=3")
	t.Logf("up with three workers in %s", time.Since(start).Round(time.Second))
	systemtest.Eventually(t, time.Minute, "the api container to be ready", func() bool {
		code, _ := systemtest.Request(apiToken, "GET", composeAPI+"/readyz", nil)
		return code == http.StatusOK
	})
	workers := strings.Fields(p.run(time.Minute, "ps", "--quiet", "worker"))
	if len(workers) != 3 {
		t.Fatalf("%d worker containers running, want 3", len(workers))
	}

	if code, body := systemtest.Request(apiToken, "PUT", composeAPI+"/api/v1/customers/ana", map[string]any{"name": "Ana Silva",
		"email": "ana@example.pt", "language": "pt-PT", "domains": []string{"example.pt"}}); code != http.StatusOK {
		t.Fatalf("put customer: %d %s", code, body)
	}

	// Phase 1: a worker is killed with SIGKILL while the mail goes out.
	const n = 1000
	posted := composePost(t, apiToken, "kill", n)
	systemtest.Eventually(t, time.Minute, "a third of the first mail to arrive", func() bool { return mailpitTotal(t) >= 2*n/3 })
	docker(t, "kill", "--signal", "KILL", workers[0])
	sentAtKill := mailpitTotal(t)
	if sentAtKill >= 2*n {
		t.Fatalf("all mail was sent before the worker was killed: the test proves nothing")
	}
	numbers := posted()

	// Phase 2: another worker is stopped as docker stops it, with SIGTERM: it must exit 0 within
	// its shutdown bound, long before compose's stop_grace_period would send SIGKILL.
	posted = composePost(t, apiToken, "stop", n)
	systemtest.Eventually(t, time.Minute, "a third of the second mail to arrive", func() bool { return mailpitTotal(t) >= 2*n+2*n/3 })
	stopStart := time.Now()
	docker(t, "stop", workers[1])
	stopTook := time.Since(stopStart)
	if code := docker(t, "inspect", "--format", "{{.State.ExitCode}}", workers[1]); code != "0" || stopTook > 25*time.Second {
		t.Fatalf("worker after docker stop: exit code %s after %s, want 0 within the 20 s shutdown timeout", code, stopTook.Round(time.Millisecond))
	}
	numbers = append(numbers, posted()...)
	if len(numbers) != 2*n {
		t.Fatalf("%d tickets accepted of %d", len(numbers), 2*n)
	}

	// The last worker finishes everything: the killed worker's tasks come back when their lease
	// runs out and asynq's recoverer sees them.
	var d faulttest.Deliveries
	systemtest.Eventually(t, 4*time.Minute, "every ticket to be confirmed", func() bool {
		d = faulttest.DeliveriesOf(mailpitMessageIDs(t))
		ok, _ := d.Confirmed(numbers)
		return ok
	})
	time.Sleep(2 * time.Second)
	d = faulttest.DeliveriesOf(mailpitMessageIDs(t))
	if ok, missing := d.Confirmed(numbers); !ok {
		t.Fatal(missing)
	}
	if d.Duplicates() > 2*composeConcurrency {
		t.Fatalf("%d mails repeated a Message-ID; at most %d (two per task of the killed worker) were in flight", d.Duplicates(), 2*composeConcurrency)
	}
	t.Logf("%d tickets, %d mails, %d repeated; %d mails had arrived when the worker was killed; docker stop took %s",
		len(numbers), d.Total, d.Duplicates(), sentAtKill, stopTook.Round(time.Millisecond))
	logs := p.run(time.Minute, "logs", "api", "worker")
	if strings.Contains(logs, faulttest.Message) || strings.Contains(logs, "s3gredo-de-teste") {
		t.Errorf("a message body or a password is in the containers' logs")
	}
}

// composePost starts posting n tickets from 16 clients and returns at once; wait blocks until
// all have answered and gives the numbers accepted. Any other answer fails the test.
func composePost(t *testing.T, token, prefix string, n int) (wait func() []string) {
	var (
		mu      sync.Mutex
		numbers = make([]string, 0, n)
		wg      sync.WaitGroup
		next    = make(chan int)
	)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				code, body := systemtest.Request(token, "POST", composeAPI+"/api/v1/customers/ana/tickets", map[string]any{
					"subject_id": "hosting-site-down", "domain": "example.pt", "message": faulttest.Message,
					"password": "s3gredo-de-teste"}, "Idempotency-Key", fmt.Sprintf("%s-%d", prefix, i))
				var out struct {
					Number string `json:"number"`
				}
				if code != http.StatusAccepted || json.Unmarshal(body, &out) != nil {
					t.Errorf("ticket %s-%d: %d %s", prefix, i, code, body)
					continue
				}
				mu.Lock()
				numbers = append(numbers, out.Number)
				mu.Unlock()
			}
		})
	}
	go func() {
		for i := range n {
			next <- i
		}
		close(next)
	}()
	return func() []string {
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return numbers
	}
}

// mailpitPage is the part of Mailpit's message list the test reads.
type mailpitPage struct {
	Total    int `json:"total"`
	Messages []struct {
		MessageID string `json:"MessageID"`
	} `json:"messages"`
}

func mailpitList(t *testing.T, start, limit int) mailpitPage {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/api/v1/messages?start=%d&limit=%d", composeMailpit, start, limit))
	if err != nil {
		t.Fatalf("mailpit: %v", err)
	}
	defer resp.Body.Close()
	var page mailpitPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatalf("mailpit: %v", err)
	}
	return page
}

func mailpitTotal(t *testing.T) int { return mailpitList(t, 0, 1).Total }

func mailpitMessageIDs(t *testing.T) []string {
	var ids []string
	for start := 0; ; start += 1000 {
		page := mailpitList(t, start, 1000)
		for _, m := range page.Messages {
			ids = append(ids, m.MessageID)
		}
		if start+1000 >= page.Total {
			return ids
		}
	}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
