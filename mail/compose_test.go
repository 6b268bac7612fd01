package mail

import (
	"bytes"
	"errors"
	"html"
	"io"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"
)

const passwordSentinel = "S3cr3t-Sentinel-Pa55"

func testComposer(t *testing.T) *Composer {
	t.Helper()
	c, err := NewComposer(ComposerConfig{
		From:      "Apoio ao Cliente <suporte@example.pt>",
		PublicURL: "https://clientes.example.pt/",
		IDs:       NewIDSigner([]byte("test key"), "example.pt"),
		SecretTTL: 72 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return time.Date(2026, 11, 26, 14, 5, 0, 0, time.UTC) }
	return c
}

func sampleTicket() TicketMail {
	return TicketMail{
		Number:         "48213957",
		SubjectName:    "Configuração Conta de Email",
		DepartmentName: "Email",
		Domain:         "example.pt",
		CreatedAt:      time.Date(2026, 11, 26, 14, 3, 0, 0, time.UTC),
		Message:        "O Outlook diz que a palavra-passe está errada.\nJá tentei reiniciar.",
		Language:       LangPT,
		CustomerID:     "1042",
		CustomerName:   "Ana Silva",
		CustomerEmail:  "ana@example.pt",
		Status:         "answered",
	}
}

// parsed is a message as a mail client would read it.
type parsed struct {
	raw        []byte
	header     mail.Header
	text, html string
}

func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	for i, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("line %d is %d bytes long", i+1, len(line))
		}
		if bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d has a bare CR or LF: %q", i+1, truncate(string(line), 80))
		}
	}
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	p := parsed{raw: raw, header: mr.Header}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		body, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		if !utf8.Valid(body) {
			t.Errorf("a part is not valid UTF-8")
		}
		ct, params, _ := part.Header.(*mail.InlineHeader).ContentType()
		if params["charset"] != "utf-8" {
			t.Errorf("%s part has charset %q", ct, params["charset"])
		}
		switch ct {
		case "text/plain":
			p.text = string(body)
		case "text/html":
			p.html = string(body)
		default:
			t.Errorf("unexpected part %s", ct)
		}
	}
	// Mail to customers is text and HTML; mail to staff is text alone.
	ct, _, _ := p.header.ContentType()
	switch {
	case ct == "multipart/alternative" && (p.text == "" || p.html == ""):
		t.Fatalf("want a text and an HTML part, got text=%t html=%t", p.text != "", p.html != "")
	case ct == "text/plain" && p.text == "":
		t.Fatal("an empty text message")
	case ct != "multipart/alternative" && ct != "text/plain":
		t.Fatalf("a %s message", ct)
	}
	return p
}

// parts are the message's parts: its text, and its HTML when it has some.
func (p parsed) parts() []string {
	if p.html == "" {
		return []string{p.text}
	}
	return []string{p.text, p.html}
}

func (p parsed) subject(t *testing.T) string {
	t.Helper()
	if n := len(p.header.Values("Subject")); n != 1 {
		t.Fatalf("%d Subject fields", n)
	}
	s, err := p.header.Subject()
	if err != nil {
		t.Fatalf("decode subject: %v", err)
	}
	return s
}

// rawHeaderKeys lists the field names of the top-level header as written.
func rawHeaderKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	var keys []string
	for line := range strings.SplitSeq(string(raw[:end]), "\r\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, _, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("header line without a colon: %q", line)
		}
		keys = append(keys, textproto.CanonicalMIMEHeaderKey(k))
	}
	return keys
}

// subjectLines returns the physical lines of the top-level Subject field.
func subjectLines(raw []byte) []string {
	head := string(raw[:bytes.Index(raw, []byte("\r\n\r\n"))])
	var lines []string
	in := false
	for line := range strings.SplitSeq(head, "\r\n") {
		switch {
		case strings.HasPrefix(line, "Subject:"):
			in = true
		case line != "" && line[0] != ' ' && line[0] != '\t':
			in = false
		}
		if in {
			lines = append(lines, line)
		}
	}
	return lines
}

