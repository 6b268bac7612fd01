package mail

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/assistd/assistd/mail/smtpsink"
)

func startSink(t *testing.T) *smtpsink.Sink {
	t.Helper()
	s, err := smtpsink.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newSender(t *testing.T, cfg SenderConfig) *Sender {
	t.Helper()
	s, err := NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func waitMails(t *testing.T, sink *smtpsink.Sink, n int) []smtpsink.Mail {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mails, err := sink.Wait(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return mails
}

func TestSenderDeliversComposedMail(t *testing.T) {
	sink := startSink(t)
	s := newSender(t, SenderConfig{URL: sink.URL(), HelloName: "assistd.example.pt"})
	c := testComposer(t)
	confirmation, err := c.Confirmation(sampleTicket())
	if err != nil {
		t.Fatal(err)
	}
	answer, err := c.AutoAnswer(AutoAnswer{Variant: AutoAnswerNoTicket, To: "ana@example.pt"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, out := range []Outgoing{confirmation, answer} {
		if err := s.Send(ctx, out.EnvelopeFrom, out.To, out.Raw); err != nil {
			t.Fatal(err)
		}
	}
	mails := waitMails(t, sink, 2)
	if m := mails[0]; m.From != "suporte@example.pt" || len(m.To) != 1 || m.To[0] != "ana@example.pt" {
		t.Errorf("confirmation envelope = %q -> %v", m.From, m.To)
	}
	if string(mails[0].Data) != string(confirmation.Raw) {
		t.Error("the relay did not receive the message as composed")
	}
	if mails[1].From != "" {
		t.Errorf("automatic answer sent from %q, want MAIL FROM:<>", mails[1].From)
	}
	parse(t, mails[1].Data)
	if n := sink.Sessions(); n != 1 {
		t.Errorf("%d connections for two mails, want 1", n)
	}
}

func TestSenderSharesItsPoolAmongGoroutines(t *testing.T) {
	sink := startSink(t)
	const poolSize, workers, each = 3, 40, 5
	s := newSender(t, SenderConfig{URL: sink.URL(), PoolSize: poolSize})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				raw := fmt.Appendf(nil, "Subject: %d/%d\r\n\r\nbody\r\n", w, i)
				if err := s.Send(context.Background(), "suporte@example.pt", fmt.Sprintf("w%d@example.pt", w), raw); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	waitMails(t, sink, workers*each)
	if n := sink.Sessions(); n > poolSize {
		t.Errorf("%d connections, want at most %d", n, poolSize)
	}
}

func TestSenderErrors(t *testing.T) {
	sink := startSink(t)
	sink.Reject(func(_ string, to []string) *smtp.SMTPError {
		switch to[0] {
		case "full@example.pt":
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
		case "gone@example.pt":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		}
		return nil
	})
	s := newSender(t, SenderConfig{URL: sink.URL(), PoolSize: 1})
	body := []byte("Subject: x\r\n\r\n" + passwordSentinel + "\r\n")
	tests := []struct {
		name      string
		from, to  string
		permanent bool
	}{
		{"a 4xx reply is worth retrying", "suporte@example.pt", "full@example.pt", false},
		{"a 5xx reply is permanent", "suporte@example.pt", "gone@example.pt", true},
		{"a recipient with CRLF is refused before SMTP", "suporte@example.pt", "ana@example.pt\r\nRCPT TO:<x@evil.example>", true},
		{"several recipients are refused", "suporte@example.pt", "ana@example.pt,bruno@example.pt", true},
		{"a sender with CRLF is refused", "suporte@example.pt\r\nRSET", "ana@example.pt", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Send(context.Background(), tt.from, tt.to, body)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v", err, !tt.permanent)
			}
			if strings.Contains(err.Error(), passwordSentinel) {
				t.Errorf("the error holds the body: %v", err)
			}
		})
	}
	if err := s.Send(context.Background(), "suporte@example.pt", "ana@example.pt", body); err != nil {
		t.Fatalf("a send after refusals fails: %v", err)
	}
	if sink.Total() != 1 {
		t.Errorf("%d mails delivered, want 1", sink.Total())
	}
	if n := sink.Sessions(); n != 1 {
		t.Errorf("%d connections: a refused recipient should not cost the connection", n)
	}
}

func TestIsPermanent(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"a 550 reply", &smtp.SMTPError{Code: 550}, true},
		{"a wrapped 554 reply", fmt.Errorf("mail: send: %w", &smtp.SMTPError{Code: 554}), true},
		{"a 421 reply", &smtp.SMTPError{Code: 421}, false},
		{"a 451 reply", fmt.Errorf("x: %w", &smtp.SMTPError{Code: 451}), false},
		{"a timeout", context.DeadlineExceeded, false},
		{"a network error", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, false},
		{"an invalid address", fmt.Errorf("%w: x", ErrInvalidAddress), true},
		{"no error", nil, false},
	}
	for _, tt := range tests {
		if got := IsPermanent(tt.err); got != tt.want {
			t.Errorf("IsPermanent(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSenderRedialsWhenTheRelayDropsIdleConnections(t *testing.T) {
	sink := startSink(t)
	addr := sink.Addr()
	s := newSender(t, SenderConfig{URL: sink.URL(), PoolSize: 1})
	raw := []byte("Subject: x\r\n\r\ny\r\n")
	if err := s.Send(context.Background(), "a@example.pt", "b@example.pt", raw); err != nil {
		t.Fatal(err)
	}
	// The relay restarts: the pooled connection is dead without knowing it.
	sink.Close()
	restarted, err := smtpsink.Start(addr)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", addr, err)
	}
	t.Cleanup(func() { restarted.Close() })
	if err := s.Send(context.Background(), "a@example.pt", "b@example.pt", raw); err != nil {
		t.Fatalf("Send after a relay restart: %v", err)
	}
	waitMails(t, restarted, 1)
}

func TestSenderReplacesLongIdleConnections(t *testing.T) {
	sink := startSink(t)
	s := newSender(t, SenderConfig{URL: sink.URL(), PoolSize: 1})
	raw := []byte("Subject: x\r\n\r\ny\r\n")
	send := func() {
		t.Helper()
		if err := s.Send(context.Background(), "a@example.pt", "b@example.pt", raw); err != nil {
			t.Fatal(err)
		}
	}
	send()
	age := func(d time.Duration) {
		pc := <-s.idle
		pc.lastUsed = time.Now().Add(-d)
		s.idle <- pc
	}
	age(checkIdle + time.Second) // checked with NOOP, still good
	send()
	if n := sink.Sessions(); n != 1 {
		t.Errorf("%d connections after a NOOP check, want 1", n)
	}
	age(maxIdle + time.Second) // assumed dropped by the relay
	send()
	if n := sink.Sessions(); n != 2 {
		t.Errorf("%d connections after a long idle, want 2", n)
	}
}

func TestSenderStopsWithTheContext(t *testing.T) {
	// A relay that accepts connections and never says a word.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var conns sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { io.Copy(io.Discard, c); c.Close() })
		}
	}()
	tests := []struct {
		name    string
		timeout time.Duration
		ctx     time.Duration
	}{
		{"the caller's deadline", time.Minute, 200 * time.Millisecond},
		{"the configured timeout", 200 * time.Millisecond, time.Minute},
	}
	for _, tt := range tests {
		t.Run("a silent relay is given up at "+tt.name, func(t *testing.T) {
			s := newSender(t, SenderConfig{URL: "smtp://" + l.Addr().String(), Timeout: tt.timeout})
			ctx, cancel := context.WithTimeout(context.Background(), tt.ctx)
			defer cancel()
			start := time.Now()
			err := s.Send(ctx, "a@example.pt", "b@example.pt", []byte("Subject: x\r\n\r\ny\r\n"))
			if err == nil || IsPermanent(err) {
				t.Fatalf("Send = %v, want a temporary error", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Send took %v", d)
			}
		})
	}
}

// Once the final dot is written the relay may have queued the mail: a caller's deadline that
// ends while the relay thinks does not cut the answer short (the mail would be reported failed,
// retried, and received twice). Before the dot, the deadline still stops the mail.
func TestARelaySlowToAnswerTheDataIsAwaitedAndGetsTheMailOnce(t *testing.T) {
	sink := startSink(t)
	s := newSender(t, SenderConfig{URL: sink.URL(), Timeout: 5 * time.Second})
	raw := []byte("Subject: x\r\n\r\ny\r\n")

	sink.DelayAnswer(1500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := s.Send(ctx, "a@example.pt", "b@example.pt", raw)
	cancel()
	if err != nil {
		t.Fatalf("Send to a relay answering the data 1.5 s after it, with a 300 ms deadline: %v, want the answer awaited", err)
	}
	if n := sink.Total(); n != 1 {
		t.Fatalf("the relay has %d mails, want 1", n)
	}

	// The answer awaited is bounded by the sender's timeout, not by the relay.
	slow := newSender(t, SenderConfig{URL: sink.URL(), Timeout: 300 * time.Millisecond})
	if err := slow.Send(context.Background(), "a@example.pt", "b@example.pt", raw); err == nil || IsPermanent(err) {
		t.Fatalf("Send with a 300 ms timeout to a relay answering after 1.5 s: %v, want a temporary error", err)
	}

	// A relay slow before the data ends: the deadline interrupts, and the mail is not sent.
	sink.DelayAnswer(0)
	sink.Reject(func(string, []string) *smtp.SMTPError { time.Sleep(time.Second); return nil })
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	err = s.Send(ctx, "a@example.pt", "c@example.pt", raw)
	cancel()
	if err == nil || IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send with a 300 ms deadline to a relay slow at RCPT: %v, want the deadline", err)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := sink.Total(); n != 2 {
		t.Fatalf("the relay has %d mails, want 2 (none for c@example.pt)", n)
	}
}

func TestSenderAfterClose(t *testing.T) {
	sink := startSink(t)
	s, err := NewSender(SenderConfig{URL: sink.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), "a@example.pt", "b@example.pt", []byte("Subject: x\r\n\r\ny\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := s.Send(context.Background(), "a@example.pt", "b@example.pt", []byte("x")); err == nil {
		t.Error("Send after Close succeeded")
	}
}

func TestSenderConfig(t *testing.T) {
	tests := []struct {
		name string
		url  string
		ok   bool
	}{
		{"a plain relay", "smtp://relay.example.pt:25", true},
		{"a plain relay on the default port", "smtp://relay.example.pt", true},
		{"a password over plain text to loopback", "smtp://user:pass@127.0.0.1:2525", true},
		{"a password over plain text to localhost", "smtp://user:pass@localhost:2525", true},
		{"a password over plain text to a remote relay", "smtp://user:pass@relay.example.pt:25", false},
		{"a password over STARTTLS", "smtp://user:pass@relay.example.pt:587?starttls=true", true},
		{"a password over implicit TLS", "smtps://user:pass@relay.example.pt:465", true},
		{"an unknown starttls value", "smtp://relay.example.pt?starttls=maybe", false},
		{"an unknown scheme", "http://relay.example.pt", false},
		{"no host", "smtp://:25", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSender(SenderConfig{URL: tt.url})
			if (err == nil) != tt.ok {
				t.Fatalf("NewSender(%q) = %v", tt.url, err)
			}
			if err != nil && strings.Contains(err.Error(), "pass@") {
				t.Errorf("the error shows the password: %v", err)
			}
			if s != nil {
				s.Close()
			}
		})
	}
}

// tlsRelay is a go-smtp server with TLS and AUTH PLAIN, standing in for a
// submission service.
type tlsRelay struct {
	mu    sync.Mutex
	users []string
	mails int
}

func (r *tlsRelay) NewSession(c *smtp.Conn) (smtp.Session, error) { return &tlsSession{relay: r}, nil }

type tlsSession struct {
	relay *tlsRelay
	user  string
}

func (s *tlsSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *tlsSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "assistd" || pass != "p@ss" {
			return errors.New("bad credentials")
		}
		s.user = user
		return nil
	}), nil
}

