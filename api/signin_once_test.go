package api_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
)

// TestASignInLinkSignsInOnce: the link a customer's browser followed signs nobody else in, however
// it is copied (history, a proxy's log, a forwarded message) or re-encoded, while that browser
// following it again goes on signed in.
func TestASignInLinkSignsInOnce(t *testing.T) {
	var ahead atomic.Int64 // how far the server's clock runs ahead
	env := startWebClocked(t, systemtestSQLite(t), true, nil, func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) })
	env.PutCustomer(t, "ana", "pt-PT")
	link := "/login?token=" + url.QueryEscape(api.LoginToken(pagesPortalSecret, "customer", "ana", time.Now().Add(5*time.Minute)))

	// A double click: the first request's answer, and its cookie, never reach the browser,
	// which shows the second one's.
	if r := env.visitor(t).fromPortal(link); r.code != http.StatusSeeOther {
		t.Fatalf("first use: %d", r.code)
	}
	ana := env.visitor(t)
	if r := ana.fromPortal(link); r.code != http.StatusSeeOther || r.header.Get("Location") != "/tickets" || !strings.Contains(r.header.Get("Set-Cookie"), "assistd_session=") {
		t.Fatalf("the second click of a double click: %d to %q, cookie %q; want signed in", r.code, r.header.Get("Location"), r.header.Get("Set-Cookie"))
	}
	ahead.Store(int64(11 * time.Second))
	if r := ana.fromPortal(link); r.code != http.StatusSeeOther || r.header.Get("Location") != "/tickets" || r.header.Get("Set-Cookie") != "" {
		t.Fatalf("the same browser again: %d to %q, cookie %q; want 303 on, keeping its session", r.code, r.header.Get("Location"), r.header.Get("Set-Cookie"))
	}
	if r := ana.get("/tickets"); r.code != http.StatusOK {
		t.Fatalf("the first browser afterwards: %d", r.code)
	}

	thief := env.visitor(t)
	r := thief.fromPortal(link)
	if r.code != http.StatusUnauthorized || r.header.Get("Set-Cookie") != "" || !strings.Contains(r.body, "já foi utilizada") ||
		!strings.Contains(r.body, "https://portal.example.pt/clientarea") {
		t.Fatalf("another browser: %d, cookie %q; want 401 saying the link was used, with the way back to the portal:\n%s", r.code, r.header.Get("Set-Cookie"), r.body)
	}
	if r := thief.get("/tickets"); r.code != http.StatusUnauthorized {
		t.Fatalf("the other browser then sees the history: %d", r.code)
	}

	// The signature's last character carries two bits base64 does not use: changed, it decodes
	// to the same signature, and it is the same link.
	token, _ := url.QueryUnescape(strings.TrimPrefix(link, "/login?token="))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, token[len(token)-1])
	twin := token[:len(token)-1] + string(alphabet[last^1])
	sigOf := func(tok string) []byte {
		_, sig, _ := strings.Cut(tok, ".")
		b, err := base64.RawURLEncoding.DecodeString(sig)
		if err != nil {
			t.Fatalf("signature of %q: %v", tok, err)
		}
		return b
	}
	if twin == token || string(sigOf(twin)) != string(sigOf(token)) {
		t.Fatal("the twin token is not another writing of the same signature")
	}
	if r := env.visitor(t).fromPortal("/login?token=" + url.QueryEscape(twin)); r.code != http.StatusUnauthorized || r.header.Get("Set-Cookie") != "" {
		t.Fatalf("the link written another way: %d, cookie %q; want 401", r.code, r.header.Get("Set-Cookie"))
	}

	// Two links made for the same customer in the same second are two links.
	exp := time.Now().Add(5 * time.Minute)
	one, two := api.LoginToken(pagesPortalSecret, "customer", "ana", exp), api.LoginToken(pagesPortalSecret, "customer", "ana", exp)
	for _, tok := range []string{one, two} {
		if r := env.visitor(t).fromPortal("/login?token=" + url.QueryEscape(tok)); r.code != http.StatusSeeOther {
			t.Fatalf("a fresh link of the same second: %d", r.code)
		}
	}
}

