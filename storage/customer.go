package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Customer is a client-area account, kept in sync by the portal.
type Customer struct {
	ID                   string     `db:"id"`
	Name                 string     `db:"name"`
	Email                string     `db:"email"`
	Language             string     `db:"language"`
	EmailUndeliverableAt *time.Time `db:"email_undeliverable_at"`
	CreatedAt            time.Time  `db:"created_at"`
	UpdatedAt            time.Time  `db:"updated_at"`
	Domains              []string   `db:"-"`
}

// PutCustomer creates or replaces a customer and its list of domains.
func (s *Store) PutCustomer(ctx context.Context, c Customer) (Customer, error) {
	t := now()
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO customers (id, name, email, language, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, language = excluded.language, updated_at = excluded.updated_at,
			email_undeliverable_at = CASE WHEN customers.email = excluded.email THEN customers.email_undeliverable_at END,
			email = excluded.email`), c.ID, c.Name, c.Email, c.Language, t, t)
		if err != nil {
			return fmt.Errorf("storage: put customer: %w", wrapConn(err))
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM customer_domains WHERE customer_id = ?`), c.ID); err != nil {
			return wrapConn(err)
		}
		for _, d := range c.Domains {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO customer_domains (customer_id, domain) VALUES (?, ?) ON CONFLICT DO NOTHING`), c.ID, d); err != nil {
				return wrapConn(err)
			}
		}
		return nil
	})
	if err != nil {
		return Customer{}, err
	}
	return s.Customer(ctx, c.ID)
}

// Customer returns a customer with its domains, or ErrNotFound (for ErasedCustomer too).
func (s *Store) Customer(ctx context.Context, id string) (Customer, error) {
	if id == ErasedCustomer {
		return Customer{}, ErrNotFound
	}
	r, err := s.customers.do(ctx, id)
	if err == nil && !r.found {
		err = ErrNotFound
	}
	return r.c, err
}

// customerRead is one customer's answer in a grouped read.
type customerRead struct {
	c     Customer
	found bool
}

const customerColumns = `SELECT c.id, c.name, c.email, c.language, c.email_undeliverable_at, c.created_at, c.updated_at, d.domain FROM customers c `

// customersPostgres is the grouped read of customers. Its plan is kept (see groupedSession):
// domains are looked up per customer, which the OFFSET 0 keeps from becoming a join (possibly
// planned as a read of the whole table).
const customersPostgres = customerColumns + `LEFT JOIN LATERAL (SELECT d.domain FROM customer_domains d WHERE d.customer_id = c.id OFFSET 0) d ON true
	WHERE c.id = ANY($1::text[]) ORDER BY c.id, d.domain`

// customersStatement reads customers and their domains in one query: several on Postgres, one on
// SQLite.
func (s *Store) customersStatement(ctx context.Context, ids []string) ([]customerRead, error) {
	var (
		rows *sqlx.Rows
		err  error
	)
	switch {
	case s.postgres:
		rows, err = s.grouped.QueryxContext(ctx, customersPostgres, ids)
	case len(ids) == 1:
		rows, err = s.db.QueryxContext(ctx, customerColumns+`LEFT JOIN customer_domains d ON d.customer_id = c.id WHERE c.id = ? ORDER BY c.id, d.domain`, ids[0])
	default:
		return nil, fmt.Errorf("storage: %d customers at once on SQLite", len(ids))
	}
	if err != nil {
		return nil, wrapConn(err)
	}
	defer rows.Close()
	byID := make(map[string]*Customer, len(ids))
	for rows.Next() {
		var (
			c      Customer
			domain *string
		)
		if err := rows.Scan(&c.ID, &c.Name, &c.Email, &c.Language, &c.EmailUndeliverableAt, &c.CreatedAt, &c.UpdatedAt, &domain); err != nil {
			return nil, wrapConn(err)
		}
		got := byID[c.ID]
		if got == nil {
			got = &c
			byID[c.ID] = got
		}
		if domain != nil {
			got.Domains = append(got.Domains, *domain)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrapConn(err)
	}
	out := make([]customerRead, len(ids))
	for i, id := range ids {
		if c := byID[id]; c != nil {
			// Each caller gets its own slice of domains.
			out[i] = customerRead{c: *c, found: true}
			out[i].c.Domains = slices.Clone(c.Domains)
		}
	}
	return out, nil
}

// MarkEmailUndeliverable records that mail to a customer's address bounced for good.
func (s *Store) MarkEmailUndeliverable(ctx context.Context, customerID string) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE customers SET email_undeliverable_at = ? WHERE id = ? AND email_undeliverable_at IS NULL`), now(), customerID)
	return wrapConn(err)
}

// StoredAddress is an email address the service keeps: a customer's or a department's.
type StoredAddress struct {
	Owner string `db:"owner"` // "customer" or "department"
	ID    string `db:"id"`
	Email string `db:"email"`
}

// EachAddress calls fn with every customer's and department's address, in pages in id order,
// so that a check of a large table holds one page in memory. fn's error stops the walk.
func (s *Store) EachAddress(ctx context.Context, fn func(StoredAddress) error) error {
	for _, table := range []string{"departments", "customers"} {
		owner := strings.TrimSuffix(table, "s")
		after := ""
		for {
			var page []StoredAddress
			if err := s.db.SelectContext(ctx, &page, s.q(`SELECT '`+owner+`' AS owner, id, email FROM `+table+` WHERE id > ? ORDER BY id LIMIT 1000`), after); err != nil {
				return fmt.Errorf("storage: list %s addresses: %w", owner, wrapConn(err))
			}
			for _, a := range page {
				if err := fn(a); err != nil {
					return err
				}
			}
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	return nil
}