func (s *tlsSession) Mail(string, *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	return nil
}
func (s *tlsSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *tlsSession) Reset()                               {}
func (s *tlsSession) Logout() error                        { return nil }
func (s *tlsSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	s.relay.mu.Lock()
	defer s.relay.mu.Unlock()
	s.relay.users = append(s.relay.users, s.user)
	s.relay.mails++
	return nil
}

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "relay.test"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func TestSenderOverTLS(t *testing.T) {
	serverTLS, roots := selfSigned(t)
	tests := []struct {
		name     string
		implicit bool
		url      string
	}{
		{"STARTTLS with a password", false, "smtp://assistd:p%40ss@localhost:%s?starttls=true"},
		{"implicit TLS with a password", true, "smtps://assistd:p%40ss@localhost:%s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			relay := &tlsRelay{}
			srv := smtp.NewServer(relay)
			srv.Domain = "localhost"
			srv.TLSConfig = serverTLS
			srv.ErrorLog = nopLogger{}
			var l net.Listener
			var err error
			if tt.implicit {
				l, err = tls.Listen("tcp", "127.0.0.1:0", serverTLS)
			} else {
				l, err = net.Listen("tcp", "127.0.0.1:0")
			}
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(l)
			t.Cleanup(func() { srv.Close() })
			_, port, _ := net.SplitHostPort(l.Addr().String())
			url := strings.Replace(tt.url, "%s", port, 1)

			s := newSender(t, SenderConfig{URL: url, TLSConfig: &tls.Config{RootCAs: roots}})
			for range 2 {
				if err := s.Send(context.Background(), "suporte@example.pt", "ana@example.pt", []byte("Subject: x\r\n\r\ny\r\n")); err != nil {
					t.Fatal(err)
				}
			}
			relay.mu.Lock()
			defer relay.mu.Unlock()
			if relay.mails != 2 || relay.users[0] != "assistd" {
				t.Errorf("relay got %d mails from %v", relay.mails, relay.users)
			}

			untrusting := newSender(t, SenderConfig{URL: url, Timeout: 2 * time.Second})
			if err := untrusting.Send(context.Background(), "suporte@example.pt", "ana@example.pt", []byte("x")); err == nil {
				t.Error("a relay with an unknown certificate was trusted")
			}
		})
	}
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// scriptedRelay is a relay that greets every connection with greeting and answers each command
// by its verb from replies ("250 OK" for any other), enough to refuse a session before any mail.
func scriptedRelay(t *testing.T, greeting string, replies map[string]string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s\r\n", greeting)
				r := textproto.NewReader(bufio.NewReader(c))
				for {
					line, err := r.ReadLine()
					if err != nil {
						return
					}
					verb, _, _ := strings.Cut(strings.ToUpper(line), " ")
					reply, ok := replies[verb]
					if !ok {
						reply = "250 OK"
					}
					fmt.Fprintf(c, "%s\r\n", reply)
					if verb == "QUIT" || strings.HasPrefix(greeting, "5") {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// A relay that refuses the session (its greeting, EHLO or our login) says nothing about the
// message: failing it for good would fail every email while the relay is misconfigured.
func TestARelayRefusingTheSessionIsRetriedNotFailedForGood(t *testing.T) {
	tests := []struct {
		name     string
		greeting string
		replies  map[string]string
		user     string
	}{
		{"a 554 greeting", "554 5.3.2 Service currently unavailable", nil, ""},
		{"a refused EHLO", "220 relay.test ESMTP", map[string]string{"EHLO": "554 5.7.1 Access denied", "HELO": "554 5.7.1 Access denied"}, ""},
		{"a refused login", "220 relay.test ESMTP", map[string]string{"EHLO": "250-relay.test\r\n250 AUTH PLAIN",
			"AUTH": "535 5.7.8 Authentication credentials invalid"}, "assistd:wrong@"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is a temporary failure", func(t *testing.T) {
			addr := scriptedRelay(t, tt.greeting, tt.replies)
			s := newSender(t, SenderConfig{URL: "smtp://" + tt.user + addr, Timeout: 5 * time.Second})
			err := s.Send(context.Background(), "suporte@example.pt", "ana@example.pt", []byte("Subject: x\r\n\r\n"+passwordSentinel+"\r\n"))
			var smtpErr *smtp.SMTPError
			if !errors.As(err, &smtpErr) || smtpErr.Code < 500 {
				t.Fatalf("Send = %v, want the relay's 5xx", err)
			}
			if IsPermanent(err) {
				t.Errorf("IsPermanent(%v) = true: the email would be failed for good", err)
			}
			if strings.Contains(err.Error(), passwordSentinel) || strings.Contains(err.Error(), "wrong") {
				t.Errorf("the error holds the body or the password: %v", err)
			}
		})
	}
}