func TestTicketMails(t *testing.T) {
	c := testComposer(t)
	tests := []struct {
		name        string
		build       func(TicketMail) (Outgoing, error)
		to          string
		staff       bool // text alone; mail to customers is text and HTML
		subject     string
		contains    []string
		notContains []string
	}{
		{
			name:    "the confirmation is the customer's copy of the request",
			build:   c.Confirmation,
			to:      "ana@example.pt",
			subject: "[Pedido #48213957] Configuração Conta de Email",
			contains: []string{"Olá Ana Silva", "48213957", "Configuração Conta de Email", "Email", "example.pt",
				"26/11/2026 14:03", "O Outlook diz que a palavra-passe está errada.", "Já tentei reiniciar.",
				"https://clientes.example.pt/tickets/48213957", "as respostas por email não são aceites", "Área de Cliente"},
			notContains: []string{"/staff/"},
		},
		{
			name:    "the department notification carries the customer and the staff link",
			build:   func(t TicketMail) (Outgoing, error) { return c.DepartmentNotification(t, "email@example.pt") },
			to:      "email@example.pt",
			staff:   true,
			subject: "[Pedido #48213957] Configuração Conta de Email — Ana Silva",
			contains: []string{"#48213957", "Ana Silva", "1042", "ana@example.pt", "example.pt", "Já tentei reiniciar.",
				"Não foi fornecida palavra-passe", "https://clientes.example.pt/staff/tickets/48213957"},
		},
		{
			name:     "the customer reply notification carries the new text",
			build:    func(t TicketMail) (Outgoing, error) { return c.CustomerReplyNotification(t, "email@example.pt") },
			to:       "email@example.pt",
			staff:    true,
			subject:  "[Pedido #48213957] Nova informação do cliente — Configuração Conta de Email",
			contains: []string{"acrescentou informação ao pedido #48213957", "Já tentei reiniciar.", "https://clientes.example.pt/staff/tickets/48213957"},
		},
		{
			name:    "the update shows the answer and the new status",
			build:   c.Update,
			to:      "ana@example.pt",
			subject: "[Pedido #48213957] Atualização — Configuração Conta de Email",
			contains: []string{"Respondido", "Resposta da nossa equipa", "Já tentei reiniciar.",
				"https://clientes.example.pt/tickets/48213957", "as respostas por email não são aceites"},
		},
		{
			name:    "the automatic close points to a new request referring to the ticket",
			build:   c.AutoClosed,
			to:      "ana@example.pt",
			subject: "[Pedido #48213957] Pedido fechado — Configuração Conta de Email",
			contains: []string{"fechado automaticamente", "já não pode ser respondido", "Fechado",
				"https://clientes.example.pt/tickets/new?related_ticket=48213957"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.build(sampleTicket())
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, out.Raw)
			if got := p.subject(t); got != tt.subject {
				t.Errorf("subject = %q, want %q", got, tt.subject)
			}
			if out.To != tt.to || out.EnvelopeFrom != "suporte@example.pt" {
				t.Errorf("envelope = %q -> %q", out.EnvelopeFrom, out.To)
			}
			to, err := p.header.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Address != tt.to {
				t.Errorf("To = %v, %v", to, err)
			}
			from, err := p.header.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Address != "suporte@example.pt" || from[0].Name != "Apoio ao Cliente" {
				t.Errorf("From = %v, %v", from, err)
			}
			if got := p.header.Get("Auto-Submitted"); got != "auto-generated" {
				t.Errorf("Auto-Submitted = %q", got)
			}
			if got := p.header.Get("X-Auto-Response-Suppress"); got != "OOF, AutoReply" {
				t.Errorf("X-Auto-Response-Suppress = %q", got)
			}
			if got := p.header.Get("Message-Id"); got != out.MessageID {
				t.Errorf("Message-Id = %q, Outgoing.MessageID = %q", got, out.MessageID)
			}
			if number, ok := c.ids.Verify(out.MessageID); !ok || number != "48213957" {
				t.Errorf("Message-ID %q does not verify: %q %v", out.MessageID, number, ok)
			}
			if _, err := p.header.Date(); err != nil {
				t.Errorf("Date: %v", err)
			}
			if tt.staff != (p.html == "") {
				t.Errorf("an HTML part: %t; mail to staff is text alone, mail to customers text and HTML", p.html != "")
			}
			for _, part := range p.parts() {
				for _, s := range tt.contains {
					if !strings.Contains(part, s) {
						t.Errorf("a part lacks %q", s)
					}
				}
				for _, s := range tt.notContains {
					if strings.Contains(part, s) {
						t.Errorf("a part contains %q", s)
					}
				}
			}
		})
	}
}

