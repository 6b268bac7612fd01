package api_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/mail/smtpsink"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/tickets"
	"github.com/assistd/assistd/worker"
)

type ticketDetail struct {
	Number        string  `json:"number"`
	Status        string  `json:"status"`
	StatusLabel   string  `json:"status_label"`
	RelatedTicket *string `json:"related_ticket"`
	Messages      []struct {
		Author string  `json:"author"`
		Staff  *string `json:"staff"`
		Body   string  `json:"body"`
	} `json:"messages"`
	StatusHistory []struct {
		From  *string `json:"from"`
		To    string  `json:"to"`
		Actor string  `json:"actor"`
		Staff string  `json:"staff"`
	} `json:"status_history"`
}

type errorReply struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// readMail decodes a sent message into its subject and plain-text body.
func readMail(t *testing.T, m smtpsink.Mail) (subject, text string) {
	t.Helper()
	r, err := gomail.CreateReader(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("parse mail: %v", err)
	}
	subject, _ = r.Header.Subject()
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("parse mail part: %v", err)
		}
		if h, ok := p.Header.(*gomail.InlineHeader); ok {
			if ct, _, _ := h.ContentType(); ct == "text/plain" {
				b, _ := io.ReadAll(p.Body)
				text = string(b)
			}
		}
	}
	return subject, text
}

// waitMail waits for a mail to a recipient whose subject and text contain the given strings.
func waitMail(t *testing.T, s *systemtest.System, to, subjectPart, textPart string, timeout time.Duration) (subject, text string) {
	t.Helper()
	systemtest.Eventually(t, timeout, "a mail to "+to+" about "+subjectPart, func() bool {
		for _, m := range s.Sink.Mails() {
			if m.To[0] != to {
				continue
			}
			if sub, body := readMail(t, m); strings.Contains(sub, subjectPart) && strings.Contains(body, textPart) {
				subject, text = sub, body
				return true
			}
		}
		return false
	})
	return subject, text
}

// waitRouted waits for ticket:create to route the ticket and notify its department.
func waitRouted(t *testing.T, s *systemtest.System, number string) {
	t.Helper()
	systemtest.Eventually(t, 15*time.Second, "ticket "+number+" routed", func() bool {
		tk, err := s.Store.TicketByNumber(context.Background(), storage.ReachAll(), number)
		return err == nil && tk.ProcessedAt != nil
	})
}

