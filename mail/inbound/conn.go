package inbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/charset"
)

// imapSecurity is how the connection to the IMAP server is protected.
type imapSecurity int

const (
	imapPlain imapSecurity = iota
	imapSTARTTLS
	imapTLS
)

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

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
