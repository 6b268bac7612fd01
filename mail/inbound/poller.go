package inbound

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/storage"
)

// Config says which mailbox the poller watches and how.
type Config struct {
	// URL is the mailbox: imaps://user:pass@host:993/INBOX, imap://…?starttls=true, or plain
	// imap:// (password login refused unless the host is loopback).
	URL string
	// PollInterval is how often the mailbox is read when the server lacks IDLE; 0 means 30s.
	PollInterval time.Duration
	// NoIDLE polls even a server that offers IDLE, for one whose IDLE is broken.
	NoIDLE bool
	// DoneFolder receives every recorded message; "" means "Processed". Created if missing.
	DoneFolder string
	// RejectFolder receives mail that cannot be parsed; "" means "Unparseable".
	RejectFolder string
	// OwnAddresses are our support addresses: mail from them is never answered, and mail that
	// does not name one of them in To, Cc or Resent-To/Cc is not answered.
	OwnAddresses []string
	// Instance names this process in the lease (hostname and pid).
	Instance string

	// AnswerWindow allows one automatic answer per sender and ticket in it; 0 means 24h.
	AnswerWindow time.Duration
	// AnswersPerHour caps the automatic answers of an hour to mail not known to be from a
	// customer, all such senders together (the last fuse against a mail loop and against
	// forged senders); 0 means 100.
	AnswersPerHour int
	// CustomerAnswersPerHour caps, apart, the answers of an hour to mail known to be from a
	// customer: from a customer's address or carrying a Message-ID of ours, and not failing
	// DMARC and SPF by our receiving server's Authentication-Results. 0 means 500.
	CustomerAnswersPerHour int
	// AuthServID is the authserv-id of our own receiving server's Authentication-Results
	// fields; "" ignores every such field.
	AuthServID string
	// BatchSize is how many messages are fetched and recorded together; 0 means 500.
	BatchSize int
	// LeaseTTL is how long the mailbox stays held by an instance that stopped renewing; 0
	// means 15s.
	LeaseTTL time.Duration
	// ServerSilence is how long the server may send nothing while the poller waits for it
	// before the connection is dropped and made again; 0 means a minute more than the longest
	// quiet a healthy session has (the IDLE recheck, or the poll interval if longer).
	ServerSilence time.Duration
	// TLSConfig is used for imaps and STARTTLS (e.g. a private CA); nil means the defaults.
	TLSConfig *tls.Config
}

// Deps is what the poller works with.
type Deps struct {
	Store    *storage.Store
	Composer *mail.Composer
	IDs      *mail.IDSigner
	Redis    redis.UniversalClient // holds the single-active lease
	// Enqueue queues the email:send tasks of outbox rows (jobs.Enqueuer.EnqueueEmails). An
	// error is logged: the outbox relay sends the rows later.
	Enqueue func(ctx context.Context, outboxIDs []int64) error
	Log     *slog.Logger
}

// Poller watches the support mailbox and answers customers who reply by email. One instance
// holds a mailbox at a time; the others wait for its lease.
type Poller struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	cls      *classifier
	addr     string // host:port
	user     string
	pass     string
	security imapSecurity
	mailbox  string // the folder, e.g. INBOX
	key      string // the mailbox's identity in the database and in Redis: user@host:port/INBOX
}

const (
	defaultPollInterval    = 30 * time.Second
	defaultDoneFolder      = "Processed"
	defaultRejectFolder    = "Unparseable"
	defaultAnswerWindow    = 24 * time.Hour
	defaultAnswersPerHour  = 100
	defaultCustomerAnswers = 500
	defaultBatchSize       = 250
	defaultLeaseTTL        = 15 * time.Second
	// idleRecheck reads the mailbox now and then even under IDLE, in case a server forgets to
	// tell us about a message.
	idleRecheck = 5 * time.Minute
)

// NewPoller checks the configuration.
func NewPoller(cfg Config, deps Deps) (*Poller, error) {
	if deps.Store == nil || deps.Composer == nil || deps.IDs == nil || deps.Redis == nil || deps.Enqueue == nil {
		return nil, errors.New("inbound: poller needs a store, a composer, an id signer, redis and an enqueue function")
	}
	if len(cfg.OwnAddresses) == 0 {
		return nil, errors.New("inbound: poller needs our own address (OwnAddresses)")
	}
	ep, err := ParseIMAPURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	p := &Poller{cfg: cfg, deps: deps, log: deps.Log, addr: ep.Addr, user: ep.User, pass: ep.Password, mailbox: ep.Mailbox, security: ep.security}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With("component", "poller")
	p.key = p.user + "@" + strings.ToLower(p.addr) + "/" + p.mailbox
	if p.cfg.PollInterval <= 0 {
		p.cfg.PollInterval = defaultPollInterval
	}
	p.cfg.DoneFolder = orDefault(p.cfg.DoneFolder, defaultDoneFolder)
	p.cfg.RejectFolder = orDefault(p.cfg.RejectFolder, defaultRejectFolder)
	if p.cfg.AnswerWindow <= 0 {
		p.cfg.AnswerWindow = defaultAnswerWindow
	}
	if p.cfg.AnswersPerHour <= 0 {
		p.cfg.AnswersPerHour = defaultAnswersPerHour
	}
	if p.cfg.CustomerAnswersPerHour <= 0 {
		p.cfg.CustomerAnswersPerHour = defaultCustomerAnswers
	}
	if p.cfg.BatchSize <= 0 {
		p.cfg.BatchSize = defaultBatchSize
	}
	if p.cfg.LeaseTTL <= 0 {
		p.cfg.LeaseTTL = defaultLeaseTTL
	}
	switch {
	case p.cfg.ServerSilence <= 0:
		p.cfg.ServerSilence = max(idleRecheck, p.cfg.PollInterval) + time.Minute
	case p.cfg.ServerSilence <= p.cfg.PollInterval:
		return nil, errors.New("inbound: the server's allowed silence must be longer than the poll interval")
	}
	p.cfg.Instance = orDefault(p.cfg.Instance, "assistd")
	p.cls = newClassifier(cfg.OwnAddresses, deps.IDs, cfg.AuthServID)
	return p, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Mailbox is the identity under which the poller keeps the mailbox's cursor and lease.
func (p *Poller) Mailbox() string { return p.key }

// Run watches the mailbox until ctx is done. It waits for the lease while another instance
// holds the mailbox, and reconnects with backoff after an error.
func (p *Poller) Run(ctx context.Context) error {
	wait := time.Second
	for ctx.Err() == nil {
		started := time.Now()
		err := p.hold(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil || time.Since(started) > time.Minute {
			wait = time.Second
		}
		if err != nil {
			p.log.Warn("mailbox session ended", "mailbox", p.key, "err", err, "retry_in", wait)
		}
		// Jitter keeps instances that failed together from retrying together.
		sleep(ctx, wait/2+rand.N(wait/2+1))
		wait = min(2*wait, time.Minute)
	}
	return nil
}

// hold takes the lease and runs one IMAP session under it.
func (p *Poller) hold(ctx context.Context) error {
	l, err := p.acquire(ctx)
	if err != nil || l == nil {
		return err
	}
	metrics.IMAPLeaseHeld.Set(1)
	defer metrics.IMAPLeaseHeld.Set(0)
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		l.keep(sctx, cancel)
	}()
	err = p.session(sctx)
	if cause := context.Cause(sctx); sctx.Err() != nil && ctx.Err() == nil && cause != nil {
		err = cause
	}
	cancel(nil)
	<-renewed
	l.release()
	return err
}