func TestATicketLivesFromAnswerToCloseAndAClosedOneIsFollowedByANewRequest(t *testing.T) {
	var periods []jobs.Period
	for _, p := range worker.DefaultPeriods() {
		if p.Type == jobs.TypeAutoClose {
			p.Every = time.Second
		}
		periods = append(periods, p)
	}
	systemtest.Each(t, systemtest.Options{AutoCloseAfter: 5 * time.Second, Periods: periods}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		s.PutCustomer(t, "rui", "pt-PT")
		number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": "example.pt",
			"message": "O Outlook não envia mensagens."})
		waitRouted(t, s, number)
		base := "/api/v1/customers/ana/tickets/" + number
		staffBase := "/api/v1/staff/tickets/" + number

		// The department's queue shows it, waiting.
		var queue struct {
			Tickets []struct {
				Number     string `json:"number"`
				CustomerID string `json:"customer_id"`
			} `json:"tickets"`
			Counts []struct {
				Status string `json:"status"`
				Count  int    `json:"count"`
			} `json:"counts"`
		}
		if code := s.Do(t, "GET", "/api/v1/departments/email/queue?status=open", systemtest.StaffToken, nil, &queue, systemtest.AsJoao...); code != http.StatusOK ||
			len(queue.Tickets) != 1 || queue.Tickets[0].Number != number || queue.Tickets[0].CustomerID != "ana" {
			t.Fatalf("queue: %d %+v", code, queue)
		}

		// Staff takes it, then answers.
		var d ticketDetail
		if code := s.Do(t, "POST", staffBase+"/status", systemtest.StaffToken, map[string]string{"staff": "joao", "status": "in_progress"}, &d); code != http.StatusOK || d.Status != "in_progress" {
			t.Fatalf("take: %d %+v", code, d)
		}
		answer := "Altere a porta de saída para 587 com STARTTLS."
		if code := s.Do(t, "POST", staffBase+"/messages", systemtest.StaffToken, map[string]string{"staff": "joao", "message": answer}, &d); code != http.StatusCreated || d.Status != "answered" {
			t.Fatalf("answer: %d %+v", code, d)
		}

		// The customer adds information straight away, before the auto-close period could run out.
		d = ticketDetail{}
		if code := s.Do(t, "POST", base+"/messages", systemtest.APIToken, map[string]string{"message": "Já alterei e continua igual."}, &d); code != http.StatusCreated {
			t.Fatalf("customer message: %d", code)
		}
		if d.Status != "customer_reply" || d.StatusLabel != "Resposta do Cliente" || len(d.Messages) != 3 {
			t.Fatalf("after the customer's addition: %+v", d)
		}
		if d.Messages[0].Author != "customer" || d.Messages[1].Author != "staff" || d.Messages[1].Body != answer || d.Messages[1].Staff != nil ||
			d.Messages[2].Author != "customer" {
			t.Fatalf("thread, oldest first, without staff names for the customer: %+v", d.Messages)
		}

		// The customer got the update: tagged subject, the answer from "our team" (never the name
		// staff act under, as on the pages), the status "Respondido", a link.
		subject, text := waitMail(t, s, "ana@example.pt", "Atualização", answer, 15*time.Second)
		if !strings.HasPrefix(subject, "[Pedido #"+number+"]") || !strings.Contains(text, answer) || !strings.Contains(text, "Respondido") ||
			!strings.Contains(text, "https://clientes.example.pt/tickets/"+number) || !strings.Contains(text, "Resposta da nossa equipa") ||
			strings.Contains(text, "joao") {
			t.Fatalf("update mail %q:\n%s", subject, text)
		}
		// The department was told of the customer's addition.
		if _, text := waitMail(t, s, "email@suporte.example.pt", "Nova informação", "", 15*time.Second); !strings.Contains(text, "Já alterei e continua igual.") {
			t.Fatalf("department notification:\n%s", text)
		}

		// Closing twice is harmless.
		for i := range 2 {
			if code := s.Do(t, "POST", base+"/close", systemtest.APIToken, nil, &d); code != http.StatusOK || d.Status != "closed" || d.StatusLabel != "Fechado" {
				t.Fatalf("close %d: %d %+v", i+1, code, d)
			}
		}

		// Nobody can write to it any more, and it cannot be reopened.
		var e errorReply
		if code := s.Do(t, "POST", base+"/messages", systemtest.APIToken, map[string]string{"message": "Afinal não."}, &e); code != http.StatusConflict ||
			e.Error.Code != "ticket_closed" || !strings.Contains(e.Error.Message, "novo pedido") || !strings.Contains(e.Error.Message, "#"+number) {
			t.Fatalf("customer message on a closed ticket: %d %+v", code, e)
		}
		e = errorReply{}
		if code := s.Do(t, "POST", staffBase+"/messages", systemtest.StaffToken, map[string]string{"staff": "joao", "message": "Resolvido?"}, &e); code != http.StatusConflict ||
			e.Error.Code != "ticket_closed" {
			t.Fatalf("staff message on a closed ticket: %d %+v", code, e)
		}
		for _, status := range []string{"open", "in_progress", "reopened"} {
			e = errorReply{}
			if code := s.Do(t, "POST", staffBase+"/status", systemtest.StaffToken, map[string]string{"staff": "joao", "status": status}, &e); code != http.StatusConflict ||
				e.Error.Code != "invalid_transition" {
				t.Fatalf("reopen as %s: %d %+v", status, code, e)
			}
		}

		// Staff see who changed what.
		if code := s.Do(t, "GET", staffBase, systemtest.StaffToken, nil, &d, systemtest.AsJoao...); code != http.StatusOK {
			t.Fatalf("staff view: %d", code)
		}
		var steps []string
		for _, h := range d.StatusHistory {
			steps = append(steps, h.To+" by "+h.Actor+" "+h.Staff)
		}
		if got, want := strings.Join(steps, ", "), "open by customer , in_progress by staff joao, answered by staff joao, customer_reply by customer , closed by customer "; got != want {
			t.Fatalf("status history %q, want %q", got, want)
		}

		// A new request referring to it keeps the reference; another customer's ticket cannot be named.
		if code := s.Do(t, "POST", "/api/v1/customers/rui/tickets", systemtest.APIToken, map[string]any{"subject_id": "email-account-setup",
			"domain": nil, "message": "x", "related_ticket": number}, &e); code != http.StatusBadRequest || e.Error.Fields["related_ticket"] == "" {
			t.Fatalf("someone else's related ticket: %d %+v", code, e)
		}
		next := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": "example.pt",
			"message": "Continuação do pedido anterior: o Outlook ainda não envia.", "related_ticket": number})
		d = ticketDetail{}
		if s.Do(t, "GET", "/api/v1/customers/ana/tickets/"+next, systemtest.APIToken, nil, &d); d.RelatedTicket == nil || *d.RelatedTicket != number {
			t.Fatalf("new ticket detail: %+v", d)
		}
		for _, to := range []string{"ana@example.pt", "email@suporte.example.pt"} {
			if _, text := waitMail(t, s, to, "#"+next+"]", "", 15*time.Second); !strings.Contains(text, "#"+number) {
				t.Fatalf("the mail to %s about #%s does not name #%s:\n%s", to, next, number, text)
			}
		}

		// Answered and then left alone, the new ticket closes by itself and the customer is told.
		waitRouted(t, s, next)
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+next+"/messages", systemtest.StaffToken, map[string]string{"staff": "maria", "message": "Já corrigimos."}, &d); code != http.StatusCreated || d.Status != "answered" {
			t.Fatalf("answer the new ticket: %d %+v", code, d)
		}
		systemtest.Eventually(t, 90*time.Second, "the answered ticket closed automatically", func() bool {
			s.Do(t, "GET", "/api/v1/customers/ana/tickets/"+next, systemtest.APIToken, nil, &d)
			return d.Status == "closed"
		})
		_, text = waitMail(t, s, "ana@example.pt", "Pedido fechado", "", 30*time.Second)
		if !strings.Contains(text, "#"+next) || !strings.Contains(text, "novo pedido") {
			t.Fatalf("auto-close mail:\n%s", text)
		}
		hist, err := s.API.StatusHistory(context.Background(), mustTicket(t, s, next).ID)
		if err != nil || hist[len(hist)-1].Actor != storage.ActorSystem {
			t.Fatalf("auto-close history %+v, %v", hist, err)
		}

		// Every mail left once: no duplicates after the sweeps ran a few times.
		seen := map[string]bool{}
		for _, m := range s.Sink.Mails() {
			id := messageID(t, m)
			if seen[id] {
				t.Fatalf("mail %s sent twice", id)
			}
			seen[id] = true
		}
	})
}

