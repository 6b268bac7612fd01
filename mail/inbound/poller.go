package inbound

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/charset"
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
	// AnswersPerHour caps automatic answers across all senders, the last fuse against a mail
	// loop; 0 means 500.
	AnswersPerHour int
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

// imapSecurity is how the connection to the IMAP server is protected.
type imapSecurity int

const (
	imapPlain imapSecurity = iota
	imapSTARTTLS
	imapTLS
)

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
	defaultPollInterval   = 30 * time.Second
	defaultDoneFolder     = "Processed"
	defaultRejectFolder   = "Unparseable"
	defaultAnswerWindow   = 24 * time.Hour
	defaultAnswersPerHour = 500
	defaultBatchSize      = 250
	defaultLeaseTTL       = 15 * time.Second
	// idleRecheck reads the mailbox now and then even under IDLE, in case a server forgets to
	// tell us about a message.
	idleRecheck = 5 * time.Minute
	// kindAutoAnswer is the outbox kind of an automatic answer.
	kindAutoAnswer = "auto_answer"
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
	p.cls = newClassifier(cfg.OwnAddresses, deps.IDs)
	return p, nil
}

// IMAPEndpoint is a mailbox URL taken apart.
type IMAPEndpoint struct {
	Addr     string // host:port
	User     string
	Password string
	Mailbox  string // INBOX unless the URL's path names another
	security imapSecurity
}

// ParseIMAPURL reads imaps://user:pass@host[:993]/INBOX, imap://…?starttls=true, or plain
// imap://, which it refuses unless the host is loopback: the password would cross the network
// in clear.
func ParseIMAPURL(raw string) (IMAPEndpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return IMAPEndpoint{}, errors.New("inbound: invalid IMAP URL") // the URL holds a password: not echoed
	}
	var ep IMAPEndpoint
	host, port := u.Hostname(), u.Port()
	switch {
	case u.Scheme == "imaps":
		ep.security, port = imapTLS, orDefault(port, "993")
	case u.Scheme == "imap" && u.Query().Get("starttls") == "true":
		ep.security, port = imapSTARTTLS, orDefault(port, "143")
	case u.Scheme == "imap":
		ep.security, port = imapPlain, orDefault(port, "143")
		if !loopbackHost(host) {
			return IMAPEndpoint{}, fmt.Errorf("inbound: plain imap:// to %s would send the password in clear: use imaps:// or ?starttls=true", host)
		}
	default:
		return IMAPEndpoint{}, fmt.Errorf("inbound: IMAP URL scheme %q (want imaps or imap)", u.Scheme)
	}
	if host == "" || u.User == nil || u.User.Username() == "" {
		return IMAPEndpoint{}, errors.New("inbound: IMAP URL needs a user and a host")
	}
	ep.Addr = net.JoinHostPort(host, port)
	ep.User = u.User.Username()
	ep.Password, _ = u.User.Password()
	ep.Mailbox = orDefault(strings.TrimPrefix(u.Path, "/"), "INBOX")
	return ep, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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

