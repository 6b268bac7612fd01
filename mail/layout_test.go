package mail

import (
	"bytes"
	htmltemplate "html/template"
	"strings"
	"testing"
)

// hostile are strings a customer, a configuration or a translation might put in a page.
var hostile = []string{
	"", "plain", `<script>alert("x")</script>`, `a & b + c 'd' "e"`, "nul\x00byte", "ünïcødé ✓ 😀",
	"line\nbreak", "</title><img src=x onerror=alert(1)>", "&amp; already", "\ufffd\u202e",
}

// TestLayoutEscapesAsHTMLTemplateDoes holds the HTML layout's escaping to html/template's, in
// element content, a quoted attribute and an href.
func TestLayoutEscapesAsHTMLTemplateDoes(t *testing.T) {
	tmpl := htmltemplate.Must(htmltemplate.New("").Parse(`<p>{{.}}</p><html lang="{{.}}"><title>{{.}}</title>`))
	for _, s := range hostile {
		var want bytes.Buffer
		if err := tmpl.Execute(&want, s); err != nil {
			t.Fatal(err)
		}
		e := escapeHTML(s)
		if got := "<p>" + e + `</p><html lang="` + e + `"><title>` + e + "</title>"; got != want.String() {
			t.Errorf("%q:\n got %s\nwant %s", s, got, want.String())
		}
	}
	href := htmltemplate.Must(htmltemplate.New("").Parse(`<a href="{{.}}">`))
	urls := append([]string{
		"https://clientes.example.pt/tickets/20261126-AB12CD", "http://h/tickets/new?related_ticket=1&x=2+3",
		"javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<b>", "mailto:a@b.pt", "/relative/path?q=ç",
		"https://h/a b\"c'd<e>", "https://h/%41%zz", "https://h/%4", "https://h/%41", "https://h/(paren)`tick`{brace}|pipe^\\", "httpſ://h/long-s", "HTTPS://h/", " javascript:x",
	}, hostile...)
	for _, u := range urls {
		var want bytes.Buffer
		if err := href.Execute(&want, u); err != nil {
			t.Fatal(err)
		}
		if got := `<a href="` + escapeURL(u) + `">`; got != want.String() {
			t.Errorf("%q:\n got %s\nwant %s", u, got, want.String())
		}
	}
}

// TestLayoutsShowEveryPartOfAPage lays out a page with hostile text in every part: each part
// appears in the text as it is and in the HTML escaped, and nothing of it escapes its element.
func TestLayoutsShowEveryPartOfAPage(t *testing.T) {
	evil := `<b>"x" & 'y'</b>`
	p := page{
		Lang: "pt-PT", Title: "T " + evil, Greeting: "G " + evil, Intro: []string{"I " + evil},
		Fields: []field{{"L " + evil, "V " + evil}}, MessageLabel: "M " + evil, Message: "one " + evil + "\ntwo",
		Notes: []string{"N " + evil}, Links: []link{{"K " + evil, "https://h/t?a=1&b=2"}},
		Footer: []string{"F " + evil}, Signature: "S1\nS2 " + evil,
	}
	var text, html bytes.Buffer
	writeText(&text, &p)
	writeHTML(&html, &p)
	for _, part := range []string{"G ", "I ", "L ", "V ", "M ", "one ", "N ", "K ", "F ", "S2 "} {
		if !strings.Contains(text.String(), part+evil) {
			t.Errorf("text part lacks %q", part+evil)
		}
		if !strings.Contains(html.String(), part+escapeHTML(evil)) {
			t.Errorf("html part lacks %q escaped", part)
		}
	}
	if strings.Contains(html.String(), "<b>") {
		t.Error("customer markup reached the HTML part")
	}
	for _, want := range []string{"one " + escapeHTML(evil) + "<br>\ntwo", "S1<br>\nS2", `href="https://h/t?a=1&amp;b=2"`, "<title>T "} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("html part lacks %q", want)
		}
	}
	if !strings.HasSuffix(html.String(), "</html>\n") || !strings.HasSuffix(text.String(), "S2 "+evil+"\n") {
		t.Error("a layout does not end as it should")
	}
}
