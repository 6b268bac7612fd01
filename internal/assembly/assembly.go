// Package assembly puts one assistd together: the database, Redis, the sealing keys, the mail it
// composes and sends, the tasks' dependencies, and from those the HTTP API, the worker and the
// mailbox poller. `assistd serve` and `assistd demo`, the test systems and the benches all build
// their system here, with options for what they swap; it never reads the environment, and it
// runs nothing: its caller starts the parts it wants.
package assembly

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"os"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/redisconn"
	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/mail/inbound"
	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/objects"
	"github.com/assistd/assistd/scan"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/worker"
)

// Settings are what a deployment states. The zero value of a field is its default.
type Settings struct {
	DatabaseURL  string // postgres://… or sqlite:PATH; unused with WithStore
	DatabasePool int    // connections per pool; 0 means storage's default
	// Migrate applies the migrations and the default catalog at start.
	Migrate bool
	// RelaxedDeliveries opens a second pool on the database that commits without waiting for
	// the disk, for what email:send and ticket:create record (jobs.Deps.Deliveries): a worker's.
	RelaxedDeliveries bool
	RedisURL          string // redis://…; unused with WithRedis

	// SecretKeys is the sealing key ring (comma-separated, the first seals); the keys that sign
	// our Message-IDs derive from it.
	SecretKeys string
	MailFrom   string // "Apoio ao Cliente <suporte@example.pt>": the From of our mail
	PublicURL  string // base of the client area's links
	// SecretTTL is how long a customer's password is kept; 0 means 72h.
	SecretTTL time.Duration
	// AutoCloseAfter is how long an answered ticket waits for the customer; 0 means 168h.
	AutoCloseAfter time.Duration
	// RetentionClosed is how long closed tickets are kept before sweep:erasures erases them; 0
	// keeps them.
	RetentionClosed time.Duration

	// AttachmentsURL is the object store of attachment files (objects.Open; "" : a folder
	// "attachments" in the working directory). ClamdAddr, when set, is the clamd that scans them
	// (tcp://host:port or unix:///path).
	AttachmentsURL string
	ClamdAddr      string

	// SMTP is the relay the worker sends through; an empty URL opens no sender (an API alone).
	SMTP mail.SenderConfig
	// API holds the tokens and the portal's settings; its PublicURL and SecretTTL are the ones
	// above.
	API api.Config
	// Worker is the worker's concurrency and timing; nil Periods means worker.DefaultPeriods.
	Worker worker.Config
	// Poller is the support mailbox; OwnAddresses defaults to MailFrom's address and Instance
	// to this host and process.
	Poller inbound.Config
}

// A SettingError is a setting the system cannot start with; Setting names the field of Settings.
type SettingError struct {
	Setting string
	Err     error
}