// TestATokenWithoutNonceIsAcceptedOnce: the three-line token of docs/portal.md, without the
// optional nonce, signs in once, like any other; a malformed nonce is refused.
func TestATokenWithoutNonceIsAcceptedOnce(t *testing.T) {
	var ahead atomic.Int64
	env := startWebClocked(t, systemtestSQLite(t), true, nil, func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) })
	env.PutCustomer(t, "ana", "pt-PT")
	sign := func(payload string) string {
		m := hmac.New(sha256.New, []byte(pagesPortalSecret))
		m.Write([]byte(payload))
		return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	exp := strconv.FormatInt(time.Now().Add(5*time.Minute).Unix(), 10)
	plain := sign("customer\nana\n" + exp)
	if r := env.visitor(t).fromPortal("/login?token=" + url.QueryEscape(plain)); r.code != http.StatusSeeOther {
		t.Fatalf("a token without nonce: %d", r.code)
	}
	ahead.Store(int64(11 * time.Second))
	if r := env.visitor(t).fromPortal("/login?token=" + url.QueryEscape(plain)); r.code != http.StatusUnauthorized {
		t.Fatalf("the same token again elsewhere: %d", r.code)
	}
	for _, nonce := range []string{"", "has space", "x\ny", strings.Repeat("n", 65), "ç"} {
		if r := env.visitor(t).fromPortal("/login?token=" + url.QueryEscape(sign("customer\nana\n"+exp+"\n"+nonce))); r.code != http.StatusUnauthorized {
			t.Errorf("nonce %q: %d, want 401", nonce, r.code)
		}
	}
}

// TestAStaffSignInLinkSignsInOnce: a staff link, once its first use is past the few seconds of
// a double click, signs nobody else in.
func TestAStaffSignInLinkSignsInOnce(t *testing.T) {
	var ahead atomic.Int64
	env := startWebClocked(t, systemtestSQLite(t), true, nil, func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) })
	env.PutMember(t, "rita", false, map[string]string{"email": "agent"})
	link := strings.TrimPrefix(api.StaffLoginURL(env.Config.PublicURL, systemtest.StaffLinkSecret, "rita", 5*time.Minute), env.Config.PublicURL)

	// Opened (by a preview, a scanner, or Rita), the link signs nobody in and stays unused: its
	// page names whom it signs in and asks.
	for range 2 {
		scanner := env.visitor(t)
		r := scanner.get(link)
		if r.code != http.StatusOK || !strings.Contains(r.body, "consola de apoio em nome de Rita (rita)") || !strings.Contains(r.body, `name="link"`) ||
			!strings.Contains(r.body, "Cada revelação de password fica registada.") || strings.Contains(r.body, "as respostas por email não são aceites") ||
			strings.Contains(r.header.Get("Set-Cookie"), "assistd_staff=") {
			t.Fatalf("the link opened: %d, cookie %q; want its page and no session:\n%s", r.code, r.header.Get("Set-Cookie"), r.body)
		}
		if r := scanner.get("/staff"); r.code != http.StatusSeeOther {
			t.Fatalf("after opening the link, the console: %d, want the sign-in", r.code)
		}
	}
	// Its form posted without the page's cookie (another site's copy) is refused.
	page := env.visitor(t).get(link)
	token, _ := url.QueryUnescape(strings.TrimPrefix(link, "/staff/login?token="))
	if r := env.visitor(t).post("/staff/login", url.Values{"csrf": {csrfField.FindStringSubmatch(page.body)[1]}, "link": {token}}); r.code != http.StatusForbidden {
		t.Fatalf("the form without the page's cookie: %d, want 403", r.code)
	}
	rita := env.visitor(t)
	if r := rita.staffLink(link); r.code != http.StatusSeeOther || r.header.Get("Location") != "/staff" {
		t.Fatalf("first use: %d to %q", r.code, r.header.Get("Location"))
	}
	if r := rita.get("/staff"); r.code != http.StatusOK {
		t.Fatalf("signed in, the console: %d", r.code)
	}
	ahead.Store(int64(11 * time.Second))
	r := env.visitor(t).staffLink(link)
	if r.code != http.StatusUnauthorized || strings.Contains(r.header.Get("Set-Cookie"), "assistd_staff=") ||
		!strings.Contains(r.body, "Peça uma nova") {
		t.Fatalf("a later browser: %d, cookie %q:\n%s", r.code, r.header.Get("Set-Cookie"), r.body)
	}
	if r := rita.staffLink(link); r.code != http.StatusSeeOther || strings.Contains(r.header.Get("Set-Cookie"), "assistd_staff=") {
		t.Fatalf("the browser that used it, again: %d, cookie %q", r.code, r.header.Get("Set-Cookie"))
	}
}