func mustTicket(t *testing.T, s *systemtest.System, number string) storage.Ticket {
	t.Helper()
	tk, err := s.Store.TicketByNumber(context.Background(), storage.ReachAll(), number)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func messageID(t *testing.T, m smtpsink.Mail) string {
	t.Helper()
	r, err := gomail.CreateReader(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := r.Header.MessageID()
	return id
}

func TestLifecycleInputIsCheckedAndTicketsStayTheirCustomers(t *testing.T) {
	s := systemtest.Start(t, systemtestSQLite(t), systemtest.Options{NoWorker: true})
	s.PutCustomer(t, "ana", "en")
	s.PutCustomer(t, "rui", "pt-PT")
	number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Help."})
	cases := []struct {
		name, method, path, token string
		body                      any
		code                      int
		errCode, field            string
	}{
		{"an empty customer message is refused", "POST", "/api/v1/customers/ana/tickets/" + number + "/messages", systemtest.APIToken,
			map[string]string{"message": "  "}, 400, "validation_failed", "message"},
		{"a message too long is refused", "POST", "/api/v1/customers/ana/tickets/" + number + "/messages", systemtest.APIToken,
			map[string]string{"message": strings.Repeat("a", 20001)}, 400, "validation_failed", "message"},
		{"another customer's ticket does not exist", "POST", "/api/v1/customers/rui/tickets/" + number + "/messages", systemtest.APIToken,
			map[string]string{"message": "olá"}, 404, "ticket_not_found", ""},
		{"another customer cannot close it", "POST", "/api/v1/customers/rui/tickets/" + number + "/close", systemtest.APIToken,
			nil, 404, "ticket_not_found", ""},
		{"a staff answer with the service token names the member", "POST", "/api/v1/staff/tickets/" + number + "/messages", systemtest.StaffToken,
			map[string]string{"message": "olá"}, 403, "staff_member_unknown", ""},
		{"a staff answer names an active member", "POST", "/api/v1/staff/tickets/" + number + "/messages", systemtest.StaffToken,
			map[string]string{"staff": "someone", "message": "olá"}, 403, "staff_member_unknown", ""},
		{"a staff answer has a message", "POST", "/api/v1/staff/tickets/" + number + "/messages", systemtest.StaffToken,
			map[string]string{"staff": "joao"}, 400, "validation_failed", "message"},
		{"an answer with an unknown status is an invalid transition", "POST", "/api/v1/staff/tickets/" + number + "/messages", systemtest.StaffToken,
			map[string]string{"staff": "joao", "message": "olá", "status": "done"}, 409, "invalid_transition", ""},
		{"a status that is not a string is named", "POST", "/api/v1/staff/tickets/" + number + "/status", systemtest.StaffToken,
			map[string]any{"staff": "joao", "status": 3}, 400, "validation_failed", "status"},
		{"a status change names the status", "POST", "/api/v1/staff/tickets/" + number + "/status", systemtest.StaffToken,
			map[string]string{"staff": "joao"}, 400, "validation_failed", "status"},
		{"an unknown status is an invalid transition", "POST", "/api/v1/staff/tickets/" + number + "/status", systemtest.StaffToken,
			map[string]string{"staff": "joao", "status": "reopened"}, 409, "invalid_transition", ""},
		{"an unknown ticket is not found for staff", "POST", "/api/v1/staff/tickets/1/status", systemtest.StaffToken,
			map[string]string{"staff": "joao", "status": "on_hold"}, 404, "ticket_not_found", ""},
		{"the client token cannot answer as staff", "POST", "/api/v1/staff/tickets/" + number + "/messages", systemtest.APIToken,
			map[string]string{"staff": "joao", "message": "olá"}, 403, "forbidden", ""},
		{"the client token cannot see a queue", "GET", "/api/v1/departments/email/queue", systemtest.APIToken, nil, 403, "forbidden", ""},
		{"an unknown department has no queue", "GET", "/api/v1/departments/nope/queue", systemtest.StaffToken, nil, 404, "department_not_found", ""},
		{"a queue filter names a status", "GET", "/api/v1/departments/email/queue?status=done", systemtest.StaffToken, nil, 400, "validation_failed", "status"},
		{"a queue cursor is one the server made", "GET", "/api/v1/departments/email/queue?after=abc", systemtest.StaffToken, nil, 400, "validation_failed", "after"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e errorReply
			var as []string
			if c.method == "GET" {
				as = systemtest.AsJoao // a read has no body to name the member in
			}
			code := s.Do(t, c.method, c.path, c.token, c.body, &e, as...)
			if code != c.code || e.Error.Code != c.errCode || (c.field != "" && e.Error.Fields[c.field] == "") {
				t.Fatalf("%d %+v; want %d %s on %q", code, e, c.code, c.errCode, c.field)
			}
		})
	}
	// In the customer's language.
	if _, err := s.API.CustomerClose(context.Background(), "ana", number); err != nil {
		t.Fatal(err)
	}
	var e errorReply
	s.Do(t, "POST", "/api/v1/customers/ana/tickets/"+number+"/messages", systemtest.APIToken, map[string]string{"message": "Hello?"}, &e)
	if e.Error.Code != "ticket_closed" || !strings.Contains(e.Error.Message, "open a new request referring to #"+number) {
		t.Fatalf("closed, in English: %+v", e)
	}
}

// A staff answer and a customer's close racing through the API: the ticket always ends closed,
// and an update email exists exactly when the answer got in.
func TestAStaffAnswerRacingACustomerCloseThroughTheServer(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		s.PutCustomer(t, "ana", "pt-PT")
		for i := range 25 {
			number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Ajuda."})
			var (
				wg                  sync.WaitGroup
				answerErr, closeErr error
				start               = make(chan struct{})
			)
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				_, answerErr = s.API.StaffAnswer(ctx, storage.ReachAll(), number, "joao", "Resolvido.", "")
			}()
			go func() {
				defer wg.Done()
				<-start
				_, closeErr = s.API.CustomerClose(ctx, "ana", number)
			}()
			close(start)
			wg.Wait()
			if closeErr != nil || (answerErr != nil && !errors.Is(answerErr, storage.ErrTicketClosed)) {
				t.Fatalf("round %d: close %v, answer %v", i, closeErr, answerErr)
			}
			tk := mustTicket(t, s, number)
			var updates int
			if err := s.Store.DB().Get(&updates, s.Store.DB().Rebind(`SELECT COUNT(*) FROM outbox WHERE ticket_id = ? AND kind = 'update'`), tk.ID); err != nil {
				t.Fatal(err)
			}
			if tk.Status != tickets.Closed || (answerErr == nil) != (updates == 1) || updates > 1 {
				t.Fatalf("round %d: status %s, answer error %v, %d update emails", i, tk.Status, answerErr, updates)
			}
		}
	})
}

