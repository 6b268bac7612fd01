// Package storage is assistd's system of record: plain SQL over sqlx, on PostgreSQL (pgx) or
// SQLite (modernc), one file per entity. Every query that reads a customer's data takes the
// customer id and puts it in the WHERE clause.
//
// Storage never sees a plaintext password: the intake transaction receives a sealing function
// and stores only what it returns.
package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/assistd/assistd/migrations"
)

func init() { sqlx.BindDriver("sqlite", sqlx.QUESTION) }

// Errors callers branch on.
var (
	ErrNotFound    = errors.New("storage: not found")
	ErrUnavailable = errors.New("storage: database unavailable")
)

// Store is the database handle.
type Store struct {
	db        *sqlx.DB
	grouped   *sqlx.DB // the grouped statements' own connections on Postgres (see groupedSession); db on SQLite
	postgres  bool
	ticketIDs idBlock
	newNumber func() string // tickets.NewNumber unless a test forces collisions

	// Statements that concurrent calls share (see coalescer); intake and records on Postgres only.
	intake    *coalescer[intakeRow, bool]
	mailReads *coalescer[int64, mailRead]
	records   *coalescer[recordReq, recordRes]
	customers *coalescer[string, customerRead]

	policies policyCache // every subject's service-level policy, for the grouped intake
}

// Grouped statements carry at most groupMax calls, and at most groupInFlight of each kind run
// at once per Store, on at most groupConns connections of their own.
const (
	groupMax      = 64
	groupInFlight = 1
	groupKinds    = 4 // intake, ticket_processed, new_ticket_read, customer
	groupConns    = groupKinds * groupInFlight
)

// groupedSession is how the grouped statements' connections run them: each statement is planned
// once per connection and its plan kept (a generic plan), and that plan reaches tables through
// their indexes only. Parsing and planning were 43 % of what Postgres spent in the ticket bench;
// a generic plan made while the tables were small would otherwise read them whole, for as long
// as it is kept, as they grow. The statements are written so that every table they touch is
// reached by key (an array of ids, or a LATERAL lookup by the outer row), so an index path
// always exists.
var groupedSession = []string{"SET plan_cache_mode = force_generic_plan", "SET enable_seqscan = off"}

// Option changes how Open connects.
type Option func(*openConfig)

type openConfig struct {
	url      string
	poolSize int
	session  []string // statements every Postgres connection runs first
}

// DefaultPoolSize is how many Postgres connections a Store opens at most. Past a few per core,
// more connections doing short writes at once only make Postgres slower (measured: 16 gave 15 %
// more tickets per second than 40 on a 2-core machine).
const DefaultPoolSize = 16

// PoolSize sets how many Postgres connections the Store opens at most; 0 keeps the default.
func PoolSize(n int) Option {
	return func(c *openConfig) {
		if n > 0 {
			c.poolSize = n
		}
	}
}

// RelaxedCommit lets Postgres acknowledge a commit before it is flushed to disk. It is for work
// whose loss in a database crash only means it is done again identically: recording a delivery,
// or recording a durable new ticket processed and its two mails, under stable Message-IDs.
// Changes a customer sees keep durable commits.
func RelaxedCommit() Option {
	return func(c *openConfig) { c.session = append(c.session, "SET synchronous_commit = off") }
}

// connectTimeout bounds the making of a Postgres connection when the URL sets no
// connect_timeout (or sets 0).
const connectTimeout = 5 * time.Second