func TestPasswordIsMentionedNeverShown(t *testing.T) {
	c := testComposer(t)
	tm := sampleTicket()
	tm.PasswordProvided = true
	// The composer has no field for a password; a careless caller could only
	// leak one through the text fields, which is what this guards against
	// in the templates: the sentinel must come only from the message itself.
	tm.Message = "Sem palavra-passe aqui."
	for name, build := range map[string]func(TicketMail) (Outgoing, error){
		"confirmation": c.Confirmation,
		"department":   func(t TicketMail) (Outgoing, error) { return c.DepartmentNotification(t, "email@example.pt") },
	} {
		t.Run("the "+name+" says a password was provided and for how long", func(t *testing.T) {
			out, err := build(tm)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(out.Raw, []byte(passwordSentinel)) || bytes.Contains(out.Raw, []byte("PASSWORD OBFUSCATED")) {
				t.Fatal("the raw message contains password text")
			}
			p := parse(t, out.Raw)
			for _, part := range p.parts() {
				if !strings.Contains(part, "72 horas") {
					t.Errorf("the mail does not say the password is kept 72 horas:\n%s", part)
				}
			}
			if !strings.Contains(p.text, "ferramenta segura") {
				t.Errorf("the mail does not mention the secure tool")
			}
		})
	}
}

func TestLanguages(t *testing.T) {
	c := testComposer(t)
	tests := []struct {
		name, language string
		contains       []string
		notContains    []string
	}{
		{"Portuguese is the default", "", []string{"Olá Ana Silva", "Domínio: example.pt", "as respostas por email não são aceites"}, []string{"Hello"}},
		{"an unknown language falls back to Portuguese", "fr", []string{"Olá Ana Silva"}, []string{"Hello"}},
		{"English is written in English", "en", []string{"Hello Ana Silva", "Domain: example.pt", "Replies to this email are not accepted", "72 hours"}, []string{"Olá", "pedido"}},
		{"a regional English tag is English", "en-GB", []string{"Hello Ana Silva"}, []string{"Olá"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := sampleTicket()
			tm.Language = tt.language
			tm.PasswordProvided = true
			tm.Message = "Outlook 2021"
			out, err := c.Confirmation(tm)
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, out.Raw)
			if got := p.subject(t); got != "[Pedido #48213957] Configuração Conta de Email" {
				t.Errorf("subject = %q: the [Pedido #N] tag must stay in every language", got)
			}
			for _, s := range tt.contains {
				if !strings.Contains(p.text, s) {
					t.Errorf("text lacks %q", s)
				}
			}
			for _, s := range tt.notContains {
				if strings.Contains(p.text, s) {
					t.Errorf("text contains %q", s)
				}
			}
		})
	}
}

func TestStatusLabels(t *testing.T) {
	c := testComposer(t)
	labels := map[string][2]string{
		"open":           {"Aberto", "Open"},
		"in_progress":    {"Em Tratamento", "In progress"},
		"answered":       {"Respondido", "Answered"},
		"customer_reply": {"Resposta do Cliente", "Customer reply"},
		"on_hold":        {"Em Espera", "On hold"},
		"closed":         {"Fechado", "Closed"},
	}
	for status, want := range labels {
		for i, lang := range []string{LangPT, LangEN} {
			tm := sampleTicket()
			tm.Status, tm.Language = status, lang
			out, err := c.Update(tm)
			if err != nil {
				t.Fatal(err)
			}
			if p := parse(t, out.Raw); !strings.Contains(p.text, want[i]) {
				t.Errorf("update %s in %s lacks %q", status, lang, want[i])
			}
		}
	}
	tm := sampleTicket()
	tm.Status = "deleted"
	if _, err := c.Update(tm); err == nil {
		t.Error("an unknown status is accepted")
	}
}

func TestNoDomainIsSaid(t *testing.T) {
	c := testComposer(t)
	for lang, want := range map[string]string{
		LangPT: "O produto não está associado a um domínio",
		LangEN: "The product is not associated with a domain",
	} {
		tm := sampleTicket()
		tm.Domain, tm.Language = "", lang
		out, err := c.Confirmation(tm)
		if err != nil {
			t.Fatal(err)
		}
		p := parse(t, out.Raw)
		if !strings.Contains(p.text, want) || !strings.Contains(p.html, want) {
			t.Errorf("%s confirmation lacks %q", lang, want)
		}
	}
}

func TestRelatedTicketIsShown(t *testing.T) {
	c := testComposer(t)
	tm := sampleTicket()
	tm.RelatedTicket = "11112222"
	out, err := c.Confirmation(tm)
	if err != nil {
		t.Fatal(err)
	}
	if p := parse(t, out.Raw); !strings.Contains(p.text, "Referente ao pedido: #11112222") {
		t.Errorf("related ticket missing:\n%s", p.text)
	}
	tm.RelatedTicket = "1 OR 1=1"
	if _, err := c.Confirmation(tm); err == nil {
		t.Error("a related ticket that is not a number is accepted")
	}
}

