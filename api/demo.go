package api

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
)

// DemoMail is one email the demo's in-process SMTP server received.
type DemoMail struct {
	From     string
	To       []string
	Data     []byte
	Received time.Time
}

// DemoMailbox is what /demo/mail needs: the sent mails, and a way to drop a customer's reply
// into the support mailbox that the poller watches.
type DemoMailbox struct {
	Mails       func() []DemoMail
	AppendReply func(raw []byte) error
	SupportAddr string
}

var demoMailPage = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="pt-PT"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo — emails enviados</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;color:#1a1a1a}
details{border:1px solid #999;border-radius:4px;margin:.5rem 0;padding:.5rem}pre{white-space:pre-wrap;word-break:break-word;font-size:.85rem}
button{background:#0b4f8a;color:#fff;border:0;border-radius:4px;padding:.5rem 1rem;font-size:1rem}form{margin:1rem 0}</style></head>
<body><h1>Emails enviados pela demonstração</h1>
<p><a href="/">Voltar aos Pedidos de Assistência</a></p>
<form method="post" action="/demo/mail/reply">
<label for="number">Simular a resposta por email de um cliente ao pedido nº</label>
<input id="number" name="number" inputmode="numeric" pattern="[0-9]{8}" value="{{.LastNumber}}">
<button type="submit">Enviar resposta simulada</button></form>
<p>{{len .Mails}} email(s), o mais recente primeiro.</p>
{{range .Mails}}<details><summary>{{.Received.Format "15:04:05"}} — para {{.To}} — {{.Subject}}</summary><pre>{{.Body}}</pre></details>
{{end}}</body></html>`))

// demoMail lists the mails the demo sent, the most recent first, with a form that simulates a
// customer's email reply.
func demoMail(box DemoMailbox) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		type row struct {
			Received      time.Time
			To            []string
			Subject, Body string
		}
		var rows []row
		last := ""
		mails := box.Mails()
		for i := len(mails) - 1; i >= 0; i-- {
			m := mails[i]
			subject, body := summarize(m.Data)
			if last == "" {
				last = numberIn(subject)
			}
			rows = append(rows, row{m.Received, m.To, subject, body})
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		_ = demoMailPage.Execute(w, map[string]any{"Mails": rows, "LastNumber": last})
	}
}

// demoReply drops a customer's email reply to a ticket into the support mailbox.
func (s *Server) demoReply(box DemoMailbox) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		number := strings.TrimSpace(r.FormValue("number"))
		var h mail.Header
		h.SetDate(time.Now())
		h.SetAddressList("From", []*mail.Address{{Name: "Cliente Demonstração", Address: "demo@example.pt"}})
		h.SetAddressList("To", []*mail.Address{{Address: box.SupportAddr}})
		h.SetSubject("Re: [Pedido #" + number + "] resposta por email")
		h.Set("Return-Path", "<demo@example.pt>")
		_ = h.GenerateMessageID()
		var buf bytes.Buffer
		mw, err := mail.CreateSingleInlineWriter(&buf, h)
		if err == nil {
			_, _ = io.WriteString(mw, "Obrigado, mas ainda não funciona.\r\n")
			err = mw.Close()
		}
		if err == nil {
			err = box.AppendReply(buf.Bytes())
		}
		if err != nil {
			http.Error(w, "could not append the reply: "+err.Error(), http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/demo/mail", http.StatusSeeOther)
	}
}

// summarize decodes a mail's subject and its first text part, for display.
func summarize(raw []byte) (string, string) {
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		return "(unreadable)", string(raw)
	}
	subject, _ := mr.Header.Subject()
	var body strings.Builder
	fmt.Fprintf(&body, "From: %s\nAuto-Submitted: %s\n\n", mr.Header.Get("From"), mr.Header.Get("Auto-Submitted"))
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if h, ok := p.Header.(*mail.InlineHeader); ok {
			if ct, _, _ := h.ContentType(); ct == "text/plain" {
				b, _ := io.ReadAll(io.LimitReader(p.Body, 64<<10))
				body.Write(b)
				break
			}
		}
	}
	return subject, body.String()
}

func numberIn(subject string) string {
	i := strings.Index(subject, "#")
	if i < 0 || len(subject) < i+9 {
		return ""
	}
	return subject[i+1 : i+9]
}