// session is one IMAP connection: it reads the mailbox until the connection or the lease is
// lost, or ctx is done.
func (p *Poller) session(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	c, conn, err := p.dial(wake)
	if err != nil {
		metrics.IMAPErrors.WithLabelValues("connect").Inc()
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	// Ending the session fails the client's reading rather than closing the connection under it:
	// imapclient closes a command's channel from a failed write while its reader may still be
	// handing that command a message.
	stop := context.AfterFunc(ctx, conn.interrupt)
	defer stop()

	if err := c.Login(p.user, p.pass).Wait(); err != nil {
		metrics.IMAPErrors.WithLabelValues("connect").Inc()
		return fmt.Errorf("login as %s: %w", p.user, err)
	}
	for _, folder := range []string{p.cfg.DoneFolder, p.cfg.RejectFolder} {
		if err := ensureFolder(c, folder); err != nil {
			metrics.IMAPErrors.WithLabelValues("connect").Inc()
			return err
		}
	}
	sel, err := c.Select(p.mailbox, nil).Wait()
	if err != nil {
		metrics.IMAPErrors.WithLabelValues("connect").Inc()
		return fmt.Errorf("select %s: %w", p.mailbox, err)
	}
	s := &session{p: p, c: c, wake: wake, uidValidity: sel.UIDValidity, idle: !p.cfg.NoIDLE && (c.Caps().Has(imap.CapIdle) || c.Caps().Has(imap.CapIMAP4rev2))}
	if s.idle {
		p.log.Info("mailbox open", "mailbox", p.mailbox, "wait", "idle")
	} else {
		p.log.Info("mailbox open", "mailbox", p.mailbox, "wait", "poll", "every", p.cfg.PollInterval)
	}
	if err := s.start(ctx, sel); err != nil {
		return err
	}
	for {
		n, err := s.drain(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		metrics.IMAPLastPoll.SetToCurrentTime()
		if n > 0 {
			// Our own moves may have hidden an EXISTS from us: look again before idling.
			continue
		}
		if err := s.wait(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

func (p *Poller) dial(wake chan<- struct{}) (*imapclient.Client, *silenceLimit, error) {
	opts := &imapclient.Options{
		WordDecoder: &mime.WordDecoder{CharsetReader: charset.Reader},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	// imapclient waits for a command's reply with no deadline of its own: a server that keeps
	// the connection open and stops answering would hold the mailbox, and the lease, forever.
	dialer := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	raw, err := dialer.Dial("tcp", p.addr)
	if err != nil {
		return nil, nil, err
	}
	conn := &silenceLimit{Conn: raw, limit: p.cfg.ServerSilence}
	if p.security == imapPlain {
		return imapclient.New(conn, opts), conn, nil
	}
	host, _, _ := net.SplitHostPort(p.addr)
	cfg := &tls.Config{}
	if p.cfg.TLSConfig != nil {
		cfg = p.cfg.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if p.security == imapSTARTTLS {
		opts.TLSConfig = cfg
		c, err := imapclient.NewStartTLS(conn, opts)
		return c, conn, err
	}
	if cfg.NextProtos == nil {
		cfg.NextProtos = []string{"imap"}
	}
	tc := tls.Client(conn, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), dialer.Timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, nil, err
	}
	return imapclient.New(tc, opts), conn, nil
}

// silenceLimit bounds every read by limit, on top of any deadline the IMAP client sets: the
// connection fails once the server has said nothing for that long.
type silenceLimit struct {
	net.Conn
	limit time.Duration

	mu          sync.Mutex
	deadline    time.Time // the client's own read deadline; zero: none
	interrupted bool
}

func (c *silenceLimit) Read(b []byte) (int, error) {
	// Under the lock, so that an interrupt cannot fall between the check and the deadline.
	c.mu.Lock()
	if c.interrupted {
		c.mu.Unlock()
		return 0, os.ErrDeadlineExceeded
	}
	d := c.deadline
	if limit := time.Now().Add(c.limit); d.IsZero() || limit.Before(d) {
		d = limit
	}
	err := c.Conn.SetReadDeadline(d)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// interrupt fails every read from now on, the one in progress included.
func (c *silenceLimit) interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.interrupted = true
	_ = c.Conn.SetReadDeadline(time.Unix(1, 0))
}

func (c *silenceLimit) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}

func (c *silenceLimit) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

func ensureFolder(c *imapclient.Client, name string) error {
	found, err := c.List("", name, nil).Collect()
	if err != nil {
		return fmt.Errorf("list %s: %w", name, err)
	}
	if len(found) > 0 {
		return nil
	}
	if err := c.Create(name, nil).Wait(); err != nil {
		var ierr *imap.Error
		if errors.As(err, &ierr) && ierr.Code == imap.ResponseCodeAlreadyExists {
			return nil
		}
		return fmt.Errorf("create %s: %w", name, err)
	}
	return nil
}

// session is the state of one connection with the mailbox selected.
type session struct {
	p           *Poller
	c           *imapclient.Client
	wake        chan struct{}
	idle        bool
	uidValidity uint32
	last        uint32 // the cursor: every UID up to it is recorded
	// oldReason is recorded for unrecorded mail found at or below the cursor: mail that was in
	// the mailbox before its first connection, or before its UIDVALIDITY changed.
	oldReason string
	// swept is set once the messages at or below the cursor still in the mailbox (recorded
	// but not moved, as after a crash) have been dealt with in this session.
	swept bool
}

// start reads the cursor, setting it at the mailbox's end on a first connection or after a
// UIDVALIDITY change, so that the mail already there is recorded without an answer.
func (s *session) start(ctx context.Context, sel *imap.SelectData) error {
	p := s.p
	cur, err := p.deps.Store.MailboxCursor(ctx, p.key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.oldReason = ReasonBacklog
	case err != nil:
		metrics.IMAPErrors.WithLabelValues("record").Inc()
		return fmt.Errorf("read cursor: %w", err)
	case cur.UIDValidity != sel.UIDValidity:
		s.oldReason = ReasonOldMail
		p.log.Warn("mailbox UIDVALIDITY changed: recording its mail without answering", "mailbox", p.key,
			"was", cur.UIDValidity, "now", sel.UIDValidity)
	default:
		s.last = cur.LastUID
		s.oldReason = "below_cursor"
		return nil
	}
	top := uint32(sel.UIDNext)
	if top > 0 {
		top--
	} else {
		// A server that does not say UIDNEXT: the highest UID there is.
		data, err := s.c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		for _, uid := range data.AllUIDs() {
			top = max(top, uint32(uid))
		}
	}
	s.last = top
	if err := p.deps.Store.SetMailboxCursor(ctx, storage.MailboxCursor{Mailbox: p.key, UIDValidity: sel.UIDValidity, LastUID: top}); err != nil {
		metrics.IMAPErrors.WithLabelValues("record").Inc()
		return fmt.Errorf("set cursor: %w", err)
	}
	p.log.Info("mailbox cursor set", "mailbox", p.key, "uidvalidity", sel.UIDValidity, "last_uid", top, "reason", s.oldReason)
	return nil
}

// wait returns when the mailbox may hold new mail: at once under IDLE, else after the poll
// interval.
func (s *session) wait(ctx context.Context) error {
	if !s.idle {
		select {
		case <-ctx.Done():
		case <-s.c.Closed():
			return errors.New("connection closed")
		case <-time.After(s.p.cfg.PollInterval):
		}
		return nil
	}
	select {
	case <-s.wake: // arrived while draining
		return nil
	default:
	}
	cmd, err := s.c.Idle()
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	// IDLE is renewed well before the server's allowed silence runs out.
	recheck := time.NewTimer(min(idleRecheck, s.p.cfg.ServerSilence/2))
	defer recheck.Stop()
	select {
	case <-ctx.Done():
	case <-s.c.Closed():
	case <-s.wake:
	case <-recheck.C:
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	return nil
}

// pending is a UID to fetch, and whether its mail may be answered.
type pending struct {
	uid    imap.UID
	answer bool
}

// drain records every message above the cursor (and, once per session, those below it that
// are still in the mailbox), batch by batch: the next batch is fetched while the current one is
// recorded, and each batch is flagged and moved with one command once it is committed.
func (s *session) drain(ctx context.Context) (int, error) {
	from := imap.UID(s.last + 1)
	if !s.swept {
		from = 1
	}
	data, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: from, Stop: 0}}}}, nil).Wait()
	if err != nil {
		metrics.IMAPErrors.WithLabelValues("fetch").Inc()
		return 0, fmt.Errorf("search: %w", err)
	}
	var todo []pending
	for _, uid := range data.AllUIDs() {
		// "UID n:*" always matches the last message, even below n: filter ourselves.
		if uid < from {
			continue
		}
		todo = append(todo, pending{uid: uid, answer: uint32(uid) > s.last})
	}
	slices.SortFunc(todo, func(a, b pending) int { return int(a.uid) - int(b.uid) })
	if len(todo) == 0 {
		s.swept = true
		return 0, nil
	}

	var (
		batches  = chunk(todo, s.p.cfg.BatchSize)
		next     = s.fetch(batches[0])
		disposed []*disposal
	)
	defer func() {
		if next != nil {
			select {
			case <-s.c.Closed():
			default:
				collect(next)
			}
		}
		for _, d := range disposed {
			d.wait(s.p.log)
		}
	}()
	for i, batch := range batches {
		msgs, err := collect(next)
		next = nil
		if err != nil {
			metrics.IMAPErrors.WithLabelValues("fetch").Inc()
			return 0, fmt.Errorf("fetch: %w", err)
		}
		if i+1 < len(batches) {
			next = s.fetch(batches[i+1])
		}
		done, rejected, err := s.record(ctx, batch, msgs)
		if err != nil {
			metrics.IMAPErrors.WithLabelValues("record").Inc()
			return 0, err
		}
		disposed = append(disposed, s.dispose(done, s.p.cfg.DoneFolder), s.dispose(rejected, s.p.cfg.RejectFolder))
		// Keep at most two batches' disposals in flight.
		for len(disposed) > 4 {
			disposed[0].wait(s.p.log)
			disposed = disposed[1:]
		}
	}
	s.swept = true
	return len(todo), nil
}

func chunk(todo []pending, n int) [][]pending {
	var out [][]pending
	for len(todo) > n {
		out = append(out, todo[:n])
		todo = todo[n:]
	}
	return append(out, todo)
}

var (
	headerSection = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true,
		Partial: &imap.SectionPartial{Offset: 0, Size: mail.MaxInboundHeader}}
	textSection = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true,
		Partial: &imap.SectionPartial{Offset: 0, Size: mail.MaxInboundBody}}
	fetchOptions = &imap.FetchOptions{UID: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{headerSection, textSection}}
)