func TestHostileSubjectsStayOneHeader(t *testing.T) {
	c := testComposer(t)
	tests := []struct {
		name, subject string
	}{
		{"CRLF and a Bcc", "Ajuda\r\nBcc: x@evil.example"},
		{"a bare LF and a Bcc", "Ajuda\nBcc: x@evil.example"},
		{"NUL and controls", "Aj\x00u\x07da\x1b[31m"},
		{"a literal encoded word hiding CRLF", "=?utf-8?q?Ajuda=0D=0ABcc:_x@evil.example?="},
		{"a Unicode line separator", "Ajuda\u2028Bcc: x@evil.example"},
	}
	for _, tt := range tests {
		t.Run("a subject with "+tt.name+" stays one Subject line", func(t *testing.T) {
			tm := sampleTicket()
			tm.SubjectName = tt.subject
			tm.CustomerName = tt.subject
			builds := []func() (Outgoing, error){
				func() (Outgoing, error) { return c.Confirmation(tm) },
				func() (Outgoing, error) { return c.DepartmentNotification(tm, "email@example.pt") },
				func() (Outgoing, error) {
					return c.AutoAnswer(AutoAnswer{Variant: AutoAnswerTicket, Number: "48213957", To: "ana@example.pt", OriginalSubject: tt.subject})
				},
			}
			for _, build := range builds {
				out, err := build()
				if err != nil {
					t.Fatal(err)
				}
				p := parse(t, out.Raw)
				subject := p.subject(t)
				if strings.ContainsAny(subject, "\r\n\x00\x07\x1b\u2028") {
					t.Errorf("decoded subject keeps a control character: %q", subject)
				}
				for _, k := range rawHeaderKeys(t, out.Raw) {
					if k == "Bcc" || k == "Cc" {
						t.Errorf("a %s header was injected", k)
					}
				}
				if n := len(p.header.Values("To")); n != 1 {
					t.Errorf("%d To fields", n)
				}
				to, err := p.header.AddressList("To")
				if err != nil || len(to) != 1 {
					t.Errorf("To = %v, %v", to, err)
				}
			}
		})
	}
}

// Go's net/mail Q-encodes a non-ASCII display name but leaves a backslash in it bare, which
// RFC 2047 forbids in a phrase: the To field would not parse as an address any more.
func TestNamesWithABackslashStayOneParsableAddress(t *testing.T) {
	c := testComposer(t)
	for _, name := range []string{`João \ Silva`, `é\`, `📧?=\`, `Ana\Silva`, `"João" \"x\" <y@evil.example>`} {
		t.Run("the name "+name+" gives one address", func(t *testing.T) {
			tm := sampleTicket()
			tm.CustomerName = name
			for _, build := range []func() (Outgoing, error){
				func() (Outgoing, error) { return c.Confirmation(tm) },
				func() (Outgoing, error) { return c.Update(tm) },
			} {
				out, err := build()
				if err != nil {
					t.Fatal(err)
				}
				p := parse(t, out.Raw)
				to, err := p.header.AddressList("To")
				if err != nil || len(to) != 1 {
					t.Fatalf("To = %v, %v", to, err)
				}
				if to[0].Address != "ana@example.pt" || to[0].Name != HeaderText(name) {
					t.Errorf("To = %q <%s>, want %q <ana@example.pt>", to[0].Name, to[0].Address, HeaderText(name))
				}
			}
		})
	}
}

func TestLongSubjectsAreTruncatedAndFolded(t *testing.T) {
	c := testComposer(t)
	tests := []struct {
		name, subject string
	}{
		{"10 KB of ASCII without spaces", strings.Repeat("x", 10<<10)},
		{"10 KB of accented words", strings.Repeat("Configuração ", 800)},
		{"10 KB of emoji", strings.Repeat("📧", 2600)},
	}
	for _, tt := range tests {
		t.Run(tt.name+" gives lines of at most 998 bytes", func(t *testing.T) {
			tm := sampleTicket()
			tm.SubjectName = tt.subject
			tm.CustomerName = tt.subject
			for _, build := range []func() (Outgoing, error){
				func() (Outgoing, error) { return c.Confirmation(tm) },
				func() (Outgoing, error) { return c.DepartmentNotification(tm, "email@example.pt") },
				func() (Outgoing, error) {
					return c.AutoAnswer(AutoAnswer{Variant: AutoAnswerNoTicket, To: "ana@example.pt", OriginalSubject: tt.subject})
				},
			} {
				out, err := build()
				if err != nil {
					t.Fatal(err)
				}
				p := parse(t, out.Raw) // checks every line
				for _, line := range subjectLines(out.Raw) {
					// Folded between encoded words, which RFC 2047 caps at 75.
					if len(line) > len("Subject: ")+75 {
						t.Errorf("subject line of %d bytes: %q", len(line), line)
					}
				}
				subject := p.subject(t)
				if n := utf8.RuneCountInString(subject); n > 2*maxHeaderRunes+40 {
					t.Errorf("subject kept %d runes", n)
				}
				if !strings.HasSuffix(subject, "…") {
					t.Errorf("a truncated subject should end with an ellipsis: %q", subject[len(subject)-10:])
				}
			}
		})
	}
}

