package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/storage"
)

// BenchmarkReadsAtScale measures the reads a helpdesk lives on — a customer's history page, a
// ticket's detail, a department's queue — through the HTTP handlers, against a PostgreSQL
// database holding a million tickets (ASSISTD_BENCH_TICKETS to change it). It uses
// ASSISTD_BENCH_DATABASE_URL, or else a database "assistd_bench_lifecycle" on the server of
// ASSISTD_TEST_DATABASE_URL; the first run seeds it (about a minute) and later runs reuse it.
// The queue by due time is read first page and any page, as the queue by waiting time. Staff
// reads are made as a member (an agent of every department, with their own token), so each pays
// for finding the member and for the department set in its WHERE clause. Each sub-benchmark
// reports its p50 and p99 in milliseconds:
//
//	go test ./api -run '^$' -bench ReadsAtScale -benchtime 3000x
func BenchmarkReadsAtScale(b *testing.B) {
	st := benchStore(b, "assistd_bench_lifecycle")
	srv := api.New(api.Config{APIToken: "bench", StaffToken: "bench-staff", PublicURL: "https://clientes.example.pt", SecretTTL: 72 * time.Hour},
		api.Deps{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx := context.Background()
	departments := []string{"email", "alojamento", "dominios", "faturacao", "servidores", "comercial"}
	roles := map[string]string{}
	for _, d := range departments {
		roles[d] = storage.RoleAgent
	}
	if _, err := st.PutStaffMember(ctx, storage.StaffMember{ID: "bench-agent", Name: "Bench Agent", Email: "bench-agent@example.pt", Language: "pt-PT",
		Active: true, Departments: roles}); err != nil {
		b.Fatal(err)
	}
	_, member, err := srv.NewMemberToken(ctx, "bench-agent", "bench")
	if err != nil {
		b.Fatal(err)
	}

	var sample []struct {
		Number     string `db:"number"`
		CustomerID string `db:"customer_id"`
	}
	if err := st.DB().SelectContext(ctx, &sample, `SELECT number, customer_id FROM tickets TABLESAMPLE SYSTEM (1) LIMIT 5000`); err != nil || len(sample) == 0 {
		b.Fatalf("sample tickets: %d, %v", len(sample), err)
	}
	var customers int
	if err := st.DB().GetContext(ctx, &customers, `SELECT COUNT(*) FROM customers WHERE id LIKE 'seed-%'`); err != nil {
		b.Fatal(err)
	}
	var bigPages int
	if err := st.DB().GetContext(ctx, &bigPages, `SELECT COUNT(*) / 20 FROM tickets WHERE customer_id = 'seed-0'`); err != nil {
		b.Fatal(err)
	}
	cursors, dueCursors := queueCursors(b, srv, member, "email", ""), queueCursors(b, srv, member, "email", "&order=due")
	statuses := []string{"open", "in_progress", "answered", "customer_reply", "on_hold"}
	rnd := rand.New(rand.NewPCG(1, 2))

	cases := []struct {
		name  string
		token string
		path  func() string
	}{
		{"history/first-page", "bench", func() string {
			return "/api/v1/customers/" + storage.SeedCustomerID(1+rnd.IntN(customers-1)) + "/tickets"
		}},
		{"history/status-filter", "bench", func() string {
			return "/api/v1/customers/" + storage.SeedCustomerID(1+rnd.IntN(customers-1)) + "/tickets?status=closed"
		}},
		{"history/big-customer-first-50-pages", "bench", func() string {
			return "/api/v1/customers/seed-0/tickets?page=" + strconv.Itoa(1+rnd.IntN(50))
		}},
		{"history/big-customer-any-page", "bench", func() string {
			return "/api/v1/customers/seed-0/tickets?page=" + strconv.Itoa(1+rnd.IntN(max(bigPages, 1)))
		}},
		{"detail/customer", "bench", func() string {
			t := sample[rnd.IntN(len(sample))]
			return "/api/v1/customers/" + t.CustomerID + "/tickets/" + t.Number
		}},
		{"detail/staff", member, func() string {
			return "/api/v1/staff/tickets/" + sample[rnd.IntN(len(sample))].Number
		}},
		{"queue/first-page", member, func() string {
			return "/api/v1/departments/" + departments[rnd.IntN(len(departments))] + "/queue"
		}},
		{"queue/status-filter", member, func() string {
			return "/api/v1/departments/" + departments[rnd.IntN(len(departments))] + "/queue?status=" + statuses[rnd.IntN(len(statuses))]
		}},
		{"queue/any-page", member, func() string {
			return "/api/v1/departments/email/queue?after=" + url.QueryEscape(cursors[rnd.IntN(len(cursors))])
		}},
		{"queue-by-due/first-page", member, func() string {
			return "/api/v1/departments/" + departments[rnd.IntN(len(departments))] + "/queue?order=due"
		}},
		{"queue-by-due/any-page", member, func() string {
			return "/api/v1/departments/email/queue?order=due&after=" + url.QueryEscape(dueCursors[rnd.IntN(len(dueCursors))])
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			took := make([]time.Duration, 0, b.N)
			for b.Loop() {
				took = append(took, timedGet(b, srv, c.path(), c.token))
			}
			reportPercentiles(b, took)
		})
	}
}

// timedGet serves a GET with a bearer token and returns how long the handler took; anything
// but 200 ends the benchmark.
func timedGet(b *testing.B, srv *api.Server, path, token string) time.Duration {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	start := time.Now()
	srv.ServeHTTP(rec, req)
	took := time.Since(start)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: %d %s", req.URL, rec.Code, rec.Body)
	}
	return took
}

// reportPercentiles reports the p50 and p99 of some timings, in milliseconds.
func reportPercentiles(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[len(took)*99/100]), "p99-ms")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// queueCursors walks a department's whole queue once (in an order, "" or "&order=due") and
// keeps the cursor of every page.
func queueCursors(b *testing.B, srv *api.Server, token, dept, order string) []string {
	b.Helper()
	var cursors []string
	next := ""
	for {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/departments/"+dept+"/queue?limit=50"+order+"&after="+url.QueryEscape(next), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var page struct {
			Next *string `json:"next"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || rec.Code != http.StatusOK {
			b.Fatalf("queue walk: %d %v", rec.Code, err)
		}
		if page.Next == nil {
			break
		}
		next = *page.Next
		cursors = append(cursors, next)
	}
	if len(cursors) == 0 {
		b.Fatal("the queue has a single page; seed more tickets")
	}
	return cursors
}

// benchStore opens the benchmark database (ASSISTD_BENCH_DATABASE_URL, or else the named one
// beside the test database) and seeds it up to the wanted number of tickets.
func benchStore(b *testing.B, name string) *storage.Store {
	b.Helper()
	dbURL := os.Getenv("ASSISTD_BENCH_DATABASE_URL")
	if dbURL == "" {
		base := os.Getenv("ASSISTD_TEST_DATABASE_URL")
		if base == "" {
			b.Skip("set ASSISTD_BENCH_DATABASE_URL or ASSISTD_TEST_DATABASE_URL to a PostgreSQL server")
		}
		dbURL = benchDatabase(b, base, name)
	}
	want := 1_000_000
	if v := os.Getenv("ASSISTD_BENCH_TICKETS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("ASSISTD_BENCH_TICKETS=%q: want a number from 1000", v)
		}
		want = n
	}
	ctx := context.Background()
	st, err := storage.Open(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := st.EnsureCatalog(ctx); err != nil {
		b.Fatal(err)
	}
	var have int
	if err := st.DB().GetContext(ctx, &have, `SELECT COUNT(*) FROM tickets`); err != nil {
		b.Fatal(err)
	}
	if have < want {
		start := time.Now()
		err := st.Seed(ctx, storage.SeedPlan{Tickets: want - have, Customers: max(want/20, 10), Progress: func(done int) {
			fmt.Fprintf(os.Stderr, "seeded %d tickets in %s\n", done, time.Since(start).Round(time.Second))
		}})
		if err != nil {
			b.Fatal(err)
		}
	}
	return st
}

// benchDatabase makes sure a database exists beside the test one, and returns its URL.
func benchDatabase(b *testing.B, base, name string) string {
	b.Helper()
	admin, err := sqlx.Open("pgx", base)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	var exists bool
	if err := admin.Get(&exists, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name); err != nil {
		b.Fatal(err)
	}
	if !exists {
		if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
			b.Fatal(err)
		}
	}
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
