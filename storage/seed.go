package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SeedPlan describes a synthetic helpdesk for load tests: many customers, one of them a reseller
// with a long history, tickets spread over years and mostly closed, each with a short thread and
// its status history.
type SeedPlan struct {
	Tickets   int // how many tickets to add
	Customers int // over how many customers ("seed-0" … "seed-N-1")
	// BigCustomerShare sends one ticket in this many to "seed-0", the customer whose history is
	// long; 0 means 50.
	BigCustomerShare int
	// Progress, when set, is told how many tickets are in after each batch.
	Progress func(done int)
}

// SeedCustomerID is the id of a seeded customer.
func SeedCustomerID(n int) string { return fmt.Sprintf("seed-%d", n) }

const seedBatch = 200_000

// Seed fills a PostgreSQL database in bulk, with set-based INSERT … SELECT generate_series, so a
// million tickets, three million messages and their history take a few minutes. The catalog must be in place. Seeded tickets have numbers
// drawn from a fixed permutation, and their customers ids start with "seed-"; seeding twice adds
// tickets again (numbers already taken are skipped).
func (s *Store) Seed(ctx context.Context, p SeedPlan) error {
	if !s.postgres {
		return errors.New("storage: seeding in bulk needs PostgreSQL")
	}
	if p.Tickets <= 0 || p.Customers <= 0 {
		return errors.New("storage: seed: tickets and customers must be positive")
	}
	if p.BigCustomerShare <= 0 {
		p.BigCustomerShare = 50
	}
	var start int
	if err := s.db.GetContext(ctx, &start, `SELECT COUNT(*) FROM tickets WHERE customer_id LIKE 'seed-%'`); err != nil {
		return wrapConn(err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO customers (id, name, email, language, created_at, updated_at)
		SELECT 'seed-' || g, 'Cliente ' || g, 'seed-' || g || '@example.pt', CASE WHEN g % 5 = 0 THEN 'en' ELSE 'pt-PT' END, now(), now()
		FROM generate_series(0, $1 - 1) g ON CONFLICT (id) DO NOTHING`, p.Customers); err != nil {
		return fmt.Errorf("storage: seed customers: %w", wrapConn(err))
	}
	total := start + p.Tickets
	for from := start; from < total; from += seedBatch {
		to := min(from+seedBatch, total)
		if err := s.seedBatch(ctx, p, from, to, total); err != nil {
			return err
		}
		if p.Progress != nil {
			p.Progress(to - start)
		}
	}
	if err := s.seedDueTimes(ctx); err != nil {
		return err
	}
	// What autovacuum does to a live database over time: statistics, and the visibility map
	// that lets counts run on indexes alone.
	for _, table := range []string{"tickets", "messages", "status_changes", "ticket_passwords", "customers", "ticket_search"} {
		if _, err := s.db.ExecContext(ctx, `VACUUM ANALYZE `+table); err != nil {
			return fmt.Errorf("storage: seed: vacuum %s: %w", table, wrapConn(err))
		}
	}
	return nil
}

// seedBatch adds tickets from..to-1 of a helpdesk of total tickets, with their threads, status
// histories and expired passwords, in one statement. Ticket g was created at a time proportional
// to g over five years; the last 4% are recent and mostly still being worked on, the rest closed.
func (s *Store) seedBatch(ctx context.Context, p SeedPlan, from, to, total int) error {
	since := time.Now().UTC().Add(-5 * 365 * 24 * time.Hour).Truncate(time.Second)
	span := 5 * 365 * 24 * 3600
	_, err := s.db.ExecContext(ctx, `
		WITH subj AS (SELECT id, department_id, (row_number() OVER (ORDER BY id) - 1)::int AS k FROM subjects),
		n AS (SELECT COUNT(*)::int AS n FROM subjects),
		g AS (
			SELECT g,
				$4::timestamptz + make_interval(secs => (g::float8 * $5::float8 / $3::float8)) AS created,
				CASE WHEN g < $3::bigint * 96 / 100 THEN 'closed'
					ELSE (ARRAY['open','in_progress','answered','answered','customer_reply','on_hold','closed'])[1 + g % 7] END AS status
			FROM generate_series($1::bigint, $2::bigint - 1) g),
		t AS (
			INSERT INTO tickets (number, customer_id, subject_id, department_id, domain, status, created_at, updated_at, processed_at)
			SELECT (10000000 + (g * 7919 + 4242) % 90000000)::text,
				CASE WHEN g % $6::bigint = 0 THEN 'seed-0' ELSE 'seed-' || ((g * 2654435761) % $7::bigint) END,
				subj.id, subj.department_id,
				CASE WHEN g % 3 = 0 THEN NULL ELSE 'dominio-' || (g % 9973) || '.pt' END,
				status, created,
				created + make_interval(hours => CASE WHEN status = 'closed' THEN 24 + (g % 200)::int ELSE (g % 5)::int END),
				created
			FROM g, n JOIN subj ON true
			WHERE subj.k = g % n.n
			ON CONFLICT (number) DO NOTHING
			RETURNING id, status, created_at),
		m AS (
			INSERT INTO messages (ticket_id, author, staff, body, created_at)
			SELECT t.id, CASE k WHEN 2 THEN 'staff' ELSE 'customer' END, CASE k WHEN 2 THEN 'joao' END,
				CASE k WHEN 1 THEN 'O meu pedido: ' WHEN 2 THEN 'A nossa resposta: ' ELSE 'Mais informação: ' END || `+seedText+` || ' ' || repeat('texto de exemplo ', 6),
				t.created_at + make_interval(hours => k - 1)
			FROM t CROSS JOIN generate_series(1, 3) k
			WHERE k = 1 OR t.status <> 'open'),
		h AS (
			INSERT INTO status_changes (ticket_id, from_status, to_status, actor, created_at)
			SELECT t.id, c.from_status, c.to_status, c.actor, t.created_at + make_interval(hours => c.k)
			FROM t CROSS JOIN LATERAL (VALUES
				(0, NULL, 'open', 'customer'),
				(1, 'open', 'answered', 'staff:joao'),
				(2, 'answered', t.status, CASE t.status WHEN 'closed' THEN 'system' WHEN 'customer_reply' THEN 'customer' ELSE 'staff:joao' END))
				AS c(k, from_status, to_status, actor)
			WHERE c.k = 0 OR (t.status <> 'open' AND (c.k = 1 OR t.status <> 'answered')))
		INSERT INTO ticket_passwords (ticket_id, password_sealed, data_key_sealed, expires_at, purged_at)
		SELECT id, NULL, NULL, created_at + interval '72 hours', created_at + interval '72 hours'
		FROM t WHERE id % 10 = 0`,
		from, to, total, since, span, p.BigCustomerShare, p.Customers)
	if err != nil {
		return fmt.Errorf("storage: seed tickets: %w", wrapConn(err))
	}
	return nil
}

// seedText is a seeded message's own words, for search to have something to find: two of thirty
// words of a helpdesk's everyday vocabulary (each in about one ticket in six), the ticket's
// domain (one of 9,973, about a hundred tickets each), eight of 13,824 made-up words of three
// syllables, accented as Portuguese is (each in about one ticket in 600), and a reference of
// the message's own (in one ticket).
const seedText = `(SELECT (ARRAY['email','erro','configuração','domínio','servidor','palavra-passe','certificado','renovação',
		'fatura','pagamento','alojamento','transferência','acesso','conta','cópia','segurança','página','instalação',
		'migração','DNS','SSL','backup','caixa','correio','ligação','lentidão','bloqueio','atualização','encomenda','reembolso'])
		[1 + (h % 30)::int] || ' ' || (ARRAY['email','erro','configuração','domínio','servidor','palavra-passe','certificado','renovação',
		'fatura','pagamento','alojamento','transferência','acesso','conta','cópia','segurança','página','instalação',
		'migração','DNS','SSL','backup','caixa','correio','ligação','lentidão','bloqueio','atualização','encomenda','reembolso'])
		[1 + (h / 30 % 30)::int] || ' no domínio dominio-' || (t.id % 9973) || '.pt: ' ||
		(SELECT string_agg(syl[1 + (w % 24)::int] || syl[1 + (w / 24 % 24)::int] || syl[1 + (w / 576 % 24)::int], ' ')
		FROM (SELECT ARRAY['ba','ção','de','fi','gu','lê','ma','nó','pe','qui','ra','sé','ti','vo','xa','zu','lha','nhe','cá','tró','mi','sô','re','al'] AS syl) v,
		LATERAL (SELECT ((t.id * 40503 + k * 7919 + i * 104729) % 1000003) * 2654435761 % 13824 AS w FROM generate_series(1, 8) i) ws) ||
		' (ref. R' || (t.id * 3 + k) || ')'
	FROM (SELECT (t.id * 2654435761 + k * 40503) % 900 AS h) hh)`

// seedDueTimes gives the seeded tickets still being worked on the service-level clocks of a
// 4-hour first response and a 72-hour resolution, round the clock, from their creation: those
// answered or on hold paused, the others running, so that a queue by due time has due times to
// order.
func (s *Store) seedDueTimes(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `UPDATE tickets SET sla_department_id = department_id,
			sla_first_response_due = CASE WHEN status IN ('open', 'in_progress') THEN created_at + make_interval(mins => (id % 240)::int) END,
			sla_first_response_at = CASE WHEN status NOT IN ('open', 'in_progress') THEN created_at + interval '1 hour' END,
			sla_resolution_due = created_at + interval '72 hours',
			sla_paused_at = CASE WHEN status IN ('answered', 'on_hold') THEN updated_at END,
			sla_due = CASE WHEN status IN ('answered', 'on_hold') THEN $1
				WHEN status IN ('open', 'in_progress') THEN created_at + make_interval(mins => (id % 240)::int)
				ELSE created_at + interval '72 hours' END
		WHERE status <> 'closed' AND customer_id LIKE 'seed-%' AND sla_department_id IS NULL`, NoDue)
	if err != nil {
		return fmt.Errorf("storage: seed due times: %w", wrapConn(err))
	}
	return nil
}