func TestOneMegabyteLineIsWrapped(t *testing.T) {
	c := testComposer(t)
	tm := sampleTicket()
	tm.Message = strings.Repeat("Olá mundo, ", 100000)[:1<<20]
	out, err := c.Confirmation(tm)
	if err != nil {
		t.Fatal(err)
	}
	body := out.Raw[bytes.Index(out.Raw, []byte("\r\n\r\n")):]
	for i, line := range bytes.Split(body, []byte("\r\n")) {
		if len(line) > 76 {
			t.Fatalf("body line %d is %d bytes long", i, len(line))
		}
	}
	p := parse(t, out.Raw)
	if !strings.Contains(p.text, tm.Message) {
		t.Error("the text part does not carry the whole message")
	}
}

func TestHTMLEscapesCustomerText(t *testing.T) {
	c := testComposer(t)
	tm := sampleTicket()
	tm.Message = "<script>alert(1)</script>\n\"><img src=x onerror=alert(2)>\njavascript:alert(3)\n<a href=\"javascript:alert(4)\">clique</a>\nhttps://evil.example/login"
	tm.CustomerName = `"><svg onload=alert(5)>`
	tm.SubjectName = "<b>negrito</b>"
	tm.Domain = `x" onmouseover="alert(6)`
	for name, build := range map[string]func() (Outgoing, error){
		"department":     func() (Outgoing, error) { return c.DepartmentNotification(tm, "email@example.pt") },
		"customer reply": func() (Outgoing, error) { return c.CustomerReplyNotification(tm, "email@example.pt") },
	} {
		t.Run("the "+name+" notification shows customer text to staff as text only", func(t *testing.T) {
			out, err := build()
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, out.Raw)
			if p.html != "" {
				t.Fatal("mail to staff has an HTML part")
			}
			if !strings.Contains(p.text, "<script>alert(1)</script>") {
				t.Errorf("the text lacks the customer's message as typed:\n%s", p.text)
			}
		})
	}
	for name, build := range map[string]func() (Outgoing, error){
		"confirmation": func() (Outgoing, error) { return c.Confirmation(tm) },
		"update":       func() (Outgoing, error) { return c.Update(tm) },
	} {
		t.Run("the "+name+" escapes markup and makes no links of customer text", func(t *testing.T) {
			out, err := build()
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, out.Raw)
			for _, bad := range []string{"<script", "<img", "<svg", "<b>", `href="javascript`, "onmouseover=\"", `href="https://evil`} {
				if strings.Contains(p.html, bad) {
					t.Errorf("HTML part contains %q", bad)
				}
			}
			for _, want := range []string{"&lt;script&gt;", "&lt;img src=x onerror=alert(2)&gt;", "javascript:alert(3)"} {
				if !strings.Contains(p.html, want) {
					t.Errorf("HTML part lacks escaped %q", want)
				}
			}
			if got := strings.Count(p.html, "<a "); got > 2 {
				t.Errorf("%d links in the HTML part, want only ours", got)
			}
			if !strings.Contains(p.html, "<br>") {
				t.Error("newlines in the message are not <br>")
			}
		})
	}
}