// collect reads a fetch's responses. Unlike FetchCommand.Collect it leaves the command alone
// after a read error: reading a failed literal again races with the client's reader.
func collect(cmd *imapclient.FetchCommand) ([]*imapclient.FetchMessageBuffer, error) {
	var out []*imapclient.FetchMessageBuffer
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		buf := &imapclient.FetchMessageBuffer{SeqNum: msg.SeqNum}
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				buf.UID = item.UID
			case imapclient.FetchItemDataInternalDate:
				buf.InternalDate = item.Time
			case imapclient.FetchItemDataBodySection:
				var b []byte
				if item.Literal != nil {
					var err error
					// The server honours the partial size; the limit guards against one that does not.
					if b, err = io.ReadAll(io.LimitReader(item.Literal, mail.MaxInboundHeader+mail.MaxInboundBody)); err != nil {
						return nil, err
					}
				}
				buf.BodySection = append(buf.BodySection, imapclient.FetchBodySectionBuffer{Section: item.Section, Bytes: b})
			}
		}
		out = append(out, buf)
	}
	return out, cmd.Close()
}

// fetch asks for a batch's headers and the start of their bodies, without waiting.
func (s *session) fetch(batch []pending) *imapclient.FetchCommand {
	var set imap.UIDSet
	for _, m := range batch {
		set.AddNum(m.uid)
	}
	return s.c.Fetch(set, fetchOptions)
}

