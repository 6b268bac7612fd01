package faulttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	netmail "net/mail"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/assembly"
	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/mail/smtpsink"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
	"github.com/assistd/assistd/worker"
)

// System is a systemtest.System whose Postgres, Redis and SMTP relay are each reached through a
// Proxy, on a private redis-server that a test may stop and start empty.
type System struct {
	*systemtest.System
	// DatabaseURL and RedisURL name the services directly, not through the proxies.
	DatabaseURL, RedisURL string
	// Check is a direct connection to the database for the test's own queries, usable while
	// the system's way to Postgres is cut.
	Check *storage.Store

	PostgresProxy, RedisProxy, SMTPProxy *Proxy

	RedisServer *Redis
}

// Options change a fault system.
type Options struct {
	// NoWorker starts the API only (tests that run workers in other processes, or later).
	NoWorker bool
}

// Start builds a system on a fresh Postgres database, a private redis-server and an in-process
// SMTP sink; everything stops at cleanup.
func Start(t *testing.T, opts Options) *System {
	t.Helper()
	Services(t)
	var b storagetest.Backend
	for _, bb := range storagetest.Backends(t) {
		if bb.Name == "postgres" {
			b = bb
		}
	}
	s := &System{DatabaseURL: b.URL}
	s.Check = storagetest.Open(t, b)

	pgURL, err := url.Parse(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	s.PostgresProxy = StartProxy(t, pgURL.Host)
	pgURL.Host = s.PostgresProxy.Addr()

	s.RedisServer = StartRedis(t)
	s.RedisURL = s.RedisServer.URL()
	s.RedisProxy = StartProxy(t, s.RedisServer.Addr())
	// The same client as `assistd serve`'s: an absent Redis must cost requests little.
	rc, err := assembly.NewRedis("redis://" + s.RedisProxy.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })

	s.System = systemtest.Start(t, storagetest.Backend{Name: b.Name, URL: pgURL.String()}, systemtest.Options{
		NoWorker: opts.NoWorker, Redis: rc, SMTPTimeout: 5 * time.Second,
		SMTPVia: func(addr string) string { s.SMTPProxy = StartProxy(t, addr); return s.SMTPProxy.Addr() },
		Worker:  worker.Config{Concurrency: 20, DelayedTaskCheckInterval: 500 * time.Millisecond, TaskCheckInterval: 50 * time.Millisecond},
	})
	return s
}

// PutCustomer creates a customer with the given email address and the domain example.pt.
func (s *System) PutCustomer(t testing.TB, id, email string) {
	t.Helper()
	if code, body := s.Do("PUT", "/api/v1/customers/"+id, map[string]any{"name": "Cliente " + id, "email": email,
		"language": "pt-PT", "domains": []string{"example.pt"}}); code != http.StatusOK {
		t.Fatalf("put customer %s: %d %s", id, code, body)
	}
}

// Message is the body of every ticket the fault tests create: logs must never show it.
const Message = "O site example.pt devolve erro 500 desde esta manhã — pedido de teste de falhas."

// CreateTicket posts a ticket with a password and an Idempotency-Key, and returns the status
// code and the ticket number (empty unless 202).
func (s *System) CreateTicket(customer, key string) (int, string) {
	code, body := s.Do("POST", "/api/v1/customers/"+customer+"/tickets", map[string]any{"subject_id": "hosting-site-down",
		"domain": "example.pt", "message": Message, "password": "s3gredo-de-teste"}, "Idempotency-Key", key)
	var out struct {
		Number string `json:"number"`
	}
	if code == http.StatusAccepted {
		_ = json.Unmarshal(body, &out)
	}
	return code, out.Number
}

// Do sends a client-area request with a JSON body and returns the status and the answer; unlike
// systemtest's, it needs no test, for goroutines that outlive one.
func (s *System) Do(method, path string, body any, headers ...string) (int, []byte) {
	return systemtest.Request(systemtest.APIToken, method, s.HTTP.URL+path, body, headers...)
}

// Deliveries is what the SMTP sink received, by Message-ID.
type Deliveries struct {
	Total int
	// Copies counts the mails received with each Message-ID.
	Copies map[string]int
	// Kinds counts distinct Message-IDs per ticket number and kind ("confirmation",
	// "department").
	Kinds map[string]map[string]int
}

// Delivered reads the sink.
func (s *System) Delivered() Deliveries { return DeliveredTo(s.Sink) }

// DeliveredTo reads an SMTP sink.
func DeliveredTo(sink *smtpsink.Sink) Deliveries {
	var ids []string
	for _, m := range sink.Mails() {
		msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			ids = append(ids, "")
			continue
		}
		ids = append(ids, msg.Header.Get("Message-Id"))
	}
	return DeliveriesOf(ids)
}

// DeliveriesOf counts mails by their Message-ID, one entry per mail received; an empty entry is
// a mail that could not be read, counted in Total only.
func DeliveriesOf(messageIDs []string) Deliveries {
	d := Deliveries{Copies: map[string]int{}, Kinds: map[string]map[string]int{}}
	for _, id := range messageIDs {
		d.Total++
		if id == "" {
			continue
		}
		d.Copies[id]++
		if d.Copies[id] > 1 {
			continue
		}
		// <pedido.NUMBER.KIND.RANDOM.MAC@domain>
		parts := strings.Split(strings.Trim(id, "<>"), ".")
		if len(parts) < 3 {
			continue
		}
		if d.Kinds[parts[1]] == nil {
			d.Kinds[parts[1]] = map[string]int{}
		}
		d.Kinds[parts[1]][parts[2]]++
	}
	return d
}

// Duplicates is how many mails repeated a Message-ID already received.
func (d Deliveries) Duplicates() int { return d.Total - len(d.Copies) }

// RepeatedTickets gives, by ticket number, how many mails repeated a Message-ID of that ticket.
func (d Deliveries) RepeatedTickets() map[string]int {
	out := map[string]int{}
	for id, n := range d.Copies {
		if n < 2 {
			continue
		}
		// <pedido.NUMBER.KIND.RANDOM.MAC@domain>
		number := id
		if parts := strings.Split(strings.Trim(id, "<>"), "."); len(parts) > 2 {
			number = parts[1]
		}
		out[number] += n - 1
	}
	return out
}

// Confirmed reports whether every ticket got exactly one confirmation and one department
// notification, and says what is missing otherwise.
func (d Deliveries) Confirmed(numbers []string) (bool, string) {
	for _, n := range numbers {
		k := d.Kinds[n]
		if k["confirmation"] != 1 || k["department"] != 1 {
			return false, fmt.Sprintf("ticket %s: %d confirmation(s), %d department notification(s)", n, k["confirmation"], k["department"])
		}
	}
	return true, ""
}

// AssertNoMessageInLogs fails the test when the log shows a ticket's message body.
func (s *System) AssertNoMessageInLogs(t testing.TB) {
	t.Helper()
	if strings.Contains(s.Log.String(), Message) || strings.Contains(s.Log.String(), "s3gredo-de-teste") {
		t.Errorf("a message body or a password is in the logs")
	}
}