func TestInvalidUTF8AndBidiComeOutValid(t *testing.T) {
	c := testComposer(t)
	tm := sampleTicket()
	bad := "Pedido \xff\xfe urgente \u202Eedadilav\u202C com\u200B zero\uFEFF width"
	tm.SubjectName, tm.CustomerName, tm.Message = bad, bad, bad
	out, err := c.Confirmation(tm)
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, out.Raw) // checks UTF-8 of every part
	subject := p.subject(t)
	if !utf8.ValidString(subject) {
		t.Errorf("subject is not valid UTF-8: %q", subject)
	}
	for _, r := range []string{"\u202E", "\u202C", "\u200B", "\uFEFF"} {
		if strings.Contains(subject, r) {
			t.Errorf("subject keeps %U", []rune(r)[0])
		}
		if r == "\u202E" && (strings.Contains(p.text, r) || strings.Contains(p.html, r)) {
			t.Errorf("body keeps a bidi override")
		}
	}
	if !strings.Contains(subject, "urgente") {
		t.Errorf("subject lost its text: %q", subject)
	}
}

func TestRecipientsAreValidated(t *testing.T) {
	c := testComposer(t)
	for _, to := range []string{
		"",
		"ana",
		"ana@",
		"@example.pt",
		"ana@example.pt, bruno@example.pt",
		"ana@example.pt bruno@example.pt",
		"Ana <ana@example.pt>",
		"ana@example.pt\r\nBcc: x@evil.example",
		"ana@example.pt\n",
		"ana@exa\x00mple.pt",
		"ana@@example.pt",
		"ana@example..pt",
		"joão@example.pt",
		strings.Repeat("a", 250) + "@example.pt",
	} {
		t.Run("the address "+strings.ReplaceAll(to, "\r\n", "CRLF")+" is refused", func(t *testing.T) {
			tm := sampleTicket()
			tm.CustomerEmail = to
			out, err := c.Confirmation(tm)
			if !errors.Is(err, ErrInvalidAddress) || out.Raw != nil {
				t.Errorf("Confirmation to %q = %d bytes, %v", to, len(out.Raw), err)
			}
			if _, err := c.DepartmentNotification(sampleTicket(), to); !errors.Is(err, ErrInvalidAddress) {
				t.Errorf("DepartmentNotification to %q: %v", to, err)
			}
			if _, err := c.AutoAnswer(AutoAnswer{Variant: AutoAnswerNoTicket, To: to}); !errors.Is(err, ErrInvalidAddress) {
				t.Errorf("AutoAnswer to %q: %v", to, err)
			}
		})
	}
}

func TestAutoAnswers(t *testing.T) {
	c := testComposer(t)
	tests := []struct {
		name        string
		answer      AutoAnswer
		subject     string
		contains    []string
		notContains []string
	}{
		{
			name: "a reply about an open ticket points to the ticket page",
			answer: AutoAnswer{Variant: AutoAnswerTicket, Number: "48213957", To: "ana@example.pt",
				InReplyTo: "<abc@mail.example>", OriginalSubject: "Re: [Pedido #48213957] Configuração Conta de Email"},
			subject:  "Auto: Re: [Pedido #48213957] Configuração Conta de Email",
			contains: []string{"pedido #48213957", "As respostas por email não são aceites", "https://clientes.example.pt/tickets/48213957"},
		},
		{
			name:     "a reply about a closed ticket points to a new request referring to it",
			answer:   AutoAnswer{Variant: AutoAnswerClosed, Number: "48213957", To: "ana@example.pt", InReplyTo: "<abc@mail.example>"},
			subject:  "Resposta automática — Pedido de Assistência",
			contains: []string{"o pedido #48213957 está fechado e já não pode ser respondido", "https://clientes.example.pt/tickets/new?related_ticket=48213957"},
		},
		{
			name:        "mail without a ticket points to the new-request page",
			answer:      AutoAnswer{Variant: AutoAnswerNoTicket, To: "ana@example.pt", OriginalSubject: "   "},
			subject:     "Resposta automática — Pedido de Assistência",
			contains:    []string{"https://clientes.example.pt/tickets/new", "não são aceites por email"},
			notContains: []string{"related_ticket", "#"},
		},
		{
			name:     "an English answer is in English",
			answer:   AutoAnswer{Variant: AutoAnswerClosed, Number: "7", Language: "en", To: "ana@example.pt"},
			subject:  "Automatic reply — Support request",
			contains: []string{"request #7 is closed and can no longer be answered"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.AutoAnswer(tt.answer)
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, out.Raw)
			if got := p.subject(t); got != tt.subject {
				t.Errorf("subject = %q, want %q", got, tt.subject)
			}
			if out.EnvelopeFrom != "" {
				t.Errorf("envelope sender = %q, want the null sender", out.EnvelopeFrom)
			}
			if got := p.header.Get("Auto-Submitted"); got != "auto-replied" {
				t.Errorf("Auto-Submitted = %q", got)
			}
			if got := p.header.Get("In-Reply-To"); got != tt.answer.InReplyTo {
				t.Errorf("In-Reply-To = %q", got)
			}
			if _, ok := c.ids.Verify(out.MessageID); !ok {
				t.Errorf("our Message-ID %q does not verify", out.MessageID)
			}
			for _, s := range tt.contains {
				if !strings.Contains(p.text, s) || !strings.Contains(p.html, s) {
					t.Errorf("a part lacks %q", s)
				}
			}
			for _, s := range tt.notContains {
				if strings.Contains(p.text, s) {
					t.Errorf("text contains %q", s)
				}
			}
		})
	}
	for _, bad := range []AutoAnswer{
		{Variant: AutoAnswerTicket, To: "ana@example.pt"},
		{Variant: AutoAnswerClosed, Number: "12a", To: "ana@example.pt"},
		{Variant: "vacation", To: "ana@example.pt"},
	} {
		if _, err := c.AutoAnswer(bad); err == nil {
			t.Errorf("AutoAnswer(%+v) is accepted", bad)
		}
	}
}

