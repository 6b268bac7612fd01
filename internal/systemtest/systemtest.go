// Package systemtest starts a whole assistd for tests, on real parts: a database of each backend
// (SQLite, and Postgres when ASSISTD_TEST_DATABASE_URL is set), Redis (a real one when
// ASSISTD_TEST_REDIS_URL is set, else miniredis with its clock running), an in-process SMTP
// server, the worker and the HTTP API.
package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/assembly"
	"github.com/assistd/assistd/internal/redisconn"
	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/mail/smtpsink"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
	"github.com/assistd/assistd/worker"
)

// Tokens the test servers accept, and the key of their staff sign-in links.
const (
	APIToken        = "test-api-token"
	StaffToken      = "test-staff-token"
	StaffLinkSecret = "test-staff-link-secret"
)

// Admins are the members every test system has: admins of every department, so that tests
// acting as them with the service token reach every ticket.
var Admins = []string{"joao", "maria"}

// AsJoao is the header, to pass to Do or Request, with which a call with the service token acts
// as the admin member joao.
var AsJoao = []string{api.StaffMemberHeader, "joao"}

// Settings of every test system, shared with assistd processes started by the tests.
const (
	MailFrom  = "Apoio ao Cliente <suporte@suporte.example.pt>"
	PublicURL = "https://clientes.example.pt"
)

// Options change the defaults of a test system.
type Options struct {
	SecretTTL      time.Duration
	AutoCloseAfter time.Duration
	Periods        []jobs.Period
	// NoWorker starts only the API (tests that run the worker themselves or without Redis).
	NoWorker bool

	// Redis, when set, is the system's Redis instead of RedisURL's.
	Redis *redis.Client
	// SMTPVia, when set, gives the address the sender dials to reach the sink at addr (a
	// proxy's).
	SMTPVia func(addr string) string
	// SMTPTimeout is the sender's; 0 means 10s.
	SMTPTimeout time.Duration
	// AttachmentsURL is the object store ("" : a folder in the test's temporary directory);
	// ClamdAddr, when set, the clamd that scans uploads; AttachmentMaxBytes the size limit.
	AttachmentsURL     string
	ClamdAddr          string
	AttachmentMaxBytes int64
	// Worker is the worker's concurrency and intervals; zero means 10 tasks at once, delayed
	// tasks checked every 200 ms and queues every 50 ms. Its Periods are Options.Periods.
	Worker worker.Config
}

// System is a running assistd.
type System struct {
	Backend  string
	Store    *storage.Store
	Redis    *redis.Client
	Mini     *miniredis.Miniredis // nil on real Redis
	Sink     *smtpsink.Sink
	Keys     *secret.Keyring
	KeySpec  string // the ASSISTD_SECRET_KEYS value of Keys
	IDs      *mail.IDSigner
	Composer *mail.Composer
	Deps     *jobs.Deps
	API      *api.Server
	HTTP     *httptest.Server
	Log      *LogBuffer
	// AttachmentsURL is the system's object store.
	AttachmentsURL string

	assembly   *assembly.System
	opts       Options
	mu         sync.Mutex
	stopWorker func()
}

// Each runs fn on a fresh system per database backend.
func Each(t *testing.T, opts Options, fn func(t *testing.T, s *System)) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) { fn(t, Start(t, b, opts)) })
	}
}

