package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/assembly"
	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/mail/inbound"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/worker"
)

// openSystem puts assistd together from its settings; withWorker opens what only the worker role
// uses (the SMTP relay, the relaxed deliveries pool).
func openSystem(ctx context.Context, cfg config, log *slog.Logger, withWorker bool, demoCustomer string) (*assembly.System, error) {
	set := assembly.Settings{DatabaseURL: cfg.DatabaseURL, DatabasePool: cfg.DatabasePool, Migrate: cfg.Migrate, RelaxedDeliveries: withWorker,
		RedisURL: cfg.RedisURL, SecretKeys: cfg.SecretKeys, MailFrom: cfg.MailFrom, PublicURL: cfg.PublicURL,
		SecretTTL: cfg.SecretTTL, AutoCloseAfter: cfg.AutoCloseAfter, RetentionClosed: cfg.RetentionClosed,
		API: api.Config{APIToken: cfg.APIToken, StaffToken: cfg.StaffToken, PortalURL: cfg.PortalURL, PortalSecret: cfg.PortalSecret,
			StaffLinkSecret: cfg.StaffLinkSecret, DemoCustomer: demoCustomer,
			AttachmentMaxBytes: cfg.AttachmentMaxBytes, AttachmentTypes: cfg.AttachmentTypes,
			OIDC: api.OIDCConfig{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCSecret}},
		AttachmentsURL: cfg.AttachmentsURL, ClamdAddr: cfg.ClamdAddr,
		Worker: worker.Config{Concurrency: cfg.WorkerConcurrency, ShutdownTimeout: cfg.ShutdownAfter, TaskCheckInterval: cfg.WorkerPollInterval},
		Poller: inbound.Config{URL: cfg.IMAPURL, PollInterval: cfg.IMAPPollInterval, NoIDLE: cfg.IMAPNoIDLE, DoneFolder: cfg.IMAPDoneFolder,
			AnswersPerHour: cfg.StrangerAnswerCap, CustomerAnswersPerHour: cfg.CustomerAnswerCap, AuthServID: cfg.MailAuthServID}}
	if withWorker {
		set.SMTP = mail.SenderConfig{URL: cfg.SMTPURL, PoolSize: cfg.SMTPPool, Timeout: 30 * time.Second}
	}
	sys, err := assembly.New(ctx, set, assembly.WithLog(log), assembly.WithQueueMetrics())
	if err != nil {
		return nil, named(err)
	}
	return sys, nil
}

// named names the environment variable behind a setting the system refused.
func named(err error) error {
	var bad *assembly.SettingError
	if !errors.As(err, &bad) {
		return err
	}
	switch bad.Setting {
	case "SecretKeys":
		return fmt.Errorf("refusing to start: %w", bad.Err)
	case "DatabaseURL":
		return fmt.Errorf("ASSISTD_DATABASE_URL: %w", bad.Err)
	case "RedisURL":
		return fmt.Errorf("ASSISTD_REDIS_URL: %w", bad.Err)
	case "MailFrom/PublicURL":
		return fmt.Errorf("ASSISTD_MAIL_FROM / ASSISTD_PUBLIC_URL: %w", bad.Err)
	case "SMTP":
		return fmt.Errorf("ASSISTD_SMTP_URL: %w", bad.Err)
	case "Poller":
		return fmt.Errorf("ASSISTD_IMAP_URL: %w", bad.Err)
	case "AttachmentsURL":
		return fmt.Errorf("ASSISTD_ATTACHMENTS_URL: %w", bad.Err)
	case "ClamdAddr":
		return fmt.Errorf("ASSISTD_CLAMD_ADDR: %w", bad.Err)
	}
	return err
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
	sys, err := openSystem(ctx, cfg, log, roles["worker"], "")
	if err != nil {
		return err
	}
	defer sys.Close()
	return run(ctx, sys, cfg, roles, nil)
}

// openStore opens the database of ASSISTD_DATABASE_URL; its errors name the variable.
func openStore(ctx context.Context, cfg config, opts ...storage.Option) (*storage.Store, error) {
	st, err := storage.Open(ctx, cfg.DatabaseURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("ASSISTD_DATABASE_URL: %w", err)
	}
	return st, nil
}

// run starts the roles and waits for ctx; on cancellation it stops taking work and lets what is
// in flight finish within the shutdown timeout.
func run(ctx context.Context, s *assembly.System, cfg config, roles map[string]bool, mount func(*api.Server)) error {
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
		s.Log.Info("http listening", "addr", ln.Addr().String())
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
			sctx, c := context.WithTimeout(context.Background(), cfg.ShutdownAfter)
			defer c()
			_ = hs.Shutdown(sctx)
		}()
		return nil
	}
	if roles["api"] {
		srv := s.NewAPI()
		srv.MountOps(api.QueueDashboard(s.Redis))
		if mount != nil {
			mount(srv)
		}
		if err := listen("ASSISTD_HTTP_ADDR", cfg.HTTPAddr, srv); err != nil {
			return err
		}
	}
	// /metrics is open on the ops address only (the public listener shows it to staff): a
	// worker's or a poller's own counters are only visible here. An ops address that is the
	// public one is that listener.
	if cfg.OpsAddr != "" && !(roles["api"] && cfg.OpsAddr == cfg.HTTPAddr) {
		if err := listen("ASSISTD_OPS_ADDR", cfg.OpsAddr, api.OpsHandler(s.Store, s.RedisReady)); err != nil {
			return err
		}
	}
	if roles["worker"] {
		w := s.NewWorker()
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
			if err := runPoller(ctx, s, cfg); err != nil {
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
	s.Log.Info("stopped")
	return err
}

func runPoller(ctx context.Context, s *assembly.System, cfg config) error {
	if cfg.IMAPURL == "" {
		s.Log.Info("poller role idle: ASSISTD_IMAP_URL is not set")
		<-ctx.Done()
		return nil
	}
	p, err := s.NewPoller()
	if err != nil {
		return named(err)
	}
	return p.Run(ctx)
}