// record classifies a fetched batch and records it with its answers in one transaction, then
// hands the answers to the queue. It returns the UIDs to move to the done folder and those to
// move aside.
func (s *session) record(ctx context.Context, batch []pending, msgs []*imapclient.FetchMessageBuffer) (done, rejected []imap.UID, err error) {
	p := s.p
	answer := make(map[imap.UID]bool, len(batch))
	for _, m := range batch {
		answer[m.uid] = m.answer
	}
	type item struct {
		msg     *mail.Inbound
		verdict verdict
		arrived time.Time
	}
	items := make([]item, 0, len(msgs))
	var numbers []string
	recs := make([]storage.InboundRecord, 0, len(msgs))
	for _, buf := range msgs {
		if buf.UID == 0 {
			continue
		}
		header, body := buf.FindBodySection(headerSection), buf.FindBodySection(textSection)
		if len(buf.BodySection) == 0 || (header == nil && answer[buf.UID]) {
			// Gone while we fetched it (expunged or moved by another session): no section at all,
			// or NIL for it, as Dovecot answers. Nothing to record. Were it still there, it sits
			// below the cursor and the next connection sweeps it, recording it as unparseable
			// if it still cannot be read.
			p.log.Debug("fetched message had no content; skipped", "uid", buf.UID)
			continue
		}
		m, perr := mail.ParseInbound(header, body)
		var v verdict
		switch {
		case perr != nil:
			m = &mail.Inbound{DedupeKey: mail.UnreadableKey(header, body)}
			v = verdict{Outcome: storage.InboundUnparseable, Reason: ReasonMalformed}
		case !answer[buf.UID]:
			v = p.cls.classify(m)
			if v.Variant != "" {
				v = verdict{Outcome: storage.InboundBacklog, Reason: s.oldReason}
			}
		default:
			v = p.cls.classify(m)
		}
		m.UID, m.InternalDate = uint32(buf.UID), buf.InternalDate
		if v.Number != "" {
			numbers = append(numbers, v.Number)
		}
		items = append(items, item{msg: m, verdict: v, arrived: buf.InternalDate})
	}
	var found map[string]storage.InboundTicket
	if len(numbers) > 0 {
		if found, err = p.deps.Store.InboundTickets(ctx, numbers); err != nil {
			return nil, nil, fmt.Errorf("look up tickets: %w", err)
		}
	}
	var last uint32
	for _, b := range batch {
		last = max(last, uint32(b.uid))
	}
	for i := range items {
		it := &items[i]
		m := it.msg
		t, ok := found[it.verdict.Number]
		it.verdict = resolve(it.verdict, t, ok, m.ReturnPath)
		rec := storage.InboundRecord{DedupeKey: m.DedupeKey, UID: m.UID, From: mail.HeaderText(m.From),
			Subject: mail.HeaderText(m.Subject), Outcome: it.verdict.Outcome, Reason: it.verdict.Reason}
		if ok && it.verdict.Variant != mail.AutoAnswerNoTicket {
			rec.TicketID = &t.ID
		}
		if len(it.verdict.bounce) > 0 {
			rec.Bounce = &storage.InboundBounce{MessageIDs: it.verdict.bounce, Status: it.verdict.bounceStatus,
				Permanent: strings.HasPrefix(it.verdict.bounceStatus, "5.")}
		}
		recs = append(recs, rec)
	}
	// Rendering the answers is the batch's CPU work: spread it over the cores.
	answers := make([]mail.AutoAnswer, len(items))
	for i, it := range items {
		if it.verdict.Variant == "" {
			continue
		}
		number := ""
		if it.verdict.Variant != mail.AutoAnswerNoTicket {
			number = it.verdict.Number
		}
		answers[i] = mail.AutoAnswer{Variant: it.verdict.Variant, Number: number, Language: found[it.verdict.Number].Language,
			To: it.msg.ReturnPath, InReplyTo: it.msg.MessageID, References: it.msg.References, OriginalSubject: it.msg.Subject}
	}
	outs, errs := p.composeAll(answers)
	for i := range items {
		it, rec := &items[i], &recs[i]
		if answers[i].Variant == "" {
			continue
		}
		switch cerr := errs[i]; {
		case errors.Is(cerr, mail.ErrInvalidAddress):
			rec.Outcome, rec.Reason = storage.InboundUnparseable, ReasonBadReturnPath
			it.verdict.Outcome = rec.Outcome
		case cerr != nil:
			p.log.Error("cannot compose an automatic answer", "uid", it.msg.UID, "err", cerr)
			rec.Outcome, rec.Reason = storage.InboundUnparseable, "compose_failed"
			it.verdict.Outcome = rec.Outcome
		default:
			out := outs[i]
			rec.Answer = &storage.Email{Kind: kindAutoAnswer, TicketID: rec.TicketID, EnvelopeFrom: out.EnvelopeFrom,
				Recipient: out.To, MessageID: out.MessageID, Raw: out.Raw}
			rec.LimitKey = it.msg.ReturnPath + "|" + answers[i].Number
		}
	}

	record := storage.InboundBatch{Mailbox: p.key, UIDValidity: s.uidValidity, LastUID: last, Records: recs,
		Limits: storage.AnswerLimits{PerKey: p.cfg.AnswerWindow, PerHour: p.cfg.AnswersPerHour}}
	res, err := s.recordWithRetry(ctx, record)
	if storage.Refused(err) {
		res, err = s.recordOneByOne(ctx, record, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("record batch: %w", err)
	}
	s.last = max(s.last, last)
	if len(res.OutboxIDs) > 0 {
		if err := p.deps.Enqueue(ctx, res.OutboxIDs); err != nil {
			p.log.Warn("automatic answers queued in the outbox but not enqueued: the relay will send them", "count", len(res.OutboxIDs), "err", err)
		}
	}
	recorded := time.Now()
	metrics.IMAPBatch.Observe(float64(len(recs)))
	for i, rec := range recs {
		outcome := res.Outcomes[i]
		m := items[i].msg
		if outcome == storage.InboundUnparseable || (outcome == "" && items[i].verdict.Outcome == storage.InboundUnparseable) {
			rejected = append(rejected, imap.UID(m.UID))
		} else {
			done = append(done, imap.UID(m.UID))
		}
		if outcome == "" {
			continue // recorded before, by us or by another poller
		}
		reason := rec.Reason
		if outcome == storage.InboundRateLimited {
			reason = res.Reasons[i]
		}
		metrics.InboundMessages.WithLabelValues(outcome, reason).Inc()
		switch outcome {
		case storage.InboundAnsweredTicket, storage.InboundAnsweredClosed, storage.InboundAnsweredNoTicket:
			metrics.AutoAnswers.WithLabelValues(items[i].verdict.Variant).Inc()
		}
		if rec.Bounce != nil || items[i].verdict.Reason == ReasonDeliveryReport || items[i].verdict.Reason == ReasonBounce {
			linked := "unlinked"
			if res.Linked[i] {
				linked = "linked"
			}
			metrics.InboundBounces.WithLabelValues(linked).Inc()
		}
		if !items[i].arrived.IsZero() && items[i].verdict.Outcome != storage.InboundBacklog {
			metrics.IMAPLag.Observe(recorded.Sub(items[i].arrived).Seconds())
		}
		p.log.Debug("inbound message recorded", "uid", m.UID, "outcome", outcome, "reason", reason)
	}
	return done, rejected, nil
}

// recordOneByOne records a batch the database refused one message at a time, so that a message
// it refuses does not hold back the others, nor the mailbox after them: that one is recorded
// bare, as unparseable for ReasonRefused, and set aside. Its record in b.Records (the caller's)
// is replaced by the bare one.
func (s *session) recordOneByOne(ctx context.Context, b storage.InboundBatch, cause error) (storage.InboundResult, error) {
	s.p.log.Warn("inbound batch refused by the database; recording its messages one by one", "messages", len(b.Records), "err", cause)
	n := len(b.Records)
	res := storage.InboundResult{Outcomes: make([]string, n), Reasons: make([]string, n), Linked: make([]bool, n)}
	for i := range b.Records {
		one := b
		one.Records, one.LastUID = b.Records[i:i+1], min(b.Records[i].UID, b.LastUID)
		r, err := s.recordWithRetry(ctx, one)
		if storage.Refused(err) {
			s.p.log.Error("inbound message refused by the database: recorded bare and set aside", "uid", b.Records[i].UID, "err", err)
			b.Records[i] = storage.InboundRecord{DedupeKey: b.Records[i].DedupeKey, UID: b.Records[i].UID,
				Outcome: storage.InboundUnparseable, Reason: ReasonRefused}
			r, err = s.recordWithRetry(ctx, one)
		}
		if err != nil {
			return res, err
		}
		res.Outcomes[i], res.Reasons[i], res.Linked[i] = r.Outcomes[0], r.Reasons[0], r.Linked[0]
		res.OutboxIDs = append(res.OutboxIDs, r.OutboxIDs...)
	}
	// The batch's cursor: it may lie past its last record (a message gone while it was fetched).
	if _, err := s.recordWithRetry(ctx, storage.InboundBatch{Mailbox: b.Mailbox, UIDValidity: b.UIDValidity, LastUID: b.LastUID,
		Limits: b.Limits}); err != nil {
		return res, err
	}
	return res, nil
}

// recordWithRetry records a batch again when another poller raced it: the second time the
// messages it recorded are known and skipped.
func (s *session) recordWithRetry(ctx context.Context, b storage.InboundBatch) (storage.InboundResult, error) {
	for attempt := 0; ; attempt++ {
		res, err := s.p.deps.Store.RecordInbound(ctx, b)
		if !errors.Is(err, storage.ErrInboundRace) || attempt == 3 {
			return res, err
		}
	}
}

// disposal is a flag-and-move in flight.
type disposal struct {
	folder string
	store  *imapclient.FetchCommand
	move   *imapclient.MoveCommand
}

// dispose flags messages \Seen and moves them, without waiting for the server.
func (s *session) dispose(uids []imap.UID, folder string) *disposal {
	d := &disposal{folder: folder}
	if len(uids) == 0 {
		return d
	}
	var set imap.UIDSet
	set.AddNum(uids...)
	d.store = s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil)
	d.move = s.c.Move(set, folder)
	return d
}