func (e *SettingError) Error() string { return e.Setting + ": " + e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

// System is every part of one assistd, put together.
type System struct {
	Settings Settings
	Log      *slog.Logger
	Store    *storage.Store
	// Deliveries is the relaxed pool of Settings.RelaxedDeliveries, nil without it.
	Deliveries *storage.Store
	Redis      redis.UniversalClient
	Keys       *secret.Keyring
	IDs        *mail.IDSigner
	Composer   *mail.Composer
	Sender     *mail.Sender // nil without Settings.SMTP.URL
	Enqueuer   *jobs.Enqueuer
	Deps       *jobs.Deps
	Objects    objects.Store
	Clamd      *scan.Clamd // nil without Settings.ClamdAddr

	enqueueAnswers func(ctx context.Context, outboxIDs []int64) error
	queueMetrics   bool
	closers        []func()
}

// An Option swaps a part of the system for one its caller made.
type Option func(*System)

// WithStore uses st (opened, and migrated if need be, by the caller, who closes it) instead of
// opening Settings.DatabaseURL.
func WithStore(st *storage.Store) Option { return func(s *System) { s.Store = st } }

// WithRedis uses rc (closed by the caller) instead of opening Settings.RedisURL.
func WithRedis(rc redis.UniversalClient) Option { return func(s *System) { s.Redis = rc } }

// WithLog logs to log instead of discarding.
func WithLog(log *slog.Logger) Option { return func(s *System) { s.Log = log } }

// WithQueueMetrics publishes the queues' lengths in metrics.Registry until Close: for the one
// system of a process, as the registry is the process's.
func WithQueueMetrics() Option { return func(s *System) { s.queueMetrics = true } }

// WithPollerQueue hands the poller's outbox rows to enqueue instead of queueing their email:send
// tasks.
func WithPollerQueue(enqueue func(ctx context.Context, outboxIDs []int64) error) Option {
	return func(s *System) { s.enqueueAnswers = enqueue }
}

// New opens and puts together every part; on an error what was opened is closed again.
func New(ctx context.Context, set Settings, opts ...Option) (_ *System, err error) {
	if set.SecretTTL == 0 {
		set.SecretTTL = 72 * time.Hour
	}
	if set.AutoCloseAfter == 0 {
		set.AutoCloseAfter = 168 * time.Hour
	}
	s := &System{Settings: set}
	for _, o := range opts {
		o(s)
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.Keys, err = secret.ParseKeyring(set.SecretKeys); err != nil {
		return nil, &SettingError{"SecretKeys", err}
	}
	if s.Store == nil {
		if s.Store, err = s.openStore(ctx); err != nil {
			return nil, err
		}
	}
	if set.Migrate {
		if err := s.migrate(ctx); err != nil {
			return nil, err
		}
	}
	if s.Redis == nil {
		rc, err := NewRedis(set.RedisURL)
		if err != nil {
			return nil, &SettingError{"RedisURL", err}
		}
		s.Redis = rc
		s.closers = append(s.closers, func() { rc.Close() })
	}
	idKeys := MessageIDKeys(set.SecretKeys)
	s.IDs = mail.NewIDSigner(idKeys[0], mailDomain(set.MailFrom), idKeys[1:]...)
	if s.Composer, err = mail.NewComposer(mail.ComposerConfig{From: set.MailFrom, PublicURL: set.PublicURL, IDs: s.IDs, SecretTTL: set.SecretTTL}); err != nil {
		return nil, &SettingError{"MailFrom/PublicURL", err}
	}
	client := asynq.NewClientFromRedisClient(s.Redis)
	s.closers = append(s.closers, func() { client.Close() })
	s.Enqueuer = jobs.NewEnqueuer(client)
	if s.queueMetrics {
		unregister, err := metrics.RegisterQueues(asynq.NewInspectorFromRedisClient(s.Redis))
		if err != nil {
			s.Log.Warn("queue metrics unavailable", "err", err)
		}
		s.closers = append(s.closers, unregister)
	}
	if s.Objects, err = objects.Open(set.AttachmentsURL); err != nil {
		return nil, &SettingError{"AttachmentsURL", err}
	}
	if set.ClamdAddr != "" {
		if s.Clamd, err = scan.ParseAddr(set.ClamdAddr); err != nil {
			return nil, &SettingError{"ClamdAddr", err}
		}
	}
	s.Deps = &jobs.Deps{Inspector: asynq.NewInspectorFromRedisClient(s.Redis), Store: s.Store, Composer: s.Composer, Enqueuer: s.Enqueuer,
		Keys: s.Keys, Log: s.Log, SecretTTL: set.SecretTTL, AutoCloseAfter: set.AutoCloseAfter,
		RetentionClosed: set.RetentionClosed, Objects: s.Objects, Clamd: s.Clamd}
	if set.SMTP.URL != "" {
		if s.Sender, err = mail.NewSender(set.SMTP); err != nil {
			return nil, &SettingError{"SMTP", err}
		}
		s.closers = append(s.closers, func() { s.Sender.Close() })
		s.Deps.Sender = s.Sender
	}
	if set.RelaxedDeliveries {
		// Recording deliveries only ever resends after a database crash: it can skip waiting
		// for the disk on every commit.
		if s.Deliveries, err = s.openStore(ctx, storage.RelaxedCommit()); err != nil {
			return nil, err
		}
		s.Deps.Deliveries = s.Deliveries
	}
	return s, nil
}

// openStore opens Settings.DatabaseURL, closed with the system.
func (s *System) openStore(ctx context.Context, opts ...storage.Option) (*storage.Store, error) {
	st, err := storage.Open(ctx, s.Settings.DatabaseURL, append([]storage.Option{storage.PoolSize(s.Settings.DatabasePool)}, opts...)...)
	if err != nil {
		return nil, &SettingError{"DatabaseURL", err}
	}
	s.closers = append(s.closers, func() { st.Close() })
	return st, nil
}

func (s *System) migrate(ctx context.Context) error {
	applied, err := s.Store.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		s.Log.Info("migrations applied", "count", len(applied))
	}
	return s.Store.EnsureCatalog(ctx)
}

// Close closes what New opened, last opened first.
func (s *System) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// RedisReady answers whether Redis answers, for /readyz.
func (s *System) RedisReady(ctx context.Context) error { return s.Redis.Ping(ctx).Err() }

// NewAPI builds the HTTP API on the system.
func (s *System) NewAPI() *api.Server {
	cfg := s.Settings.API
	cfg.PublicURL, cfg.SecretTTL = s.Settings.PublicURL, s.Settings.SecretTTL
	cfg.Scanning = s.Clamd != nil
	return api.New(cfg, api.Deps{Store: s.Store, Keys: s.Keys, Composer: s.Composer, Enqueuer: s.Enqueuer, Log: s.Log, RedisReady: s.RedisReady,
		Redis: s.Redis, Objects: s.Objects})
}

// NewWorker builds a worker of the system's tasks.
func (s *System) NewWorker() *worker.Worker {
	cfg := s.Settings.Worker
	if cfg.Periods == nil {
		cfg.Periods = worker.DefaultPeriods()
	}
	return worker.New(s.Redis, cfg, s.Deps)
}

// NewPoller builds the poller of Settings.Poller's mailbox.
func (s *System) NewPoller() (*inbound.Poller, error) {
	cfg := s.Settings.Poller
	if cfg.OwnAddresses == nil {
		cfg.OwnAddresses = []string{AddressOf(s.Settings.MailFrom)}
	}
	if cfg.Instance == "" {
		host, _ := os.Hostname()
		cfg.Instance = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	enqueue := s.enqueueAnswers
	if enqueue == nil {
		enqueue = s.Enqueuer.EnqueueEmails
	}
	p, err := inbound.NewPoller(cfg, inbound.Deps{Store: s.Store, Composer: s.Composer, IDs: s.IDs, Redis: s.Redis, Enqueue: enqueue, Log: s.Log})
	if err != nil {
		return nil, &SettingError{"Poller", err}
	}
	return p, nil
}

// NewRedis is how every Redis client of assistd is made, from a redis://, rediss:// or
// redis-sentinel:// URL (redisconn). Its timeouts are short: when Redis is away the API must keep
// answering from the database alone.
func NewRedis(url string) (*redis.Client, error) {
	return redisconn.Open(url, redisconn.Service)
}

// MessageIDKeys derives the keys that sign our Message-IDs from the secret key ring, one per
// sealing key in the same order: the first signs, the others still verify after a rotation.
func MessageIDKeys(secretKeys string) [][]byte {
	var keys [][]byte
	for _, k := range strings.Split(secretKeys, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		m := hmac.New(sha256.New, []byte(k))
		m.Write([]byte("assistd message-id key"))
		keys = append(keys, m.Sum(nil))
	}
	return keys
}

// mailDomain is the domain our Message-IDs carry: the From address's.
func mailDomain(from string) string {
	if i := strings.LastIndexByte(AddressOf(from), '@'); i >= 0 {
		return AddressOf(from)[i+1:]
	}
	host, _ := os.Hostname()
	return host
}

// AddressOf is the bare address of a From value such as "Apoio <suporte@example.pt>".
func AddressOf(from string) string {
	if a, err := netmail.ParseAddress(from); err == nil {
		return a.Address
	}
	return from
}