func TestAnEnglishCustomersRequestAndAdditionAreAnnouncedToTheDepartmentInPortuguese(t *testing.T) {
	systemtest.Each(t, systemtest.Options{}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "john", "en")
		number := createTicket(t, s, "john", map[string]any{"subject_id": "domain-dns", "domain": "example.pt", "message": "The MX records are wrong."})
		waitRouted(t, s, number)
		// The department hears of the new request in Portuguese too.
		subject, text := waitMail(t, s, "dominios@suporte.example.pt", "#"+number, "Novo Pedido de Assistência", 15*time.Second)
		if !strings.Contains(subject, "Gestão de DNS") || !strings.Contains(text, "departamento Domínios") || strings.Contains(subject+text, "DNS management") ||
			strings.Contains(text, "Domains") {
			t.Fatalf("department mail about an English customer's new request %q:\n%s", subject, text)
		}
		if code := s.Do(t, "POST", "/api/v1/customers/john/tickets/"+number+"/messages", systemtest.APIToken,
			map[string]string{"message": "Here is the zone file."}, nil); code != http.StatusCreated {
			t.Fatalf("customer message: %d", code)
		}
		// Staff mail is in Portuguese: the subject and the department carry the names the console shows.
		subject, text = waitMail(t, s, "dominios@suporte.example.pt", "Nova informação", "Here is the zone file.", 15*time.Second)
		if !strings.Contains(subject, "Gestão de DNS") || !strings.Contains(text, "Assunto: Gestão de DNS") || strings.Contains(subject+text, "DNS management") {
			t.Fatalf("department mail about an English customer's addition %q:\n%s", subject, text)
		}
		// The customer's own mail stays in English.
		if subject, _ := waitMail(t, s, "john@example.pt", "#"+number+"]", "", 15*time.Second); !strings.Contains(subject, "DNS management") {
			t.Fatalf("the customer's confirmation %q is not in English", subject)
		}
	})
}