// composeAll renders automatic answers in parallel; an entry with no Variant is skipped.
func (p *Poller) composeAll(answers []mail.AutoAnswer) ([]mail.Outgoing, []error) {
	outs, errs := make([]mail.Outgoing, len(answers)), make([]error, len(answers))
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(answers); i = int(next.Add(1) - 1) {
				if answers[i].Variant != "" {
					outs[i], errs[i] = p.deps.Composer.AutoAnswer(answers[i])
				}
			}
		}()
	}
	wg.Wait()
	return outs, errs
}

// wait waits for a disposal. A message left behind stays at or below the cursor: it is moved
// at the next connection, never answered again.
func (d *disposal) wait(log *slog.Logger) {
	if d.store != nil {
		if err := d.store.Close(); err != nil {
			metrics.IMAPErrors.WithLabelValues("dispose").Inc()
			log.Warn("cannot flag messages seen", "err", err)
		}
		d.store = nil
	}
	if d.move != nil {
		if _, err := d.move.Wait(); err != nil {
			metrics.IMAPErrors.WithLabelValues("dispose").Inc()
			log.Warn("cannot move messages", "folder", d.folder, "err", err)
		}
		d.move = nil
	}
}

// lease is the right to poll a mailbox, held in Redis by one instance at a time.
type lease struct {
	rdb   redis.UniversalClient
	key   string
	token string
	ttl   time.Duration
	log   *slog.Logger
}

