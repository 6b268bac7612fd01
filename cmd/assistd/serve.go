package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	netmail "net/mail"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/mail/inbound"
	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/worker"
)

// system is every part of a running assistd, wired.
type system struct {
	cfg      config
	log      *slog.Logger
	store    *storage.Store
	redis    *redis.Client
	client   *asynq.Client
	enqueuer *jobs.Enqueuer
	keys     *secret.Keyring
	ids      *mail.IDSigner
	composer *mail.Composer
	deps     *jobs.Deps
	// unregisterQueues takes the queue metrics, which read through redis, off the registry.
	unregisterQueues func()
	// demoCustomer signs every visitor in as this customer (assistd demo only).
	demoCustomer string
}

func openSystem(ctx context.Context, cfg config, log *slog.Logger) (*system, error) {
	keys, err := secret.ParseKeyring(cfg.SecretKeys)
	if err != nil {
		return nil, fmt.Errorf("refusing to start: %w", err)
	}
	st, err := openStore(ctx, cfg, storage.PoolSize(cfg.DatabasePool))
	if err != nil {
		return nil, err
	}
	if cfg.Migrate {
		applied, err := st.Migrate(ctx)
		if err != nil {
			st.Close()
			return nil, err
		}
		if len(applied) > 0 {
			log.Info("migrations applied", "count", len(applied))
		}
		if err := st.EnsureCatalog(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	ropt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("ASSISTD_REDIS_URL: %w", unwrapURLError(err)) // the URL may hold a password
	}
	// Short timeouts: when Redis is away the API must keep answering from Postgres alone.
	ropt.DialTimeout, ropt.ReadTimeout, ropt.WriteTimeout = time.Second, 3*time.Second, 3*time.Second
	ropt.PoolSize = 64
	rc := redis.NewClient(ropt)
	idKeys := cfg.messageIDKeys()
	ids := mail.NewIDSigner(idKeys[0], mailDomain(cfg.MailFrom), idKeys[1:]...)
	composer, err := mail.NewComposer(mail.ComposerConfig{From: cfg.MailFrom, PublicURL: cfg.PublicURL, IDs: ids, SecretTTL: cfg.SecretTTL})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("ASSISTD_MAIL_FROM / ASSISTD_PUBLIC_URL: %w", err)
	}
	client := asynq.NewClientFromRedisClient(rc)
	enq := jobs.NewEnqueuer(client)
	s := &system{cfg: cfg, log: log, store: st, redis: rc, client: client, enqueuer: enq, keys: keys, ids: ids, composer: composer}
	if s.unregisterQueues, err = metrics.RegisterQueues(asynq.NewInspectorFromRedisClient(rc)); err != nil {
		log.Warn("queue metrics unavailable", "err", err)
	}
	s.deps = &jobs.Deps{Inspector: asynq.NewInspectorFromRedisClient(rc), Store: st, Composer: composer, Enqueuer: enq, Keys: keys, Log: log, SecretTTL: cfg.SecretTTL, AutoCloseAfter: cfg.AutoCloseAfter}
	return s, nil
}

func (s *system) Close() {
	s.unregisterQueues()
	s.client.Close()
	s.redis.Close()
	s.store.Close()
}

// apiHandler builds the HTTP side: the API, /metrics, and what extra mounts.
func (s *system) apiHandler() *api.Server {
	srv := api.New(api.Config{APIToken: s.cfg.APIToken, StaffToken: s.cfg.StaffToken, PublicURL: s.cfg.PublicURL, SecretTTL: s.cfg.SecretTTL,
		PortalURL: s.cfg.PortalURL, PortalSecret: s.cfg.PortalSecret, DemoCustomer: s.demoCustomer},
		api.Deps{Store: s.store, Keys: s.keys, Composer: s.composer, Enqueuer: s.enqueuer, Log: s.log,
			RedisReady: func(ctx context.Context) error { return s.redis.Ping(ctx).Err() }})
	srv.MountOps(api.QueueDashboard(s.redis))
	return srv
}

// minToken is the shortest API or staff token the api role accepts: 32 characters of
// `openssl rand -hex` are 128 bits, beyond any guessing over HTTP.
const minToken = 32

