package api_test

import (
	"bytes"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/assistd/assistd/internal/systemtest"
)

// mailTexts returns a sent email's header fields and the decoded text of each of its parts.
func mailTexts(t *testing.T, raw []byte) (map[string][]string, map[string]string) {
	t.Helper()
	mr, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("an email that does not parse: %v", err)
	}
	headers := map[string][]string{}
	for f := mr.Header.Fields(); f.Next(); {
		headers[f.Key()] = append(headers[f.Key()], f.Value())
	}
	parts := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("a part that does not parse: %v", err)
		}
		b, _ := io.ReadAll(p.Body)
		ct := ""
		if h, ok := p.Header.(*gomail.InlineHeader); ok {
			ct, _, _ = h.ContentType()
		}
		parts[ct] += string(b)
	}
	return headers, parts
}

// TestHostileNamesRepliesFileNamesAndSearchTextsStayTextEverywhere gives every new input a
// hostile value (a customer's, a member's and a saved reply's names, a reply's body and its
// {customer_name}, file names, a message found by the search) and reads every page, header and
// email they reach: markup is shown as text, and no header gains a line.
func TestHostileNamesRepliesFileNamesAndSearchTextsStayTextEverywhere(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, number string) {
		st := systemtest.StaffToken
		const (
			custName   = `Ana "><script>alert('cliente')</script>`
			memberName = `Rita <img src=x onerror=alert('membro')>`
			replyTitle = `<script>alert('titulo')</script>`
			replyBody  = "</textarea><script>alert('corpo')</script> Caro {customer_name}, pedido {ticket_number}."
			fileName   = "<svg onload=alert('ficheiro')>\"\r\nX-Injetado: 1.png"
			message    = "Procura <script>alert('pesquisa')</script> palavraunica"
		)
		hostile := []string{"<script>alert(", "<img src=x", "<svg onload"}
		clean := func(where, s string) {
			t.Helper()
			for _, h := range hostile {
				if strings.Contains(s, h) {
					i := strings.Index(s, h)
					t.Errorf("%s holds %q as markup: …%s…", where, h, s[max(0, i-120):min(len(s), i+80)])
				}
			}
		}
		if code := env.Do(t, "PUT", "/api/v1/customers/ana", systemtest.APIToken, map[string]any{"name": custName, "email": "ana@example.pt", "language": "pt-PT"}, nil); code != 200 {
			t.Fatalf("customer: %d", code)
		}
		if code := env.Do(t, "PUT", "/api/v1/staff/members/rita", st, map[string]any{"name": memberName, "email": "rita@example.pt", "language": "pt-PT",
			"departments": map[string]string{"email": "lead"}, "admin": false, "active": true}, nil); code != 200 {
			t.Fatalf("member: %d", code)
		}
		var bad errorReply
		if code := env.Do(t, "PUT", "/api/v1/staff/members/rui", st, map[string]any{"name": "Rui\r\nBcc: x@evil.example", "email": "rui@example.pt\r\nBcc: x@evil.example",
			"language": "pt-PT", "departments": map[string]string{"email": "agent"}, "active": true}, &bad); code != 400 {
			t.Errorf("a member with lines in name and email: %d", code)
		}
		if code := env.Do(t, "POST", "/api/v1/staff/members/rita/tokens", st, map[string]any{"label": "cli\r\nX-Injetado: 1"}, &bad); code != 400 {
			t.Errorf("a token label with a line break: %d", code)
		}
		if code := env.Do(t, "PUT", "/api/v1/staff/departments/email/replies/ola", st, map[string]string{"title": replyTitle, "body": replyBody}, nil); code != 200 {
			t.Fatalf("reply: %d", code)
		}
		code, up := upload(t, env.System, "/api/v1/staff/uploads", st, fileName, pngFile(64), false, asMember("rita")...)
		if code != 201 {
			t.Fatalf("upload: %d", code)
		}
		var filled struct {
			Replies []struct{ ID, Body string } `json:"replies"`
		}
		env.Do(t, "GET", "/api/v1/staff/tickets/"+number+"/replies", st, nil, &filled, asMember("rita")...)
		if len(filled.Replies) != 1 || !strings.Contains(filled.Replies[0].Body, custName) {
			t.Fatalf("filled: %+v", filled)
		}
		if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/messages", st, map[string]any{"message": filled.Replies[0].Body, "attachments": []string{up.ID}}, nil, asMember("rita")...); code != 201 {
			t.Fatalf("answer: %d", code)
		}
		if code := env.Do(t, "POST", "/api/v1/customers/ana/tickets/"+number+"/messages", systemtest.APIToken, map[string]any{"message": message}, nil); code != 201 {
			t.Fatalf("customer message: %d", code)
		}
		if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/department", st, map[string]any{"department": "faturacao"}, nil, asMember("rita")...); code != 200 {
			t.Fatalf("transfer: %d", code)
		}
		// Downloads: the name in Content-Disposition, no header gained.
		for _, path := range []string{"/api/v1/staff/tickets/" + number + "/attachments/" + up.ID, "/api/v1/customers/ana/tickets/" + number + "/attachments/" + up.ID} {
			token, hs := st, systemtest.AsJoao
			if strings.Contains(path, "customers") {
				token, hs = systemtest.APIToken, nil
			}
			code, h, _ := download(t, env.System, path, token, hs...)
			if code != 200 || h.Get("X-Injetado") != "" || strings.ContainsAny(h.Get("Content-Disposition"), "\r\n") {
				t.Errorf("%s: %d %q", path, code, h)
			}
		}
		// Pages: the console as the admin and as the member, the customer's.
		joao := env.staff(t, "joao")
		rita := env.staff(t, "joao")
		for _, p := range []string{"/staff", "/staff/tickets/" + number, "/staff/tickets/" + number + "?reply=ola", "/staff/departments/email/replies",
			"/staff/departments/email/replies?edit=ola", "/staff/search?q=palavraunica", "/staff/search?q=script", "/staff/search?q=alert",
			"/staff/departments/faturacao"} {
			r := joao.get(p)
			if r.code != 200 {
				t.Errorf("%s: %d", p, r.code)
			}
			clean("console "+p, r.body)
		}
		clean("the member's console", rita.get("/staff").body)
		ana := env.customer(t, "ana")
		for _, p := range []string{"/tickets", "/tickets/" + number} {
			r := ana.get(p)
			clean("customer page "+p, r.body)
		}
		var res struct {
			Results []struct{ Snippet string } `json:"results"`
		}
		env.Do(t, "GET", "/api/v1/staff/search?q=palavraunica", st, nil, &res, systemtest.AsJoao...)
		if len(res.Results) != 1 {
			t.Errorf("search: %+v", res)
		}
		// Emails: headers as one line each, HTML parts with the markup as text.
		systemtest.Eventually(t, 15*time.Second, "the answer's and the transfer's emails", func() bool {
			n := 0
			for _, m := range env.Sink.Mails() {
				if strings.Contains(string(m.Data), "faturacao") || strings.Contains(string(m.Data), "Fatura") || m.To[0] == "ana@example.pt" {
					n++
				}
			}
			return n >= 3
		})
		for _, m := range env.Sink.Mails() {
			headers, parts := mailTexts(t, m.Data)
			for k, vs := range headers {
				if strings.EqualFold(k, "X-Injetado") || strings.EqualFold(k, "Bcc") || (len(vs) > 1 && k != "Received") {
					t.Errorf("a mail to %v has header %s %q", m.To, k, vs)
				}
			}
			clean("the HTML of a mail to "+strings.Join(m.To, ","), parts["text/html"])
		}
	})
}

