package mail

import (
	"bytes"
	"fmt"
	"strings"
)

// The two layouts every email is laid out in, text and HTML. They are written in Go rather than
// as templates: a ticket sends two emails, and executing text/template and html/template took
// half of the time spent composing them (reflection on every field, an escaper called through
// reflect for every value). Every value written into the HTML goes through htmlEscaper
// (element, writeLines), or through escapeURL for an href, which escape as html/template does in
// those contexts (TestLayoutEscapesAsHTMLTemplateDoes keeps them equal).

const rule = "------------------------------------------------------------"

// writeText lays a page out as text/plain.
func writeText(b *bytes.Buffer, p *page) {
	if p.Greeting != "" {
		b.WriteString(p.Greeting)
		b.WriteString("\n\n")
	}
	for _, s := range p.Intro {
		b.WriteString(s)
		b.WriteString("\n\n")
	}
	if len(p.Fields) > 0 {
		for _, f := range p.Fields {
			b.WriteString(f.Label)
			b.WriteString(": ")
			b.WriteString(f.Value)
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
	if p.MessageLabel != "" {
		b.WriteString(p.MessageLabel)
		b.WriteString(":\n" + rule + "\n")
		b.WriteString(p.Message)
		b.WriteString("\n" + rule + "\n\n")
	}
	for _, s := range p.Notes {
		b.WriteString(s)
		b.WriteString("\n\n")
	}
	for _, l := range p.Links {
		b.WriteString(l.Label)
		b.WriteString(":\n")
		b.WriteString(l.URL)
		b.WriteString("\n\n")
	}
	for _, s := range p.Footer {
		b.WriteString(s)
		b.WriteString("\n\n")
	}
	if p.Signature != "" {
		b.WriteString(p.Signature)
		b.WriteByte('\n')
	}
}

const (
	htmlLang  = "<!DOCTYPE html>\n<html lang=\""
	htmlTitle = "\">\n<head>\n<meta charset=\"utf-8\">\n" +
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>"
	htmlBody = "</title>\n</head>\n" +
		"<body style=\"margin:0;padding:16px;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;color:#222\">\n" +
		"<div style=\"max-width:640px;margin:0 auto;background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:24px\">\n"
	htmlTable = "<table role=\"presentation\" style=\"border-collapse:collapse;margin:16px 0\">\n"
	// Labels are cells like the values (a th would need its centring and bold undone on each
	// row): the table is presentation only, and every byte of a row is repeated in every email.
	htmlLabel   = "<tr><td style=\"vertical-align:top;padding:4px 16px 4px 0;color:#555;white-space:nowrap\">"
	htmlValue   = "</td><td style=\"padding:4px 0\">"
	htmlMessage = "<div style=\"border-left:3px solid #c5ccd6;padding:8px 12px;background:#f8f9fb;word-wrap:break-word\">"
	htmlLink    = "\" style=\"display:inline-block;padding:8px 14px;background:#0b5cad;color:#fff;text-decoration:none;border-radius:4px\">"
	htmlFoot    = "</div>\n</body>\n</html>\n"
)

// writeHTML lays a page out as text/html.
func writeHTML(b *bytes.Buffer, p *page) {
	element(b, htmlLang, p.Lang, htmlTitle)
	element(b, "", p.Title, htmlBody)
	if p.Greeting != "" {
		element(b, "<p>", p.Greeting, "</p>\n")
	}
	for _, s := range p.Intro {
		element(b, "<p>", s, "</p>\n")
	}
	if len(p.Fields) > 0 {
		b.WriteString(htmlTable)
		for _, f := range p.Fields {
			element(b, htmlLabel, f.Label, htmlValue)
			element(b, "", f.Value, "</td></tr>\n")
		}
		b.WriteString("</table>\n")
	}
	if p.MessageLabel != "" {
		element(b, "<p style=\"margin-bottom:4px\"><strong>", p.MessageLabel, "</strong></p>\n")
		b.WriteString(htmlMessage)
		writeLines(b, p.Message)
		b.WriteString("</div>\n")
	}
	for _, s := range p.Notes {
		element(b, "<p>", s, "</p>\n")
	}
	for _, l := range p.Links {
		b.WriteString("<p><a href=\"")
		b.WriteString(escapeURL(l.URL))
		element(b, htmlLink, l.Label, "</a></p>\n")
	}
	for _, s := range p.Footer {
		element(b, "<p style=\"color:#555\">", s, "</p>\n")
	}
	if p.Signature != "" {
		b.WriteString("<p>")
		writeLines(b, p.Signature)
		b.WriteString("</p>\n")
	}
	b.WriteString(htmlFoot)
}

// element writes open, s escaped, and closing.
func element(b *bytes.Buffer, open, s, closing string) {
	b.WriteString(open)
	htmlEscaper.WriteString(b, s)
	b.WriteString(closing)
}

// writeLines writes s escaped, its lines separated by <br>.
func writeLines(b *bytes.Buffer, s string) {
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteString("<br>\n")
		}
		htmlEscaper.WriteString(b, line)
	}
}

// htmlEscaper escapes text for an element's content or a quoted attribute, as html/template does.
var htmlEscaper = strings.NewReplacer(
	"\x00", "\uFFFD", `"`, "&#34;", "&", "&amp;", "'", "&#39;", "+", "&#43;", "<", "&lt;", ">", "&gt;",
)

func escapeHTML(s string) string { return htmlEscaper.Replace(s) }

// escapeURL makes a URL safe in a quoted href as html/template does: a scheme other than http,
// https or mailto is replaced by a harmless "#ZgotmplZ", bytes that have no place in a URL are
// percent-encoded, and the result is escaped for the attribute.
func escapeURL(u string) string {
	if scheme, _, ok := strings.Cut(u, ":"); ok && !strings.Contains(scheme, "/") {
		if !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") && !strings.EqualFold(scheme, "mailto") {
			return "#ZgotmplZ"
		}
	}
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte("!#$&*+,/:;=?@[]-._~", c) >= 0,
			c == '%' && i+2 < len(u) && isHex(u[i+1]) && isHex(u[i+2]): // a valid escape stays
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return escapeHTML(b.String())
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
