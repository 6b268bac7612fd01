package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage/storagetest"
)

const pagesPortalSecret = "portal-secret-for-tests"

// webEnv is a running system with the pages served by a server that knows the portal secret.
type webEnv struct {
	*systemtest.System
	Server *api.Server
	Web    *httptest.Server
	Config api.Config
}

// startWeb starts a system (with its worker unless noWorker) and serves the pages beside it, on
// the same store, key ring, composer and queue.
func startWeb(t *testing.T, noWorker bool, change func(*api.Config)) *webEnv {
	t.Helper()
	return startWebOn(t, systemtestSQLite(t), noWorker, change)
}

// startWebOn is startWeb on a given database backend.
func startWebOn(t *testing.T, b storagetest.Backend, noWorker bool, change func(*api.Config)) *webEnv {
	t.Helper()
	return startWebClocked(t, b, noWorker, change, nil)
}

// startWebClocked is startWebOn with the server's clock (nil: the real one).
func startWebClocked(t *testing.T, b storagetest.Backend, noWorker bool, change func(*api.Config), now func() time.Time) *webEnv {
	t.Helper()
	sys := systemtest.Start(t, b, systemtest.Options{NoWorker: noWorker})
	env := &webEnv{System: sys}
	env.Web = httptest.NewUnstartedServer(nil)
	env.Config = api.Config{APIToken: systemtest.APIToken, StaffToken: systemtest.StaffToken, PublicURL: "http://" + env.Web.Listener.Addr().String(),
		SecretTTL: 72 * time.Hour, PortalURL: "https://portal.example.pt/clientarea", PortalSecret: pagesPortalSecret,
		StaffLinkSecret: systemtest.StaffLinkSecret}
	if change != nil {
		change(&env.Config)
	}
	env.Server = api.New(env.Config, api.Deps{Store: sys.Store, Keys: sys.Keys, Composer: sys.Composer, Enqueuer: sys.Deps.Enqueuer,
		Log: slog.New(slog.NewTextHandler(sys.Log, nil)), Now: now, Redis: sys.Redis, Objects: sys.Deps.Objects})
	env.Web.Config.Handler = env.Server
	env.Web.Start()
	t.Cleanup(env.Web.Close)
	return env
}

// visitor is one browser: a cookie jar and no automatic redirects.
type visitor struct {
	t    testing.TB
	env  *webEnv
	http *http.Client
}