// TestHostileSearchesAnswerResultsOrAFieldErrorNeverAFailure sends the search operators of both
// databases, quotes, control bytes and forged cursors, as a member and on the console.
func TestHostileSearchesAnswerResultsOrAFieldErrorNeverAFailure(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, number string) {
		queries := []string{`"`, `'`, `*`, `-`, `a AND`, `NEAR(a b)`, `outlook OR`, `(`, `)`, `:`, `^x`, `a:b`, `subject:x`, `body:outlook`,
			`!`, `&`, `|`, `<->`, `a <-> b`, `\`, `%`, `_`, "\x00", "\x01outlook\x02", `""""`, `{x}`, `😀`, strings.Repeat("a", 2000),
			strings.Repeat("ab ", 300), "outlook*", "*outlook", "-outlook", "NOT outlook", "password:*"}
		rita := env.staff(t, "rita")
		for _, q := range queries {
			var e errorReply
			code := env.Do(t, "GET", "/api/v1/staff/search?q="+url.QueryEscape(q), systemtest.StaffToken, nil, &e, asMember("rita")...)
			if code != 200 && (code != 400 || e.Error.Code != "validation_failed") {
				t.Errorf("search %q: %d %+v", q, code, e)
			}
			if r := rita.get("/staff/search?q=" + url.QueryEscape(q)); r.code/100 == 5 {
				t.Errorf("console search %q: %d", q, r.code)
			}
		}
		for _, next := range []string{"x", "AAAA", strings.Repeat("z", 500), "eyJtb2RlIjoxfQ", "%00"} {
			var e errorReply
			code := env.Do(t, "GET", "/api/v1/staff/search?q=outlook&next="+url.QueryEscape(next), systemtest.StaffToken, nil, &e, asMember("rita")...)
			if code != 400 || e.Error.Code != "validation_failed" {
				t.Errorf("a forged cursor %q: %d %+v", next, code, e)
			}
			if r := rita.get("/staff/search?q=outlook&next=" + url.QueryEscape(next)); r.code/100 == 5 {
				t.Errorf("console search with a forged cursor %q: %d", next, r.code)
			}
		}
	})
}