// openPostgres opens a pool of at most size connections, each of which runs the session
// statements when it connects. They are statements rather than startup parameters of the URL, so
// that a pooler in session mode (PgBouncer) passes them on without being told about them.
func openPostgres(url string, size int, session []string) (*sqlx.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 {
		// Without a bound, a call that needs a new connection to a server that takes it and
		// never answers (hung, or behind a dropped route) waits forever instead of failing.
		cfg.ConnectTimeout = connectTimeout
	}
	db := sqlx.NewDb(stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(func(ctx context.Context, conn *pgx.Conn) error {
		for _, q := range session {
			if _, err := conn.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})), "pgx")
	db.SetMaxOpenConns(size)
	db.SetMaxIdleConns(size)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// Open connects to a database URL: postgres://… (or postgresql://…), or sqlite:PATH
// (sqlite::memory: for a private in-memory database).
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	oc := openConfig{url: url, poolSize: DefaultPoolSize}
	for _, o := range opts {
		o(&oc)
	}
	url = oc.url
	var (
		db  *sqlx.DB
		err error
		pg  bool
	)
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		pg = true
		db, err = openPostgres(url, oc.poolSize, oc.session)
	case strings.HasPrefix(url, "sqlite:"):
		db, err = sqlx.Open("sqlite", sqliteDSN(strings.TrimPrefix(url, "sqlite:")))
		if err == nil {
			// One writer at a time is SQLite's nature; a single connection also keeps an
			// in-memory database shared by every caller.
			db.SetMaxOpenConns(1)
		}
	default:
		return nil, fmt.Errorf("storage: unsupported database URL (want postgres://… or sqlite:PATH)")
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open: %w", err)
	}
	s := &Store{db: db, grouped: db, postgres: pg}
	// SQLite has one connection and no arrays: its reads go one at a time, and its writes take
	// the transaction paths.
	readMax := 1
	if pg {
		if s.grouped, err = openPostgres(url, groupConns, append(slices.Clone(oc.session), groupedSession...)); err != nil {
			db.Close()
			return nil, fmt.Errorf("storage: open: %w", err)
		}
		readMax = groupMax
		s.intake = newCoalescer("intake", groupMax, groupInFlight, s.intakeStatement)
		s.records = newCoalescer("ticket_processed", groupMax, groupInFlight, s.recordStatement)
	}
	s.mailReads = newCoalescer("new_ticket_read", readMax, groupInFlight, s.newTicketMailsStatement)
	s.customers = newCoalescer("customer", readMax, groupInFlight, s.customersStatement)
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func sqliteDSN(path string) string {
	if path == "" || path == ":memory:" {
		path = ":memory:"
	} else if !strings.HasPrefix(path, "file:") {
		path = "file:" + path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	// SQLite compares times as text: every time is written in UTC (_timezone), whatever zone the
	// caller's time.Time is in, so that text order is time order, as timestamptz is on Postgres.
	return path + sep + "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate&_time_format=sqlite&_timezone=UTC"
}

// Postgres reports whether the store runs on PostgreSQL.
func (s *Store) Postgres() bool { return s.postgres }

// DB exposes the handle for tests and benchmarks that seed data in bulk.
func (s *Store) DB() *sqlx.DB { return s.db }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() error {
	if s.grouped != s.db {
		s.grouped.Close()
	}
	return s.db.Close()
}

// Migrate applies every pending migration. On Postgres a session advisory lock keeps several
// instances starting at once from colliding.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	var (
		dialect = goose.DialectSQLite3
		fsys    fs.FS
		opts    []goose.ProviderOption
		err     error
	)
	if s.postgres {
		dialect = goose.DialectPostgres
		fsys, err = fs.Sub(migrations.Postgres, "postgres")
		locker, lerr := lock.NewPostgresSessionLocker()
		if lerr != nil {
			return nil, lerr
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	} else {
		fsys, err = fs.Sub(migrations.SQLite, "sqlite")
	}
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(dialect, s.db.DB, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("storage: migrations: %w", wrapConn(err))
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("storage: migrate: %w", wrapConn(err))
	}
	var applied []string
	for _, r := range results {
		applied = append(applied, r.Source.Path)
	}
	return applied, nil
}

// tx runs fn in a transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return wrapConn(err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return wrapConn(err)
	}
	return nil
}

// q rewrites a query written with ? placeholders for the store's dialect.
func (s *Store) q(query string) string { return s.db.Rebind(query) }

// forUpdate locks selected rows on Postgres; SQLite transactions already hold the write lock.
func (s *Store) forUpdate() string {
	if s.postgres {
		return " FOR UPDATE"
	}
	return ""
}

// wrapConn marks errors that mean the database cannot be reached, keeping the driver's error in
// the chain.
func wrapConn(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !unreachable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Refused reports whether the database answered err by refusing the data of a statement, so that
// the same statement would be refused again: on Postgres a data exception (class 22: text it
// cannot store, a value out of range), a program limit (class 54: a key too large for its index)
// or an exception raised by a trigger (P0001).
func Refused(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "54") || pgErr.Code == "P0001"
}

// unreachable reports whether err says that the database could not be reached, rather than that
// it refused what it was asked.
func unreachable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 is a connection exception; 57P01–57P03 a server shutting down, crashed or
		// starting up; 53300 a server with no connection left.
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", pgErr.Code == "53300":
			return true
		}
		return false
	}
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr), pgconn.Timeout(err),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connect", "connection refused", "broken pipe", "EOF", "timeout", "no such host", "the database system is", "conn closed"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return wrapConn(err)
}

func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 23505") || strings.Contains(msg, "UNIQUE constraint failed")
}

// now is the store's clock: UTC, truncated to microseconds so that both dialects keep the same
// value.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// storableText makes text that storage keeps on its own account (an SMTP server's answer, an
// inbound mail's sender and subject) storable in n bytes: invalid UTF-8, which Postgres refuses
// (and with it the whole statement), becomes U+FFFD, NUL characters go, and a cut falls between
// characters.
func storableText(s string, n int) string {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