var (
	renewScript   = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) else return 0 end`)
	releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`)
)

// acquire waits for the mailbox's lease; it returns nil, nil when ctx is done first.
func (p *Poller) acquire(ctx context.Context) (*lease, error) {
	random := make([]byte, 8)
	_, _ = crand.Read(random)
	l := &lease{rdb: p.deps.Redis, key: "assistd:imap:lease:" + p.key, token: p.cfg.Instance + "/" + hex.EncodeToString(random),
		ttl: p.cfg.LeaseTTL, log: p.log}
	waiting := false
	for {
		ok, err := l.rdb.SetNX(ctx, l.key, l.token, l.ttl).Result()
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil
			}
			metrics.IMAPErrors.WithLabelValues("lease").Inc()
			return nil, fmt.Errorf("take the mailbox lease: %w", err)
		}
		if ok {
			p.log.Info("holding the mailbox", "mailbox", p.key, "instance", p.cfg.Instance)
			return l, nil
		}
		if !waiting {
			holder, _ := l.rdb.Get(ctx, l.key).Result()
			p.log.Info("mailbox held by another instance; waiting", "mailbox", p.key, "holder", holder)
			waiting = true
		}
		if !sleep(ctx, l.ttl/3) {
			return nil, nil
		}
	}
}

// keep renews the lease until ctx is done, and cancels the session as soon as it cannot: the
// mailbox may then belong to someone else.
func (l *lease) keep(ctx context.Context, lost context.CancelCauseFunc) {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := renewScript.Run(ctx, l.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
		if ctx.Err() != nil {
			return
		}
		if err != nil || n == 0 {
			metrics.IMAPErrors.WithLabelValues("lease").Inc()
			if err == nil {
				err = errors.New("taken over")
			}
			lost(fmt.Errorf("mailbox lease lost: %w", err))
			return
		}
	}
}

func (l *lease) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := releaseScript.Run(ctx, l.rdb, []string{l.key}, l.token).Err(); err != nil {
		l.log.Warn("cannot release the mailbox lease; it expires by itself", "err", err)
	}
}

// sleep waits d or until ctx is done; it reports whether the whole d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