func TestAutoAnswerNeverQuotesTheirMessage(t *testing.T) {
	c := testComposer(t)
	out, err := c.AutoAnswer(AutoAnswer{Variant: AutoAnswerTicket, Number: "1", To: "ana@example.pt", OriginalSubject: "Re: " + passwordSentinel})
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, out.Raw)
	if strings.Contains(p.text, passwordSentinel) || strings.Contains(p.html, passwordSentinel) {
		t.Error("the body repeats their subject")
	}
}

func TestAutoAnswerReferences(t *testing.T) {
	c := testComposer(t)
	var theirs []string
	for i := range 5000 {
		theirs = append(theirs, "<id"+strconv.Itoa(i)+"@mail.example>")
	}
	hostile := []string{
		"<a@b>\r\nBcc: x@evil.example",
		"<with space@mail.example>",
		"no-brackets@mail.example",
		"<no-at-sign>",
		"<" + strings.Repeat("l", 300) + "@mail.example>",
		"<a@b@c>",
		"",
	}
	tests := []struct {
		name       string
		references []string
		inReplyTo  string
		want       []string
	}{
		{"thousands of ids keep the last twenty and theirs", theirs, "<last@mail.example>",
			append(append([]string{}, theirs[len(theirs)-20:]...), "<last@mail.example>")},
		{"invalid ids are dropped", append(append([]string{"<ok1@mail.example>"}, hostile...), "<ok2@mail.example>"), "<last@mail.example>",
			[]string{"<ok1@mail.example>", "<ok2@mail.example>", "<last@mail.example>"}},
		{"their id is not repeated", []string{"<a@mail.example>", "<last@mail.example>"}, "<last@mail.example>",
			[]string{"<a@mail.example>", "<last@mail.example>"}},
		{"an invalid In-Reply-To is dropped", []string{"<a@mail.example>"}, "<bad id>\r\nX: y",
			[]string{"<a@mail.example>"}},
		{"no ids give no References", nil, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.AutoAnswer(AutoAnswer{Variant: AutoAnswerTicket, Number: "1", To: "ana@example.pt",
				InReplyTo: tt.inReplyTo, References: tt.references})
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, out.Raw)
			got, err := p.header.MsgIDList("References")
			if err != nil {
				t.Fatalf("References do not parse: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("References has %d ids, want %d: %v", len(got), len(tt.want), got)
			}
			for i := range got {
				if "<"+got[i]+">" != tt.want[i] {
					t.Errorf("References[%d] = %q, want %q", i, got[i], tt.want[i])
				}
			}
			if len(tt.want) == 0 && p.header.Has("References") {
				t.Error("an empty References field")
			}
			for _, k := range rawHeaderKeys(t, out.Raw) {
				if k == "Bcc" || k == "X" {
					t.Errorf("a %s header was injected", k)
				}
			}
		})
	}
}

func TestMessageIDIsKeptForRetries(t *testing.T) {
	c := testComposer(t)
	first, err := c.Confirmation(sampleTicket())
	if err != nil {
		t.Fatal(err)
	}
	tm := sampleTicket()
	tm.MessageID = first.MessageID
	again, err := c.Confirmation(tm)
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, again.Raw)
	if again.MessageID != first.MessageID || p.header.Get("Message-Id") != first.MessageID {
		t.Errorf("retry has Message-ID %q, first had %q", again.MessageID, first.MessageID)
	}
	tm.MessageID = "<x@y>\r\nBcc: x@evil.example"
	if _, err := c.Confirmation(tm); err == nil {
		t.Error("an invalid Message-ID is accepted")
	}
}

