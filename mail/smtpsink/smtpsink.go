// Package smtpsink is an in-process SMTP server that keeps every mail it
// receives in memory. `assistd demo` shows its mail at /demo/mail, and tests
// of other packages send to it instead of to a real relay.
//
// It accepts any sender and recipient without authentication, over plain
// TCP. It is for demos and tests only: never expose it to a network.
package smtpsink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// MaxKept is how many mails a Sink keeps: past it, the oldest are dropped so
// that a long-running demo does not grow without bound. Total still counts
// every mail received.
const MaxKept = 10000

const maxMessageBytes = 64 << 20

// Mail is one message as the sink received it.
type Mail struct {
	From     string   // envelope sender; "" for the null sender <>
	To       []string // envelope recipients
	Data     []byte   // the message as sent, CRLF line endings; read-only
	Received time.Time
}

// Sink is a running SMTP server that keeps what it receives. It is safe for
// concurrent use.
type Sink struct {
	server   *smtp.Server
	listener net.Listener
	served   chan struct{}

	mu       sync.Mutex
	mails    []Mail
	total    int
	sessions int
	arrived  chan struct{} // closed and replaced at every arrival
	maxKept  int
	reject   func(from string, to []string) *smtp.SMTPError
	delay    time.Duration // between keeping a mail and answering its data
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves SMTP
// until Close.
func Start(addr string) (*Sink, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtpsink: listen on %s: %w", addr, err)
	}
	s := &Sink{listener: l, served: make(chan struct{}), arrived: make(chan struct{}), maxKept: MaxKept}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		return &session{sink: s}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = maxMessageBytes
	srv.MaxRecipients = 100
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.server = srv
	go func() {
		defer close(s.served)
		srv.Serve(l)
	}()
	return s, nil
}

// Addr is the host:port the sink listens on.
func (s *Sink) Addr() string { return s.listener.Addr().String() }

// URL is the sink's address in the form the mail Sender takes.
func (s *Sink) URL() string { return "smtp://" + s.Addr() }

// Mails returns a copy of the kept mails, oldest first. Data is shared with
// the sink: read it, do not modify it.
func (s *Sink) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	mails := slices.Clone(s.mails)
	for i := range mails {
		mails[i].To = slices.Clone(mails[i].To)
	}
	return mails
}

// Total is the number of mails received since Start, including those no
// longer kept.
func (s *Sink) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Sessions is the number of SMTP connections accepted since Start; tests
// use it to check that a client reuses its connections.
func (s *Sink) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Wait blocks until at least n mails have been received since Start, then
// returns the kept mails. It gives up with ctx's error.
func (s *Sink) Wait(ctx context.Context, n int) ([]Mail, error) {
	for {
		s.mu.Lock()
		total, arrived := s.total, s.arrived
		s.mu.Unlock()
		if total >= n {
			return s.Mails(), nil
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return nil, fmt.Errorf("smtpsink: %d of %d mails arrived: %w", total, n, ctx.Err())
		}
	}
}

// Reject installs fn, called at every RCPT with the envelope sender and the
// recipient: a non-nil error is the sink's answer (e.g. a 450 or a 550) and
// the recipient is refused. nil removes the hook.
func (s *Sink) Reject(fn func(from string, to []string) *smtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject = fn
}

// DelayAnswer makes the sink keep each mail as soon as its data ends and answer d later, as a
// relay whose content filter is slow: a client that stops listening meanwhile has still sent it.
func (s *Sink) DelayAnswer(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Keep sets how many of the latest mails the sink keeps (MaxKept unless set): a benchmark keeps
// a handful so that the sink weighs nothing on the memory it measures.
func (s *Sink) Keep(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxKept = max(n, 1)
	if len(s.mails) > s.maxKept {
		s.mails = slices.Delete(s.mails, 0, len(s.mails)-s.maxKept)
	}
}

// Close stops the server and closes open connections.
func (s *Sink) Close() error {
	err := s.server.Close()
	// Serve may not have registered the listener yet when Close follows Start.
	s.listener.Close()
	<-s.served
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Sink) keep(m Mail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.mails) >= s.maxKept {
		s.mails = slices.Delete(s.mails, 0, len(s.mails)-s.maxKept+1)
	}
	s.mails = append(s.mails, m)
	s.total++
	close(s.arrived)
	s.arrived = make(chan struct{})
}

func (s *Sink) rejection(from, to string) error {
	s.mu.Lock()
	fn := s.reject
	s.mu.Unlock()
	if fn == nil {
		return nil
	}
	if err := fn(from, []string{to}); err != nil {
		return err // not returned directly: a nil *SMTPError is a non-nil error
	}
	return nil
}

type session struct {
	sink *Sink
	from string
	to   []string
}

func (ss *session) Reset() {
	ss.from = ""
	ss.to = nil
}

func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	ss.to = nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.sink.rejection(ss.from, to); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.sink.keep(Mail{From: ss.from, To: slices.Clone(ss.to), Data: data, Received: time.Now()})
	ss.sink.mu.Lock()
	delay := ss.sink.delay
	ss.sink.mu.Unlock()
	time.Sleep(delay)
	return nil
}
