package smtpsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func startSink(t *testing.T) *Sink {
	t.Helper()
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func send(t *testing.T, addr, from string, to []string, body string) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.SendMail(from, to, strings.NewReader(body))
}

func TestSinkKeepsWhatItReceives(t *testing.T) {
	s := startSink(t)
	if !strings.HasPrefix(s.URL(), "smtp://127.0.0.1:") {
		t.Errorf("URL = %q", s.URL())
	}
	body := "Subject: ola\r\n\r\nCorpo\r\n"
	if err := send(t, s.Addr(), "suporte@example.pt", []string{"ana@example.pt", "bruno@example.pt"}, body); err != nil {
		t.Fatal(err)
	}
	if err := send(t, s.Addr(), "", []string{"ana@example.pt"}, body); err != nil {
		t.Fatalf("the null sender is refused: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	mails, err := s.Wait(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if s.Sessions() != 2 {
		t.Errorf("Sessions = %d, want 2", s.Sessions())
	}
	if len(mails) != 2 || s.Total() != 2 {
		t.Fatalf("%d mails kept, %d total", len(mails), s.Total())
	}
	m := mails[0]
	if m.From != "suporte@example.pt" || len(m.To) != 2 || m.To[1] != "bruno@example.pt" || string(m.Data) != body || m.Received.IsZero() {
		t.Errorf("first mail = %+v", m)
	}
	if mails[1].From != "" {
		t.Errorf("second mail From = %q, want the null sender", mails[1].From)
	}
	mails[0].To[0] = "changed"
	if s.Mails()[0].To[0] != "ana@example.pt" {
		t.Error("Mails does not return a copy")
	}
}

func TestWaitGivesUpWithTheContext(t *testing.T) {
	s := startSink(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Wait(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait = %v, want a deadline error", err)
	}
}

func TestWaitWakesForConcurrentSenders(t *testing.T) {
	s := startSink(t)
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := send(t, s.Addr(), "a@example.pt", []string{fmt.Sprintf("r%d@example.pt", i)}, "Subject: x\r\n\r\ny\r\n"); err != nil {
				t.Error(err)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mails, err := s.Wait(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(mails) < n {
		t.Errorf("%d mails", len(mails))
	}
}

func TestRejectAnswersChosenRecipients(t *testing.T) {
	s := startSink(t)
	s.Reject(func(from string, to []string) *smtp.SMTPError {
		switch to[0] {
		case "full@example.pt":
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
		case "gone@example.pt":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		}
		return nil
	})
	for to, code := range map[string]int{"full@example.pt": 452, "gone@example.pt": 550} {
		err := send(t, s.Addr(), "a@example.pt", []string{to}, "Subject: x\r\n\r\ny\r\n")
		var smtpErr *smtp.SMTPError
		if !errors.As(err, &smtpErr) || smtpErr.Code != code {
			t.Errorf("send to %s = %v, want %d", to, err, code)
		}
	}
	if err := send(t, s.Addr(), "a@example.pt", []string{"ok@example.pt"}, "Subject: x\r\n\r\ny\r\n"); err != nil {
		t.Errorf("an accepted recipient is refused: %v", err)
	}
	s.Reject(nil)
	if err := send(t, s.Addr(), "a@example.pt", []string{"gone@example.pt"}, "Subject: x\r\n\r\ny\r\n"); err != nil {
		t.Errorf("Reject(nil) does not remove the hook: %v", err)
	}
	if s.Total() != 2 {
		t.Errorf("Total = %d, want 2", s.Total())
	}
}

func TestSinkKeepsOnlyTheLastMails(t *testing.T) {
	s := startSink(t)
	for i := range MaxKept + 5 {
		s.keep(Mail{From: fmt.Sprint(i)})
	}
	mails := s.Mails()
	if len(mails) != MaxKept || s.Total() != MaxKept+5 {
		t.Fatalf("%d kept, %d total", len(mails), s.Total())
	}
	if mails[0].From != "5" || mails[len(mails)-1].From != fmt.Sprint(MaxKept+4) {
		t.Errorf("kept %s..%s", mails[0].From, mails[len(mails)-1].From)
	}
}

func TestCloseTwiceIsHarmless(t *testing.T) {
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