// Start builds a system on one backend; everything stops at cleanup.
func Start(t *testing.T, b storagetest.Backend, opts Options) *System {
	t.Helper()
	if opts.SecretTTL == 0 {
		opts.SecretTTL = 72 * time.Hour
	}
	if opts.AutoCloseAfter == 0 {
		opts.AutoCloseAfter = 168 * time.Hour
	}
	if opts.Periods == nil {
		opts.Periods = worker.DefaultPeriods()
	}
	if opts.SMTPTimeout == 0 {
		opts.SMTPTimeout = 10 * time.Second
	}
	if opts.Worker.Concurrency == 0 {
		opts.Worker = worker.Config{Concurrency: 10, DelayedTaskCheckInterval: 200 * time.Millisecond, TaskCheckInterval: 50 * time.Millisecond}
	}
	opts.Worker.ShutdownTimeout, opts.Worker.Periods = 5*time.Second, opts.Periods
	s := &System{Backend: b.Name, Store: storagetest.Open(t, b), Log: &LogBuffer{}, opts: opts}
	if s.Redis = opts.Redis; s.Redis == nil {
		_, s.Redis, s.Mini = newRedis(t)
	}
	sink, err := smtpsink.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	s.Sink = sink
	smtpAddr := sink.Addr()
	if opts.SMTPVia != nil {
		smtpAddr = opts.SMTPVia(smtpAddr)
	}
	s.KeySpec = secret.GenerateKey()
	if opts.AttachmentsURL == "" {
		opts.AttachmentsURL = "file://" + t.TempDir()
	}
	s.AttachmentsURL = opts.AttachmentsURL
	sys, err := assembly.New(context.Background(), assembly.Settings{SecretKeys: s.KeySpec, MailFrom: MailFrom, PublicURL: PublicURL,
		SecretTTL: opts.SecretTTL, AutoCloseAfter: opts.AutoCloseAfter,
		SMTP: mail.SenderConfig{URL: "smtp://" + smtpAddr, PoolSize: 4, Timeout: opts.SMTPTimeout},
		API: api.Config{APIToken: APIToken, StaffToken: StaffToken, AttachmentMaxBytes: opts.AttachmentMaxBytes,
			StaffLinkSecret: StaffLinkSecret},
		Worker:         opts.Worker,
		AttachmentsURL: opts.AttachmentsURL, ClamdAddr: opts.ClamdAddr,
	}, assembly.WithStore(s.Store), assembly.WithRedis(s.Redis),
		assembly.WithLog(slog.New(slog.NewTextHandler(s.Log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	s.assembly, s.Keys, s.IDs, s.Composer, s.Deps = sys, sys.Keys, sys.IDs, sys.Composer, sys.Deps
	s.API = sys.NewAPI()
	s.HTTP = httptest.NewServer(s.API)
	t.Cleanup(s.HTTP.Close)
	for _, id := range Admins {
		s.PutMember(t, id, true, nil)
	}
	if !opts.NoWorker {
		s.StartWorker(t)
	}
	return s
}

// StartWorker runs a worker until StopWorker or cleanup; a second call while one runs does
// nothing.
func (s *System) StartWorker(t testing.TB) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopWorker != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := s.assembly.NewWorker()
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	s.stopWorker = func() { cancel(); <-done }
	t.Cleanup(s.StopWorker)
}

// StopWorker stops the worker gracefully.
func (s *System) StopWorker() {
	s.mu.Lock()
	stop := s.stopWorker
	s.stopWorker = nil
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// RedisURL is the Redis of a test that hands it to an assistd process: ASSISTD_TEST_REDIS_URL
// (its database flushed) or a miniredis whose TTLs follow the clock; and a client of the test's.
func RedisURL(t testing.TB) (string, *redis.Client) {
	t.Helper()
	u, rc, _ := newRedis(t)
	return u, rc
}

func newRedis(t testing.TB) (string, *redis.Client, *miniredis.Miniredis) {
	t.Helper()
	var m *miniredis.Miniredis
	u := os.Getenv("ASSISTD_TEST_REDIS_URL")
	if u == "" {
		m = miniredis.RunT(t)
		m.ClockTTL(true)
		u = "redis://" + m.Addr() + "/0"
	}
	rc, err := redisconn.Open(u, redisconn.Tuning{})
	if err != nil {
		t.Fatalf("ASSISTD_TEST_REDIS_URL: %v", err)
	}
	t.Cleanup(func() { rc.Close() })
	if err := rc.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	return u, rc, m
}

// Do sends a request to the API with a token and a JSON body, and decodes a JSON answer into out
// (when not nil). It returns the status code.
func (s *System) Do(t testing.TB, method, path, token string, body any, out any, headers ...string) int {
	t.Helper()
	code, data := Request(token, method, s.HTTP.URL+path, body, headers...)
	if code == 0 {
		t.Fatalf("%s %s: %s", method, path, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, code, data, err)
		}
	}
	return code
}

// Request sends a request with a bearer token (none when empty) and a body: a string as it is,
// anything else but nil as JSON; plus headers given as name, value pairs. It returns the status
// and the answer; a request that could not be sent answers 0 and the error's text.
func Request(token, method, url string, body any, headers ...string) (int, []byte) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, []byte(err.Error())
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// PutCustomer creates the customer "ana" (or the given id) with two domains.
func (s *System) PutCustomer(t testing.TB, id, lang string) {
	t.Helper()
	code := s.Do(t, "PUT", "/api/v1/customers/"+id, APIToken, map[string]any{"name": "Ana Silva", "email": id + "@example.pt",
		"language": lang, "domains": []string{"example.pt", "loja-exemplo.com"}}, nil)
	if code != http.StatusOK {
		t.Fatalf("put customer %s: %d", id, code)
	}
}

// PutMember creates (or replaces) the active member id, an admin or a member of departments
// (department id to role, agent or lead), through the API.
func (s *System) PutMember(t testing.TB, id string, admin bool, departments map[string]string) {
	t.Helper()
	if departments == nil {
		departments = map[string]string{}
	}
	var e struct {
		Error struct{ Fields map[string]string } `json:"error"`
	}
	code := s.Do(t, "PUT", "/api/v1/staff/members/"+id, StaffToken, map[string]any{"name": strings.ToUpper(id[:1]) + id[1:], "email": id + "@suporte.example.pt",
		"language": "pt-PT", "departments": departments, "admin": admin}, &e)
	if code != http.StatusOK {
		t.Fatalf("put member %s: %d %v", id, code, e.Error.Fields)
	}
}

// MemberToken makes an API token of the member id.
func (s *System) MemberToken(t testing.TB, id string) string {
	t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	if code := s.Do(t, "POST", "/api/v1/staff/members/"+id+"/tokens", StaffToken, map[string]string{"label": "test"}, &out); code != http.StatusCreated {
		t.Fatalf("token of %s: %d", id, code)
	}
	return out.Token
}

// Eventually polls cond until it holds or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// LogBuffer keeps everything logged, for tests that check what logs hold.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