func (e *webEnv) visitor(t testing.TB) *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{t: t, env: e, http: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// customer signs a visitor in as a customer through the portal's link, followed from the portal.
func (e *webEnv) customer(t testing.TB, id string) *visitor {
	v := e.visitor(t)
	resp := v.fromPortal(strings.TrimPrefix(api.CustomerLoginURL(e.Config.PublicURL, pagesPortalSecret, id, 5*time.Minute), e.Config.PublicURL))
	if resp.code != http.StatusSeeOther || resp.header.Get("Location") != "/tickets" {
		t.Fatalf("sign-in of %s: %d %s", id, resp.code, resp.header.Get("Location"))
	}
	return v
}

// staff signs a visitor in to the console with a signed staff link: it opens the link and
// presses the button of the page it shows.
func (e *webEnv) staff(t testing.TB, name string) *visitor {
	v := e.visitor(t)
	if resp := v.staffLink(strings.TrimPrefix(api.StaffLoginURL(e.Config.PublicURL, systemtest.StaffLinkSecret, name, 5*time.Minute), e.Config.PublicURL)); resp.code != http.StatusSeeOther {
		t.Fatalf("staff sign-in of %s: %d", name, resp.code)
	}
	return v
}

var staffLinkField = regexp.MustCompile(`name="link" value="([^"]+)"`)

// staffLink opens a staff sign-in link and, when it shows its page, presses its button.
func (v *visitor) staffLink(path string) response {
	v.t.Helper()
	page := v.get(path)
	csrf, link := csrfField.FindStringSubmatch(page.body), staffLinkField.FindStringSubmatch(page.body)
	if page.code != http.StatusOK || csrf == nil || link == nil {
		return page
	}
	return v.post("/staff/login", url.Values{"csrf": {html.UnescapeString(csrf[1])}, "link": {html.UnescapeString(link[1])}})
}

type response struct {
	code   int
	header http.Header
	body   string
}

func (v *visitor) do(req *http.Request) response {
	v.t.Helper()
	resp, err := v.http.Do(req)
	if err != nil {
		v.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (v *visitor) get(path string) response {
	v.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, v.env.Web.URL+path, nil)
	return v.do(req)
}

// portalReferer is what a browser sends as the Referer of a link followed from the portal
// (Config.PortalURL) under the default referrer policy: the portal's origin.
const portalReferer = "https://portal.example.pt/"

// fromPortal gets a page as a browser sent there from a page of the portal: a sign-in link
// followed that way signs in at once.
func (v *visitor) fromPortal(path string) response {
	v.t.Helper()
	return v.getFrom(path, portalReferer)
}

// getFrom gets a page as a browser sent there from the page referer ("" for none).
func (v *visitor) getFrom(path, referer string) response {
	v.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, v.env.Web.URL+path, nil)
	if referer != "" {
		req.Header.Set("Referer", referer)
	}
	return v.do(req)
}

func (v *visitor) post(path string, form url.Values) response {
	v.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, v.env.Web.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return v.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the forms on a page of this visitor's.
func (v *visitor) csrf(path string) string {
	v.t.Helper()
	m := csrfField.FindStringSubmatch(v.get(path).body)
	if m == nil {
		v.t.Fatalf("no CSRF token on %s", path)
	}
	return html.UnescapeString(m[1])
}

var idempotencyField = regexp.MustCompile(`name="idempotency_key" value="([^"]+)"`)

// newTicket submits the request form as the customer would and returns the ticket's number.
func (v *visitor) newTicket(subject string, fields url.Values) string {
	v.t.Helper()
	page := v.get("/tickets/new?subject_id=" + subject).body
	fields.Set("csrf", html.UnescapeString(csrfField.FindStringSubmatch(page)[1]))
	fields.Set("idempotency_key", idempotencyField.FindStringSubmatch(page)[1])
	fields.Set("subject_id", subject)
	resp := v.post("/tickets/new", fields)
	loc := resp.header.Get("Location")
	if resp.code != http.StatusSeeOther || !strings.HasSuffix(loc, "/confirmation") {
		v.t.Fatalf("new ticket: %d %s\n%s", resp.code, loc, resp.body)
	}
	return strings.TrimSuffix(strings.TrimPrefix(loc, "/tickets/"), "/confirmation")
}

// checkPage parses a page and reports what breaks its validity or accessibility: one html
// element with a lang, one h1, unique ids, a label (or aria-label) for every form control,
// label "for" pointing at a control, an alt on every image, a name on every link and button,
// no nested forms or interactive content in links, and elements closed where HTML requires it.
func checkPage(t testing.TB, name, page string) {
	t.Helper()
	for _, p := range pageProblems(page) {
		t.Errorf("%s: %s", name, p)
	}
}

func pageProblems(page string) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(page)), "<!doctype html>") {
		add("no <!DOCTYPE html> first")
	}
	problems = append(problems, tagBalance(page)...)
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return append(problems, "unparsable: "+err.Error())
	}
	ids := map[string]int{}
	labelled := map[string]bool{}
	var controls []*html.Node
	var h1s, titles int
	var walk func(n *html.Node, inForm, inLink bool)
	walk = func(n *html.Node, inForm, inLink bool) {
		if n.Type == html.ElementNode {
			if id := attr(n, "id"); id != "" {
				ids[id]++
			}
			switch n.DataAtom {
			case atom.Html:
				if attr(n, "lang") == "" {
					add("<html> has no lang")
				}
			case atom.H1:
				h1s++
			case atom.Title:
				if strings.TrimSpace(text(n)) != "" {
					titles++
				}
			case atom.Label:
				if f := attr(n, "for"); f != "" {
					labelled[f] = true
				}
			case atom.Img:
				if _, ok := attrOK(n, "alt"); !ok {
					add("<img src=%q> has no alt", attr(n, "src"))
				}
			case atom.Form:
				if inForm {
					add("a form inside a form")
				}
				inForm = true
			case atom.A:
				if inLink {
					add("a link inside a link")
				}
				if strings.TrimSpace(text(n)) == "" && attr(n, "aria-label") == "" {
					add("a link to %q has no text", attr(n, "href"))
				}
				inLink = true
			case atom.Button:
				if strings.TrimSpace(text(n)) == "" && attr(n, "aria-label") == "" {
					add("a button has no text")
				}
			case atom.Ul, atom.Ol, atom.Dl:
				allowed := map[atom.Atom]bool{atom.Li: n.DataAtom != atom.Dl, atom.Dt: n.DataAtom == atom.Dl, atom.Dd: n.DataAtom == atom.Dl,
					atom.Div: n.DataAtom == atom.Dl, atom.Script: true, atom.Template: true}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type == html.ElementNode && !allowed[c.DataAtom] {
						add("<%s> directly inside <%s>", c.Data, n.Data)
					}
				}
			case atom.Input, atom.Select, atom.Textarea:
				if attr(n, "type") != "hidden" {
					controls = append(controls, n)
				}
			}
			if inLink && n.DataAtom != atom.A && (n.DataAtom == atom.Button || n.DataAtom == atom.Input || n.DataAtom == atom.Select || n.DataAtom == atom.Textarea) {
				add("a form control inside a link")
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inForm, inLink)
		}
	}
	walk(doc, false, false)
	if h1s != 1 {
		add("%d h1 elements, want exactly one", h1s)
	}
	if titles != 1 {
		add("no title")
	}
	for id, n := range ids {
		if n > 1 {
			add("id %q is used %d times", id, n)
		}
	}
	for _, c := range controls {
		id := attr(c, "id")
		if attr(c, "aria-label") == "" && attr(c, "aria-labelledby") == "" && (id == "" || !labelled[id]) && !insideLabel(c) {
			add("<%s name=%q> has no label", c.Data, attr(c, "name"))
		}
		for _, ref := range strings.Fields(attr(c, "aria-describedby")) {
			if ids[ref] == 0 {
				add("<%s name=%q> is described by missing id %q", c.Data, attr(c, "name"), ref)
			}
		}
	}
	for f := range labelled {
		if ids[f] == 0 {
			add("a label points at missing id %q", f)
		}
	}
	return problems
}

