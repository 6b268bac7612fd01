package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SenderConfig says where and how mail is relayed.
//
// URL forms:
//
//	smtp://host:port                       plain; with a user only on loopback
//	smtp://user:pass@host:587?starttls=true STARTTLS required
//	smtps://user:pass@host:465             implicit TLS
type SenderConfig struct {
	URL      string
	PoolSize int // connections kept open; 0 means 4
	// Timeout is the dial and per-command timeout, 0 means 30s. A whole Send gets at most 4× up to
	// the end of its data, and then Timeout again for the relay's answer to it (see transact).
	Timeout time.Duration
	// HelloName is the EHLO name; "" means "localhost".
	HelloName string

	// TLSConfig, when set, is used for STARTTLS and smtps (e.g. a private
	// CA). Its ServerName defaults to the URL's host.
	TLSConfig *tls.Config
}

const (
	defaultPoolSize = 4
	defaultTimeout  = 30 * time.Second
	// A pooled connection idle longer than this is assumed dropped by the
	// relay (most close idle clients after one to five minutes).
	maxIdle = 50 * time.Second
	// A pooled connection idle longer than this is checked with NOOP first.
	checkIdle = 5 * time.Second
)

type security int

const (
	securityNone security = iota
	securitySTARTTLS
	securityImplicitTLS
)

// Sender delivers messages through one SMTP relay over a pool of reused
// connections. It is safe for concurrent use.
type Sender struct {
	addr      string
	security  security
	auth      *url.Userinfo
	timeout   time.Duration
	helloName string
	tls       *tls.Config

	slots chan struct{}  // one per connection that may be open
	idle  chan *poolConn // connections ready for reuse
	mu    sync.Mutex     // guards closed against returning to idle
	done  chan struct{}  // closed by Close
	dial  net.Dialer
}

type poolConn struct {
	client   *smtp.Client
	conn     net.Conn
	lastUsed time.Time
}

var errSenderClosed = errors.New("mail: sender closed")