func TestNewComposerChecksItsConfig(t *testing.T) {
	ids := NewIDSigner([]byte("k"), "example.pt")
	for _, cfg := range []ComposerConfig{
		{From: "not an address", PublicURL: "https://x.example", IDs: ids},
		{From: "a@example.pt, b@example.pt", PublicURL: "https://x.example", IDs: ids},
		{From: "a@example.pt", PublicURL: "javascript:alert(1)", IDs: ids},
		{From: "a@example.pt", PublicURL: "/relative", IDs: ids},
		{From: "a@example.pt", PublicURL: "https://x.example"},
	} {
		if _, err := NewComposer(cfg); err == nil {
			t.Errorf("NewComposer(%+v) is accepted", cfg)
		}
	}
}

func TestFormatTTL(t *testing.T) {
	tests := []struct {
		d        time.Duration
		lang     string
		expected string
	}{
		{72 * time.Hour, LangPT, "72 horas"},
		{72 * time.Hour, LangEN, "72 hours"},
		{time.Hour, LangPT, "1 hora"},
		{90 * time.Minute, LangEN, "90 minutes"},
		{6 * time.Second, LangPT, "6 segundos"},
		{6 * time.Second, LangEN, "6 seconds"},
		{1500 * time.Millisecond, LangEN, "2 seconds"},
	}
	for _, tt := range tests {
		if got := FormatTTL(tt.d, tt.lang); got != tt.expected {
			t.Errorf("FormatTTL(%v, %s) = %q, want %q", tt.d, tt.lang, got, tt.expected)
		}
	}
}

// Phrases that use nothing of a ticket (labels, the signature, the password note with its
// keeping time) are rendered once, when the Composer is made; the others stay per email.
func TestPhrasesWithoutTicketDataAreRenderedOnce(t *testing.T) {
	c := testComposer(t)
	pt := c.fixed[LangPT]
	for _, name := range []string{"field.number", "signature", "noreply", "password", "status.closed", "update.message"} {
		if pt[name] == "" {
			t.Errorf("%q is not among the phrases rendered once", name)
		}
	}
	if !strings.Contains(pt["password"], "72 horas") {
		t.Errorf("password phrase %q lacks the keeping time", pt["password"])
	}
	for _, name := range []string{"greeting", "confirmation.intro", "link.ticket", "confirmation.subject"} {
		if _, ok := pt[name]; ok {
			t.Errorf("%q uses ticket data but was rendered once", name)
		}
	}
	if c.fixed[LangEN]["field.number"] == pt["field.number"] {
		t.Error("English and Portuguese share a rendered phrase")
	}
}

func TestAnUpdateThatClosesARequestPointsToANewRequestReferringToIt(t *testing.T) {
	c := testComposer(t)
	for _, tt := range []struct {
		lang          string
		want, notWant []string
	}{
		{LangPT,
			[]string{"«Fechado»", "Um pedido fechado já não pode ser respondido", "crie um novo pedido referente ao pedido #48213957",
				"https://clientes.example.pt/tickets/new?related_ticket=48213957"},
			[]string{"Para responder ou acrescentar informação ao seu pedido"}},
		{LangEN,
			[]string{"“Closed”", "A closed request can no longer be answered", "create a new request referring to request #48213957",
				"https://clientes.example.pt/tickets/new?related_ticket=48213957"},
			[]string{"To answer or add information to your request"}},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			tm := sampleTicket()
			tm.Status, tm.Language = "closed", tt.lang
			out, err := c.Update(tm)
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, out.Raw)
			for _, part := range []struct{ name, body string }{{"text", p.text}, {"html", html.UnescapeString(p.html)}} {
				for _, s := range tt.want {
					if !strings.Contains(part.body, s) {
						t.Errorf("%s part lacks %q:\n%s", part.name, s, part.body)
					}
				}
				for _, s := range tt.notWant {
					if strings.Contains(part.body, s) {
						t.Errorf("%s part still invites a reply to a closed request (%q)", part.name, s)
					}
				}
			}
		})
	}
	// Any other status still says where to add information.
	tm := sampleTicket()
	tm.Status = "on_hold"
	out, err := c.Update(tm)
	if err != nil {
		t.Fatal(err)
	}
	if p := parse(t, out.Raw); !strings.Contains(p.text, "Para responder ou acrescentar informação ao seu pedido") || strings.Contains(p.text, "related_ticket") {
		t.Errorf("an update of an open request changed:\n%s", p.text)
	}
}