// TestASignInLinkOpenedOutsideThePortalAsksFirst: a link the browser did not follow from the
// portal (opened from an email, fetched by a scanner, or sent to by another site to sign the
// visitor in to someone else's account) signs nobody in by itself. It shows whose client area it
// opens, and signs in at the press of a button, by a form no other site can post.
func TestASignInLinkOpenedOutsideThePortalAsksFirst(t *testing.T) {
	var ahead atomic.Int64 // how far the server's clock runs ahead
	env := startWebClocked(t, systemtestSQLite(t), true, nil, func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) })
	env.PutCustomer(t, "ana", "pt-PT")
	link := "/login?token=" + url.QueryEscape(api.LoginToken(pagesPortalSecret, "customer", "ana", time.Now().Add(5*time.Minute))) +
		"&next=" + url.QueryEscape("/tickets/new")
	// A scanner, another site, the portal's host over plain http, a look-alike host: each is
	// shown the page, and none of them is signed in or uses the link up.
	for name, referer := range map[string]string{
		"no Referer (an email, a scanner)":   "",
		"another site":                       "https://evil.example/portal",
		"the portal's host over plain http":  "http://portal.example.pt/",
		"a host ending like the portal's":    "https://notportal.example.pt/",
		"the portal's name inside a subhost": "https://portal.example.pt.evil.example/",
	} {
		v := env.visitor(t)
		r := v.getFrom(link, referer)
		if r.code != http.StatusOK || !strings.Contains(r.body, "Área de Cliente de Ana Silva") || !strings.Contains(r.body, `action="/login"`) ||
			strings.Contains(r.header.Get("Set-Cookie"), "assistd_session=") {
			t.Fatalf("%s: %d, cookie %q; want the page naming the account and no session:\n%s", name, r.code, r.header.Get("Set-Cookie"), r.body)
		}
		if r := v.get("/tickets"); r.code != http.StatusUnauthorized {
			t.Fatalf("%s: the visitor then sees the history: %d", name, r.code)
		}
	}

	// Another site's copy of the form comes without the page's cookie (SameSite): refused.
	csrfOf := func(body string) string {
		m := csrfField.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no CSRF token on the page:\n%s", body)
		}
		return m[1]
	}
	token, _ := url.QueryUnescape(strings.TrimSuffix(strings.TrimPrefix(link, "/login?token="), "&next="+url.QueryEscape("/tickets/new")))
	page := env.visitor(t).getFrom(link, "")
	forged := url.Values{"csrf": {csrfOf(page.body)}, "token": {token}, "next": {"/tickets"}}
	if r := env.visitor(t).post("/login", forged); r.code != http.StatusForbidden || strings.Contains(r.header.Get("Set-Cookie"), "assistd_session=") {
		t.Fatalf("the form posted without the page's cookie: %d, cookie %q; want 403", r.code, r.header.Get("Set-Cookie"))
	}
	ana := env.visitor(t)
	page = ana.getFrom(link, "")
	if r := ana.post("/login", url.Values{"csrf": {"wrong"}, "token": {token}}); r.code != http.StatusForbidden {
		t.Fatalf("the form with a wrong CSRF token: %d, want 403", r.code)
	}
	if r := ana.post("/login", url.Values{"csrf": {csrfOf(page.body)}, "token": {"not-a-token"}}); r.code != http.StatusUnauthorized {
		t.Fatalf("the form with a forged sign-in token: %d, want 401", r.code)
	}
	// The button: signed in, sent on to the page the link named (never to another site).
	r := ana.post("/login", url.Values{"csrf": {csrfOf(page.body)}, "token": {token}, "next": {"/tickets/new"}})
	if r.code != http.StatusSeeOther || r.header.Get("Location") != "/tickets/new" || !strings.Contains(r.header.Get("Set-Cookie"), "assistd_session=") {
		t.Fatalf("the button: %d to %q, cookie %q; want signed in and sent on", r.code, r.header.Get("Location"), r.header.Get("Set-Cookie"))
	}
	if r := ana.get("/tickets"); r.code != http.StatusOK {
		t.Fatalf("signed in with the button, the history: %d", r.code)
	}
	// Past the few seconds of a double click, the used link signs nobody else in, through the
	// page (which no longer names anyone), through its form, or from the portal.
	ahead.Store(int64(11 * time.Second))
	other := env.visitor(t)
	if r := other.getFrom(link, ""); r.code != http.StatusUnauthorized || !strings.Contains(r.body, "já foi utilizada") || strings.Contains(r.body, "Ana Silva") {
		t.Fatalf("the used link's page: %d; want 401 saying it was used, naming nobody:\n%s", r.code, r.body)
	}
	page = other.getFrom("/login?token="+url.QueryEscape(api.LoginToken(pagesPortalSecret, "customer", "ana", time.Now().Add(5*time.Minute))), "")
	if r := other.post("/login", url.Values{"csrf": {csrfOf(page.body)}, "token": {token}}); r.code != http.StatusUnauthorized ||
		!strings.Contains(r.body, "já foi utilizada") || strings.Contains(r.header.Get("Set-Cookie"), "assistd_session=") {
		t.Fatalf("the used link through the form: %d, cookie %q; want 401 saying it was used", r.code, r.header.Get("Set-Cookie"))
	}
	if r := env.visitor(t).getFrom(link, portalReferer); r.code != http.StatusUnauthorized {
		t.Fatalf("the used link from the portal: %d, want 401", r.code)
	}

	// The page speaks the customer's language.
	env.PutCustomer(t, "john", "en")
	johnLink := "/login?token=" + url.QueryEscape(api.LoginToken(pagesPortalSecret, "customer", "john", time.Now().Add(5*time.Minute)))
	if r := env.visitor(t).get(johnLink); r.code != http.StatusOK || !strings.Contains(r.body, "This link opens the client area of Ana Silva.") ||
		!strings.Contains(r.body, ">Continue</button>") {
		t.Fatalf("an English-speaking customer's link: %d\n%s", r.code, r.body)
	}

	// A form that names another site to go on to is sent to the history instead.
	fresh := api.LoginToken(pagesPortalSecret, "customer", "ana", time.Now().Add(5*time.Minute))
	rui := env.visitor(t)
	page = rui.getFrom("/login?token="+url.QueryEscape(fresh), "")
	if r := rui.post("/login", url.Values{"csrf": {csrfOf(page.body)}, "token": {fresh}, "next": {"https://evil.example/"}}); r.code != http.StatusSeeOther ||
		r.header.Get("Location") != "/tickets" {
		t.Fatalf("next naming another site: %d to %q; want /tickets", r.code, r.header.Get("Location"))
	}
}

// TestASignInLinkFollowedFromThePortalSignsInAtOnce: the portal's link, followed from one of the
// portal's pages (its Referer, origin or full address), signs in without a further click.
func TestASignInLinkFollowedFromThePortalSignsInAtOnce(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	for _, referer := range []string{"https://portal.example.pt/", "https://PORTAL.example.pt/clientarea/services?id=7"} {
		link := "/login?token=" + url.QueryEscape(api.LoginToken(pagesPortalSecret, "customer", "ana", time.Now().Add(5*time.Minute)))
		if r := env.visitor(t).getFrom(link, referer); r.code != http.StatusSeeOther || r.header.Get("Location") != "/tickets" || !strings.Contains(r.header.Get("Set-Cookie"), "assistd_session=") {
			t.Fatalf("from %s: %d to %q; want signed in at once", referer, r.code, r.header.Get("Location"))
		}
	}
}