var voidElements = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true, "input": true,
	"link": true, "meta": true, "source": true, "track": true, "wbr": true}

var rawAttribute = regexp.MustCompile(`\s([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>` + "`" + `]+))?`)

var blockElements = map[string]bool{"address": true, "article": true, "aside": true, "div": true, "dl": true, "fieldset": true, "footer": true,
	"form": true, "h1": true, "h2": true, "h3": true, "h4": true, "header": true, "hr": true, "main": true, "nav": true, "ol": true, "p": true,
	"pre": true, "section": true, "table": true, "ul": true, "details": true}

// tagBalance checks with the tokenizer, which forgives nothing, that every element we write is
// closed in order, and that no element repeats an attribute.
func tagBalance(page string) []string {
	var problems []string
	var stack []string
	z := html.NewTokenizer(strings.NewReader(page))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				problems = append(problems, "tokenizer: "+z.Err().Error())
			}
			if len(stack) > 0 {
				problems = append(problems, "unclosed elements at the end: "+strings.Join(stack, " > "))
			}
			return problems
		case html.StartTagToken, html.SelfClosingTagToken:
			raw := string(z.Raw())
			tok := z.Token()
			seen := map[string]bool{}
			// The tokenizer drops repeated attributes, as browsers do: look at the source.
			for _, a := range rawAttribute.FindAllStringSubmatch(raw, -1) {
				key := strings.ToLower(a[1])
				if seen[key] {
					problems = append(problems, fmt.Sprintf("<%s> repeats attribute %q", tok.Data, key))
				}
				seen[key] = true
			}
			if blockElements[tok.Data] && slices.Contains(stack, "p") {
				problems = append(problems, fmt.Sprintf("<%s> inside a <p>", tok.Data))
			}
			if tt == html.StartTagToken && !voidElements[tok.Data] {
				stack = append(stack, tok.Data)
			}
		case html.EndTagToken:
			tok := z.Token()
			if len(stack) == 0 || stack[len(stack)-1] != tok.Data {
				problems = append(problems, fmt.Sprintf("</%s> does not close the open element (open: %s)", tok.Data, strings.Join(stack, " > ")))
				if i := slices.Index(stack, tok.Data); i >= 0 {
					stack = stack[:i]
				}
				continue
			}
			stack = stack[:len(stack)-1]
		}
	}
}

func attr(n *html.Node, key string) string {
	v, _ := attrOK(n, key)
	return v
}

func attrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func insideLabel(n *html.Node) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.DataAtom == atom.Label {
			return true
		}
	}
	return false
}

// contrast is the WCAG contrast ratio of two #rrggbb colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(hex string) float64 {
	hex = strings.TrimPrefix(hex, "#")
	if len(hex) == 3 {
		hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
	}
	var ch [3]float64
	for i := range ch {
		v, _ := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		c := float64(v) / 255
		if c <= 0.03928 {
			ch[i] = c / 12.92
		} else {
			ch[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*ch[0] + 0.7152*ch[1] + 0.0722*ch[2]
}

// waitForMail waits until the SMTP sink has received n mails.
func (e *webEnv) waitForMail(t testing.TB, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := e.Sink.Wait(ctx, n); err != nil {
		t.Fatalf("waiting for %d mails: %v (got %d)", n, err, e.Sink.Total())
	}
}
