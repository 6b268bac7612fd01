package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/mail/memimap"
	"github.com/assistd/assistd/mail/smtpsink"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage/storagetest"
)

const (
	testAPIToken = "client-area-token-for-the-tests-of-cmd"
	// shutdownBound is ASSISTD_SHUTDOWN_TIMEOUT in these tests; a process gets a few seconds
	// more to close its connections.
	shutdownBound = 5 * time.Second
)

// buildAssistd compiles the command once per test binary run.
func buildAssistd(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "assistd")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// An orchestrator stops a process with SIGTERM and counts on a clean exit: each role, alone and
// with the others, stops taking work, finishes what it holds within ASSISTD_SHUTDOWN_TIMEOUT,
// hands the mailbox back, and exits 0.
func TestSIGTERMStopsEachRoleAloneAndTogetherAndExitsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	bin := buildAssistd(t)
	box, err := memimap.Start("127.0.0.1:0", "suporte", "secret")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	sink, err := smtpsink.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()

	for _, roles := range []string{"api", "worker", "poller", "api,worker,poller"} {
		t.Run(roles, func(t *testing.T) {
			backends := storagetest.Backends(t)
			redisURL, rc := systemtest.RedisURL(t)
			addr := freeAddr(t)
			cmd := exec.Command(bin, "serve", "--roles", roles)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
				"ASSISTD_DATABASE_URL=" + backends[len(backends)-1].URL, "ASSISTD_REDIS_URL=" + redisURL,
				"ASSISTD_SMTP_URL=" + sink.URL(), "ASSISTD_IMAP_URL=" + box.URL(), "ASSISTD_IMAP_POLL_INTERVAL=1s",
				"ASSISTD_SECRET_KEYS=" + secret.GenerateKey(), "ASSISTD_API_TOKEN=" + testAPIToken,
				"ASSISTD_STAFF_TOKEN=staff-token-for-the-tests-of-the-command", "ASSISTD_HTTP_ADDR=" + addr, "ASSISTD_OPS_ADDR=" + addr,
				"ASSISTD_SHUTDOWN_TIMEOUT=" + shutdownBound.String(), "ASSISTD_LOG_LEVEL=warn"}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
					<-exited
				}
			})
			base := "http://" + addr
			waitFor(t, exited, &stderr, "/healthz to answer", func() bool {
				resp, err := http.Get(base + "/healthz")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			})
			var leaseKeys []string
			if strings.Contains(roles, "poller") {
				waitFor(t, exited, &stderr, "the mailbox lease", func() bool {
					leaseKeys, _ = rc.Keys(context.Background(), "assistd:imap:lease:*").Result()
					return len(leaseKeys) == 1
				})
			}

			// Work in flight when the signal comes: a request half sent, and emails being sent.
			var request net.Conn
			if strings.Contains(roles, "api") {
				request = startSlowRequest(t, addr)
			}
			sent := sink.Total()
			if strings.Contains(roles, "worker") && strings.Contains(roles, "api") {
				sending := make(chan struct{}, 2)
				sink.Reject(func(string, []string) *smtp.SMTPError {
					sending <- struct{}{}
					time.Sleep(time.Second) // a slow relay
					return nil
				})
				defer sink.Reject(nil)
				createTicket(t, base)
				select {
				case <-sending:
				case <-time.After(20 * time.Second):
					t.Fatalf("no email was being sent\n%s", stderr.String())
				}
			}

			signalled := time.Now()
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if request != nil {
				time.Sleep(200 * time.Millisecond)
				if status := finishSlowRequest(t, request); status != http.StatusNotFound {
					t.Errorf("the request in flight at SIGTERM got %d, want its answer (404 customer_not_found)", status)
				}
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("exit after SIGTERM: %v, want status 0\n%s", err, stderr.String())
				}
			case <-time.After(shutdownBound + 10*time.Second):
				t.Fatalf("still running %v after SIGTERM (shutdown timeout %v)\n%s", time.Since(signalled), shutdownBound, stderr.String())
			}
			if strings.Contains(roles, "worker") && strings.Contains(roles, "api") && sink.Total() < sent+2 {
				t.Errorf("%d emails delivered after SIGTERM, want the ticket's two that were being sent", sink.Total()-sent)
			}
			if _, err := http.Get(base + "/healthz"); err == nil {
				t.Error("the process still answers after it exited")
			}
			if len(leaseKeys) > 0 {
				if n, _ := rc.Exists(context.Background(), leaseKeys...).Result(); n != 0 {
					t.Error("the mailbox lease outlived the poller: another instance must wait for it to expire")
				}
			}
		})
	}
}

func waitFor(t *testing.T, exited chan error, stderr *strings.Builder, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case err := <-exited:
			t.Fatalf("exited before %s: %v\n%s", what, err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 30 s\n%s", what, stderr.String())
		}
	}
}

const slowBody = `{"subject_id": "email-account-setup", "domain": null, "message": "Outlook diz que a palavra-passe está errada."}`

// startSlowRequest sends a request's headers and half its body.
func startSlowRequest(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /api/v1/customers/nobody/tickets HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, testAPIToken, len(slowBody), slowBody[:10])
	time.Sleep(100 * time.Millisecond) // the server is reading the body
	return c
}

// finishSlowRequest sends the rest of the body and reads the answer's status.
func finishSlowRequest(t *testing.T, c net.Conn) int {
	t.Helper()
	if _, err := c.Write([]byte(slowBody[10:])); err != nil {
		t.Errorf("finishing the request: %v", err)
		return 0
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Errorf("reading the answer: %v", err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func createTicket(t *testing.T, base string) {
	t.Helper()
	do := func(method, path, body string, want int) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAPIToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d", method, path, resp.StatusCode, want)
		}
	}
	do(http.MethodPut, "/api/v1/customers/ana", `{"name": "Ana Silva", "email": "ana@example.pt", "language": "pt-PT", "domains": ["example.pt"]}`, http.StatusOK)
	do(http.MethodPost, "/api/v1/customers/ana/tickets", slowBody, http.StatusAccepted)
}
