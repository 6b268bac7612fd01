package notify_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/notify"
	"github.com/assistd/assistd/storage"
)

func emails(t *testing.T) notify.Emails {
	t.Helper()
	c, err := mail.NewComposer(mail.ComposerConfig{From: "Apoio ao Cliente <suporte@example.pt>", PublicURL: "https://clientes.example.pt",
		IDs: mail.NewIDSigner([]byte("test-key"), "example.pt")})
	if err != nil {
		t.Fatal(err)
	}
	return notify.Emails{Composer: c}
}

// englishCustomersTicket is a ticket of a customer who reads English.
func englishCustomersTicket() (storage.Ticket, storage.Customer) {
	return storage.Ticket{ID: 7, Number: "51002003", SubjectName: "Configurar conta", SubjectNameEn: "Account setup",
			DepartmentName: "Correio", DepartmentNameEn: "Mail", DepartmentEmail: "email@example.pt", Status: "open",
			CreatedAt: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)},
		storage.Customer{ID: "john", Name: "John Smith", Email: "john@example.com", Language: "en"}
}

// plainText is a rendered email's plain-text part.
func plainText(t *testing.T, raw []byte) string {
	t.Helper()
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for {
		p, err := r.NextPart()
		if err != nil {
			t.Fatalf("no plain-text part: %v", err)
		}
		if h, ok := p.Header.(*gomail.InlineHeader); ok {
			if ct, _, _ := h.ContentType(); ct == "text/plain" {
				b, _ := io.ReadAll(p.Body)
				return string(b)
			}
		}
	}
}

func TestEachChangeSendsItsEmailsToTheCustomerInTheirLanguageAndToStaffInPortuguese(t *testing.T) {
	e := emails(t)
	tk, c := englishCustomersTicket()
	newTicket, _, err := e.NewTicket(storage.NewTicketMail{Ticket: tk, Customer: c, Message: "My mail stopped."})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := e.CustomerReply(storage.ChangeMail{Ticket: tk, Customer: c, Message: "Still broken."})
	if err != nil {
		t.Fatal(err)
	}
	update, err := e.Update(storage.ChangeMail{Ticket: tk, Customer: c, Message: "Fixed."})
	if err != nil {
		t.Fatal(err)
	}
	closed, err := e.AutoClosed(storage.ChangeMail{Ticket: tk, Customer: c})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		got        []storage.Email
		kinds, to  []string
		subjectIs  string
		subjectNot string
	}{
		"a new request: a confirmation to the customer and a notification to the department": {
			got: newTicket, kinds: []string{"confirmation", "department"}, to: []string{"john@example.com", "email@example.pt"}},
		"a customer's reply: a notification to the department, in Portuguese": {
			got: reply, kinds: []string{"customer_reply"}, to: []string{"email@example.pt"}, subjectIs: "Configurar conta", subjectNot: "Account setup"},
		"a staff answer: an update to the customer, in English": {
			got: update, kinds: []string{"update"}, to: []string{"john@example.com"}, subjectIs: "Account setup", subjectNot: "Configurar conta"},
		"an automatic close: a notice to the customer, in English": {
			got: closed, kinds: []string{"autoclose"}, to: []string{"john@example.com"}},
	} {
		t.Run(name, func(t *testing.T) {
			if len(c.got) != len(c.kinds) {
				t.Fatalf("%d emails, want %d", len(c.got), len(c.kinds))
			}
			for i, m := range c.got {
				if m.Kind != c.kinds[i] || m.Recipient != c.to[i] || m.TicketID == nil || *m.TicketID != tk.ID || m.MessageID == "" {
					t.Errorf("email %d: %s to %s (ticket %v, Message-ID %q), want %s to %s for ticket %d", i, m.Kind, m.Recipient, m.TicketID, m.MessageID,
						c.kinds[i], c.to[i], tk.ID)
				}
			}
			text := plainText(t, c.got[0].Raw)
			if c.subjectIs != "" && (!strings.Contains(text, c.subjectIs) || strings.Contains(text, c.subjectNot)) {
				t.Errorf("the email names the subject other than %q:\n%s", c.subjectIs, text)
			}
		})
	}
	if dept := plainText(t, newTicket[1].Raw); !strings.Contains(dept, "Configurar conta") || strings.Contains(dept, "Account setup") {
		t.Errorf("the department notification does not name the subject in Portuguese:\n%s", dept)
	}
	if copy := plainText(t, newTicket[0].Raw); !strings.Contains(copy, "Account setup") {
		t.Errorf("the confirmation copy does not name the subject in English:\n%s", copy)
	}
}

func TestANewRequestsEmailsAreTheSameMessagesWhenRenderedAgain(t *testing.T) {
	e := emails(t)
	tk, c := englishCustomersTicket()
	first, _, err := e.NewTicket(storage.NewTicketMail{Ticket: tk, Customer: c, Message: "My mail stopped."})
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := e.NewTicket(storage.NewTicketMail{Ticket: tk, Customer: c, Message: "My mail stopped."})
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		if first[i].MessageID != again[i].MessageID {
			t.Errorf("%s: Message-ID %s, then %s", first[i].Kind, first[i].MessageID, again[i].MessageID)
		}
	}
}
