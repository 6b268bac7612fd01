package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/storage"
)

// BenchmarkSearchAtScale measures staff search against a PostgreSQL database holding a million
// tickets and three million messages (ASSISTD_BENCH_TICKETS to change it), in a database
// "assistd_bench_search" of its own beside the test one (or ASSISTD_BENCH_DATABASE_URL); the
// first run seeds it, later runs reuse it. Seeded messages hold two of thirty everyday words
// (each in about a fifth of the tickets), a domain (about a hundred tickets each), made-up
// accented words (about one ticket in 600 each) and a reference of their own. Each query kind
// runs within one department (a member's reach) and within all (an administrator's), and
// reports its p50 and p99 in milliseconds; "api" goes through the HTTP handler as well:
//
//	go test ./api -run '^$' -bench SearchAtScale -benchtime 400x
func BenchmarkSearchAtScale(b *testing.B) {
	st := benchStore(b, "assistd_bench_search")
	ctx := context.Background()
	var sample []struct {
		ID         int64  `db:"id"`
		Number     string `db:"number"`
		CustomerID string `db:"customer_id"`
	}
	if err := st.DB().SelectContext(ctx, &sample, `SELECT id, number, customer_id FROM tickets TABLESAMPLE SYSTEM (1)
		WHERE customer_id LIKE 'seed-%' AND department_id = 'email' LIMIT 5000`); err != nil || len(sample) == 0 {
		b.Fatalf("sample tickets: %d, %v", len(sample), err)
	}
	everyday := []string{"email", "erro", "configuracao", "dominio", "servidor", "palavra-passe", "certificado", "renovacao",
		"fatura", "pagamento", "alojamento", "transferencia", "acesso", "conta", "copia", "seguranca", "pagina", "instalacao",
		"migracao", "dns", "ssl", "backup", "caixa", "correio", "ligacao", "lentidao", "bloqueio", "atualizacao", "encomenda", "reembolso"}
	syllables := []string{"ba", "ção", "de", "fi", "gu", "lê", "ma", "nó", "pe", "qui", "ra", "sé", "ti", "vo", "xa", "zu", "lha", "nhe", "cá", "tró", "mi", "sô", "re", "al"}
	rnd := rand.New(rand.NewPCG(3, 4))
	pick := func(ss []string) string { return ss[rnd.IntN(len(ss))] }
	ticket := func() (int64, string, string) {
		t := sample[rnd.IntN(len(sample))]
		return t.ID, t.Number, t.CustomerID
	}
	madeUp := func() string { return pick(syllables) + pick(syllables) + pick(syllables) }

	queries := []struct {
		name string
		text func() string
	}{
		{"reference", func() string { id, _, _ := ticket(); return fmt.Sprintf("R%d", id*3+1) }},
		{"domain", func() string { return fmt.Sprintf("dominio-%d.pt", rnd.IntN(9973)) }},
		{"made-up-word", madeUp},
		{"made-up-word-typed-without-accents", func() string {
			return strings.NewReplacer("ç", "c", "ã", "a", "ê", "e", "ó", "o", "é", "e", "á", "a", "ô", "o").Replace(madeUp())
		}},
		{"everyday-word", func() string { return pick(everyday) }},
		{"two-everyday-words", func() string { return pick(everyday) + " " + pick(everyday) }},
		{"everyday-word-and-domain", func() string { return pick(everyday) + " " + fmt.Sprintf("dominio-%d.pt", rnd.IntN(9973)) }},
		{"word-typed-in-part", func() string {
			return pick([]string{"configura", "servido", "certifica", "renova", "pagament", "transfer", "segura", "atualiza"})
		}},
		{"ticket-number", func() string { _, n, _ := ticket(); return "#" + n }},
		{"customer-email", func() string { _, _, c := ticket(); return c + "@example.pt" }},
		{"nothing-found", func() string { return "zzqxw" }},
	}
	reaches := []struct {
		name  string
		reach storage.Reach
	}{{"one-department", storage.ReachOnly("email")}, {"all-departments", storage.ReachAll()}}
	for _, rc := range reaches {
		for _, q := range queries {
			b.Run(rc.name+"/"+q.name, func(b *testing.B) {
				took := make([]time.Duration, 0, b.N)
				for b.Loop() {
					start := time.Now()
					if _, err := st.Search(ctx, storage.SearchQuery{Text: q.text(), Reach: rc.reach, Limit: 20}); err != nil {
						b.Fatal(err)
					}
					took = append(took, time.Since(start))
				}
				reportPercentiles(b, took)
			})
		}
		b.Run(rc.name+"/everyday-word-next-page", func(b *testing.B) {
			firsts := map[string]string{}
			for _, w := range everyday {
				p, err := st.Search(ctx, storage.SearchQuery{Text: w, Reach: rc.reach, Limit: 20})
				if err != nil || p.Next == "" {
					b.Fatalf("%s: %v, next %q", w, err, p.Next)
				}
				firsts[w] = p.Next
			}
			took := make([]time.Duration, 0, b.N)
			for b.Loop() {
				w := pick(everyday)
				start := time.Now()
				if _, err := st.Search(ctx, storage.SearchQuery{Text: w, Reach: rc.reach, Limit: 20, After: firsts[w]}); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			reportPercentiles(b, took)
		})
	}
	srv := api.New(api.Config{APIToken: "bench", StaffToken: "bench-staff", PublicURL: "https://clientes.example.pt", SecretTTL: 72 * time.Hour},
		api.Deps{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if _, err := st.PutStaffMember(ctx, storage.StaffMember{ID: "bench-email", Name: "Bench Email", Email: "bench-email@example.pt", Language: "pt-PT",
		Active: true, Departments: map[string]string{"email": storage.RoleAgent}}); err != nil {
		b.Fatal(err)
	}
	_, member, err := srv.NewMemberToken(ctx, "bench-email", "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("api/one-department/mixed", func(b *testing.B) {
		took := make([]time.Duration, 0, b.N)
		for b.Loop() {
			took = append(took, timedGet(b, srv, "/api/v1/staff/search?q="+url.QueryEscape(queries[rnd.IntN(len(queries))].text()), member))
		}
		reportPercentiles(b, took)
	})
	var index, table string
	if err := st.DB().GetContext(ctx, &index, `SELECT pg_size_pretty(pg_relation_size('ticket_search_recent_document'))`); err != nil {
		b.Fatal(err)
	}
	if err := st.DB().GetContext(ctx, &table, `SELECT pg_size_pretty(pg_total_relation_size('ticket_search'))`); err != nil {
		b.Fatal(err)
	}
	b.Logf("GIN index %s; documents with all their indexes %s", index, table)
}