// NewSender checks cfg. It does not connect: the first Send does.
func NewSender(cfg SenderConfig) (*Sender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, errors.New("mail: SMTP URL does not parse") // the error would echo the password
	}
	s := &Sender{
		auth:      u.User,
		timeout:   cfg.Timeout,
		helloName: cfg.HelloName,
		done:      make(chan struct{}),
	}
	if s.timeout <= 0 {
		s.timeout = defaultTimeout
	}
	if s.helloName == "" {
		s.helloName = "localhost"
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, fmt.Errorf("mail: SMTP URL %s has no host", u.Redacted())
	}
	switch u.Scheme {
	case "smtp":
		switch u.Query().Get("starttls") {
		case "true", "1", "yes":
			s.security = securitySTARTTLS
			if port == "" {
				port = "587"
			}
		case "", "false", "0", "no":
			if port == "" {
				port = "25"
			}
		default:
			return nil, fmt.Errorf("mail: SMTP URL %s: starttls must be true or false", u.Redacted())
		}
	case "smtps":
		s.security = securityImplicitTLS
		if port == "" {
			port = "465"
		}
	default:
		return nil, fmt.Errorf("mail: SMTP URL %s: scheme must be smtp or smtps", u.Redacted())
	}
	if s.auth != nil && s.security == securityNone && !isLoopback(host) {
		return nil, fmt.Errorf("mail: SMTP URL %s sends a password in clear text: use smtps:// or ?starttls=true", u.Redacted())
	}
	s.addr = net.JoinHostPort(host, port)
	if cfg.TLSConfig != nil {
		s.tls = cfg.TLSConfig.Clone()
	} else {
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if s.tls.ServerName == "" {
		s.tls.ServerName = host
	}
	size := cfg.PoolSize
	if size <= 0 {
		size = defaultPoolSize
	}
	s.slots = make(chan struct{}, size)
	s.idle = make(chan *poolConn, size)
	s.dial = net.Dialer{Timeout: s.timeout}
	return s, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send delivers raw to one recipient, its domain in IDNA form. An empty envelopeFrom sends the
// null sender (MAIL FROM:<>). Errors say what failed and never hold the message nor the
// address; a relay's refusal keeps its text, which may quote both (Redact leaves it out). Use
// IsPermanent to tell a refusal from a failure worth retrying.
func (s *Sender) Send(ctx context.Context, envelopeFrom, to string, raw []byte) error {
	to, err := CanonicalAddress(to)
	if err != nil {
		return err
	}
	if envelopeFrom != "" {
		if envelopeFrom, err = CanonicalAddress(envelopeFrom); err != nil {
			return err
		}
	}
	select {
	case <-s.done:
		return errSenderClosed
	default:
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("mail: send: waiting for a connection: %w", ctx.Err())
	case <-s.done:
		return errSenderClosed
	}
	defer func() { <-s.slots }()

	ctx, cancel := context.WithTimeout(ctx, 4*s.timeout)
	defer cancel()
	pc, reused, err := s.conn(ctx)
	if err != nil {
		return fmt.Errorf("mail: send: connect to %s: %w", s.addr, &sessionError{err})
	}
	started, err := s.transact(ctx, pc, envelopeFrom, to, raw)
	if err != nil && !started && reused && ctx.Err() == nil {
		// The relay dropped an idle connection; nothing was sent on it.
		if pc, err = s.connect(ctx); err != nil {
			return fmt.Errorf("mail: send: connect to %s: %w", s.addr, &sessionError{err})
		}
		_, err = s.transact(ctx, pc, envelopeFrom, to, raw)
	}
	if err != nil {
		return fmt.Errorf("mail: send: %w", err)
	}
	return nil
}

// transact runs one mail transaction on pc and then pools or drops pc.
// started reports whether the relay accepted MAIL FROM, i.e. whether the
// failure may be about this message rather than about the connection.
//
// go-smtp has no context: closing the connection is what interrupts it, and ctx does so up to
// the end of the data. Once the final dot is written the relay may already have queued the
// message, so its answer is awaited whatever ctx says, for the submission timeout at most: a
// transaction cut short there is reported as failed, retried, and the customer gets the same
// email twice (RFC 5321 §4.5.3.2.6 gives a relay ten minutes for that answer because content
// filters take their time).
func (s *Sender) transact(ctx context.Context, pc *poolConn, from, to string, raw []byte) (started bool, err error) {
	stop := context.AfterFunc(ctx, func() { pc.conn.Close() })
	detached, interrupted := false, false
	// detach ends ctx's hold on the connection and reports whether the connection is still open.
	detach := func() bool {
		if !detached {
			detached, interrupted = true, !stop()
		}
		return !interrupted
	}
	err = pc.client.Mail(from, nil)
	if err == nil {
		started = true
		err = s.deliver(pc.client, to, raw, detach)
	}
	detach()
	var smtpErr *smtp.SMTPError
	switch {
	case interrupted:
		s.discard(pc)
		err = fmt.Errorf("%w (%w)", context.Cause(ctx), err)
	case err == nil:
		s.release(pc)
	case errors.As(err, &smtpErr) && pc.client.Reset() == nil:
		s.release(pc)
	default:
		s.discard(pc)
	}
	return started, err
}

// errInterrupted is what deliver reports when ctx ended before the final dot: the dot is then
// never written, and the relay drops the message.
var errInterrupted = errors.New("interrupted before the end of the data")

// deliver names the recipient and sends the data. detach is called before the final dot; when it
// reports the connection already closed by ctx, the dot is not sent.
func (s *Sender) deliver(c *smtp.Client, to string, raw []byte, detach func() bool) error {
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if !detach() {
		return errInterrupted
	}
	return w.Close()
}

// conn takes an idle connection that still answers, or dials a new one.
func (s *Sender) conn(ctx context.Context) (pc *poolConn, reused bool, err error) {
	for {
		select {
		case pc := <-s.idle:
			idle := time.Since(pc.lastUsed)
			if idle > maxIdle || (idle > checkIdle && pc.client.Noop() != nil) {
				s.discard(pc)
				continue
			}
			return pc, true, nil
		default:
			pc, err := s.connect(ctx)
			return pc, false, err
		}
	}
}

func (s *Sender) connect(ctx context.Context) (*poolConn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var (
		conn net.Conn
		err  error
	)
	if s.security == securityImplicitTLS {
		d := tls.Dialer{NetDialer: &s.dial, Config: s.tls}
		conn, err = d.DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = s.dial.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := s.handshake(conn)
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, err
	}
	return &poolConn{client: c, conn: conn}, nil
}

func (s *Sender) handshake(conn net.Conn) (*smtp.Client, error) {
	var (
		c   *smtp.Client
		err error
	)
	if s.security == securitySTARTTLS {
		// The EHLO before STARTTLS says "localhost"; the one after says HelloName.
		if c, err = smtp.NewClientStartTLS(conn, s.tls); err != nil {
			return nil, fmt.Errorf("starttls: %w", err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = s.timeout
	c.SubmissionTimeout = s.timeout
	if err := c.Hello(s.helloName); err != nil {
		c.Close()
		return nil, fmt.Errorf("ehlo: %w", err)
	}
	if s.auth != nil {
		pass, _ := s.auth.Password()
		if err := c.Auth(sasl.NewPlainClient("", s.auth.Username(), pass)); err != nil {
			c.Close()
			return nil, fmt.Errorf("auth as %s: %w", s.auth.Username(), err)
		}
	}
	return c, nil
}

// release returns a healthy connection to the pool, or closes it if the
// sender was closed meanwhile.
func (s *Sender) release(pc *poolConn) {
	pc.lastUsed = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		go quit(pc)
		return
	default:
	}
	select {
	case s.idle <- pc:
	default:
		go quit(pc)
	}
}

func (s *Sender) discard(pc *poolConn) { pc.client.Close() }

func quit(pc *poolConn) {
	pc.client.CommandTimeout = 5 * time.Second
	if pc.client.Quit() != nil {
		pc.client.Close()
	}
}

// Close says goodbye to the pooled connections. Sends in progress finish;
// later ones fail.
func (s *Sender) Close() error {
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		return nil
	default:
		close(s.done)
	}
	s.mu.Unlock()
	for {
		select {
		case pc := <-s.idle:
			quit(pc)
		default:
			return nil
		}
	}
}

// Redact says what went wrong with a send in words that hold no personal data, for a task's
// error kept in Redis: a relay's refusal by its reply code and enhanced status only (its text
// often quotes the recipient), anything else as it is (Send quotes no address).
func Redact(err error) string {
	var smtpErr *smtp.SMTPError
	if !errors.As(err, &smtpErr) {
		return err.Error()
	}
	s := "mail: send: the relay answered " + strconv.Itoa(smtpErr.Code)
	if c := smtpErr.EnhancedCode; c != (smtp.EnhancedCode{}) && c != smtp.NoEnhancedCode {
		s += fmt.Sprintf(" %d.%d.%d", c[0], c[1], c[2])
	}
	return s
}

// sessionError is a failure to open a session with the relay: the connection, its greeting,
// EHLO, STARTTLS or our login. It says nothing about the message, whatever the reply code.
type sessionError struct{ err error }

func (e *sessionError) Error() string { return e.err.Error() }
func (e *sessionError) Unwrap() error { return e.err }

// IsPermanent reports whether err is a refusal that retrying will not
// change: an SMTP 5xx reply to the message's transaction, or an address that
// is not valid. 4xx replies, network errors, timeouts and a relay that
// refuses the session itself (a 5xx greeting, EHLO or login: a relay down or
// misconfigured, which would otherwise fail every email) are not permanent.
func IsPermanent(err error) bool {
	var session *sessionError
	if errors.As(err, &session) {
		return false
	}
	var smtpErr *smtp.SMTPError
	if errors.As(err, &smtpErr) {
		return smtpErr.Code >= 500
	}
	return errors.Is(err, ErrInvalidAddress)
}