func serve(ctx context.Context, cfg config, log *slog.Logger, roles map[string]bool) error {
	if roles["api"] && (cfg.APIToken == "" || cfg.StaffToken == "") {
		return errors.New("refusing to start the api role: set ASSISTD_API_TOKEN and ASSISTD_STAFF_TOKEN")
	}
	if roles["api"] && subtle.ConstantTimeCompare([]byte(cfg.APIToken), []byte(cfg.StaffToken)) == 1 {
		// The client area's token would open every staff path.
		return errors.New("refusing to start the api role: ASSISTD_API_TOKEN and ASSISTD_STAFF_TOKEN must differ")
	}
	if roles["api"] {
		// A bearer token is checked on every call, and the staff token also on the console's
		// sign-in form: too short, it could be found by trying.
		for _, tok := range []struct{ name, value string }{{"ASSISTD_API_TOKEN", cfg.APIToken}, {"ASSISTD_STAFF_TOKEN", cfg.StaffToken}} {
			if len(tok.value) < minToken {
				return fmt.Errorf("refusing to start the api role: %s is %d characters; it must have at least %d (openssl rand -hex 24)", tok.name, len(tok.value), minToken)
			}
		}
	}
	sys, err := openSystem(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer sys.Close()
	if roles["worker"] {
		sender, err := newSender(cfg)
		if err != nil {
			return err
		}
		defer sender.Close()
		sys.deps.Sender = sender
		// Recording deliveries only ever resends after a database crash: it can skip waiting for
		// the disk on every commit.
		deliveries, err := openStore(ctx, cfg, storage.PoolSize(cfg.DatabasePool), storage.RelaxedCommit())
		if err != nil {
			return err
		}
		defer deliveries.Close()
		sys.deps.Deliveries = deliveries
	}
	return sys.run(ctx, roles, nil)
}

// openStore opens the database of ASSISTD_DATABASE_URL; its errors name the variable.
func openStore(ctx context.Context, cfg config, opts ...storage.Option) (*storage.Store, error) {
	st, err := storage.Open(ctx, cfg.DatabaseURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("ASSISTD_DATABASE_URL: %w", err)
	}
	return st, nil
}

func newSender(cfg config) (*mail.Sender, error) {
	s, err := mail.NewSender(mail.SenderConfig{URL: cfg.SMTPURL, PoolSize: cfg.SMTPPool, Timeout: 30 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("ASSISTD_SMTP_URL: %w", err)
	}
	return s, nil
}

// run starts the roles and waits for ctx; on cancellation it stops taking work and lets what is
// in flight finish within the shutdown timeout.
func (s *system) run(ctx context.Context, roles map[string]bool, mount func(*api.Server)) error {
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	listen := func(setting, addr string, h http.Handler) error {
		hs := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s: %w", setting, err)
		}
		s.log.Info("http listening", "addr", ln.Addr().String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		// Serve returns as soon as Shutdown starts; waiting for Shutdown itself keeps the
		// database and Redis open until in-flight requests have answered.
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ctx.Done()
			sctx, c := context.WithTimeout(context.Background(), s.cfg.ShutdownAfter)
			defer c()
			_ = hs.Shutdown(sctx)
		}()
		return nil
	}
	switch {
	case roles["api"]:
		srv := s.apiHandler()
		if mount != nil {
			mount(srv)
		}
		if err := listen("ASSISTD_HTTP_ADDR", s.cfg.HTTPAddr, srv); err != nil {
			return err
		}
	case s.cfg.OpsAddr != "":
		// A worker's or a poller's own counters are only visible here.
		if err := listen("ASSISTD_OPS_ADDR", s.cfg.OpsAddr, api.OpsHandler(s.store, func(ctx context.Context) error { return s.redis.Ping(ctx).Err() })); err != nil {
			return err
		}
	}
	if roles["worker"] {
		w := worker.New(s.redis, worker.Config{Concurrency: s.cfg.WorkerConcurrency, ShutdownTimeout: s.cfg.ShutdownAfter,
			TaskCheckInterval: s.cfg.WorkerPollInterval, Periods: worker.DefaultPeriods()}, s.deps)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(ctx); err != nil {
				errc <- err
			}
		}()
	}
	if roles["poller"] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.runPoller(ctx); err != nil {
				errc <- err
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		cancel()
	}
	wg.Wait()
	s.log.Info("stopped")
	return err
}

func (s *system) runPoller(ctx context.Context) error {
	if s.cfg.IMAPURL == "" {
		s.log.Info("poller role idle: ASSISTD_IMAP_URL is not set")
		<-ctx.Done()
		return nil
	}
	host, _ := os.Hostname()
	p, err := inbound.NewPoller(inbound.Config{URL: s.cfg.IMAPURL, PollInterval: s.cfg.IMAPPollInterval, NoIDLE: s.cfg.IMAPNoIDLE, DoneFolder: s.cfg.IMAPDoneFolder,
		OwnAddresses: []string{addressOf(s.cfg.MailFrom)}, Instance: fmt.Sprintf("%s:%d", host, os.Getpid())},
		inbound.Deps{Store: s.store, Composer: s.composer, IDs: s.ids, Redis: s.redis, Enqueue: s.enqueuer.EnqueueEmails, Log: s.log})
	if err != nil {
		return fmt.Errorf("ASSISTD_IMAP_URL: %w", err)
	}
	return p.Run(ctx)
}

// mailDomain is the domain our Message-IDs carry: the From address's.
func mailDomain(from string) string {
	if i := strings.LastIndexByte(addressOf(from), '@'); i >= 0 {
		return addressOf(from)[i+1:]
	}
	host, _ := os.Hostname()
	return host
}

// addressOf is the bare address of a From value such as "Apoio <suporte@example.pt>".
func addressOf(from string) string {
	if a, err := netmail.ParseAddress(from); err == nil {
		return a.Address
	}
	return from
}
