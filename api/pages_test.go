package api_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
	"github.com/assistd/assistd/tickets"
)

func TestSignInTakesOnlyAValidPortalTokenAndSetsAGuardedCookie(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	anon := env.visitor(t)

	if r := anon.get("/tickets"); r.code != http.StatusUnauthorized || !strings.Contains(r.body, "https://portal.example.pt/clientarea") {
		t.Fatalf("without a session: %d, want 401 with a link to the portal", r.code)
	}
	valid := api.LoginToken(pagesPortalSecret, "customer", "ana", time.Now().Add(time.Minute))
	for name, token := range map[string]string{
		"an expired token":             api.LoginToken(pagesPortalSecret, "customer", "ana", time.Now().Add(-time.Second)),
		"a token signed with another":  api.LoginToken("another secret", "customer", "ana", time.Now().Add(time.Minute)),
		"a staff token":                api.LoginToken(pagesPortalSecret, "staff", "ana", time.Now().Add(time.Minute)),
		"a token valid for a year":     api.LoginToken(pagesPortalSecret, "customer", "ana", time.Now().Add(365*24*time.Hour)),
		"a token with its id replaced": strings.Replace(valid, valid[:4], "Ym9i", 1),
		"garbage":                      "not-a-token",
		"nothing":                      "",
	} {
		if r := anon.fromPortal("/login?token=" + url.QueryEscape(token)); r.code != http.StatusUnauthorized || r.header.Get("Set-Cookie") != "" {
			t.Errorf("%s: %d, cookie %q; want 401 and no cookie", name, r.code, r.header.Get("Set-Cookie"))
		}
	}
	r := anon.fromPortal("/login?token=" + url.QueryEscape(valid) + "&next=" + url.QueryEscape("https://evil.example/"))
	if r.code != http.StatusSeeOther || r.header.Get("Location") != "/tickets" {
		t.Fatalf("valid token: %d to %q, want 303 to /tickets (never to another site)", r.code, r.header.Get("Location"))
	}
	cookie := r.header.Get("Set-Cookie")
	for _, want := range []string{"assistd_session=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("cookie %q is Secure on a plain-http public URL", cookie)
	}
	if r := anon.get("/tickets"); r.code != http.StatusOK || !strings.Contains(r.body, "Histórico dos Pedidos de Assistência") {
		t.Fatalf("signed in: %d", r.code)
	}

	secure := startWeb(t, true, func(c *api.Config) { c.PublicURL = "https://clientes.example.pt" })
	r = secure.visitor(t).fromPortal("/login?token=" + url.QueryEscape(valid))
	if !strings.Contains(r.header.Get("Set-Cookie"), "Secure") {
		t.Errorf("behind https the cookie %q is not Secure", r.header.Get("Set-Cookie"))
	}
	if hsts := r.header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
		t.Errorf("behind https the answer has Strict-Transport-Security %q, want browsers told to keep to https", hsts)
	}
	if hsts := anon.get("/tickets").header.Get("Strict-Transport-Security"); hsts != "" {
		t.Errorf("on a plain-http public URL the answer has Strict-Transport-Security %q", hsts)
	}
}

func TestATamperedSessionCookieIsNoSession(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	env.PutCustomer(t, "rui", "pt-PT")
	ana := env.customer(t, "ana")
	u, _ := url.Parse(env.Web.URL)
	c := ana.http.Jar.Cookies(u)[0]
	payload, sig, _ := strings.Cut(c.Value, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || !strings.Contains(string(raw), `"ana"`) {
		t.Fatalf("cookie payload %q: %v", raw, err)
	}
	forged := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"ana"`, `"rui"`, 1)))
	for _, value := range []string{forged + "." + sig, payload + ".x" + sig, payload} {
		v := env.visitor(t)
		v.http.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: value, Path: "/"}})
		if r := v.get("/tickets"); r.code != http.StatusUnauthorized {
			t.Errorf("cookie %q: %d, want 401", value, r.code)
		}
	}
}

// Signing out ends the session on the server too: a copy of the cookie, taken before, is refused
// afterwards, while another session of the same customer goes on.
func TestASignedOutSessionsCookieIsRefusedEvenCopied(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	u, _ := url.Parse(env.Web.URL)
	copyOf := func(from *visitor) *visitor {
		v := env.visitor(t)
		v.http.Jar.SetCookies(u, from.http.Jar.Cookies(u))
		return v
	}

	ana, otherDevice := env.customer(t, "ana"), env.customer(t, "ana")
	stolen := copyOf(ana)
	if r := stolen.get("/tickets"); r.code != http.StatusOK {
		t.Fatalf("the copied cookie before signing out: %d", r.code)
	}
	if r := ana.post("/logout", url.Values{"csrf": {ana.csrf("/tickets")}}); r.code != http.StatusOK {
		t.Fatalf("sign out: %d", r.code)
	}
	if r := stolen.get("/tickets"); r.code != http.StatusUnauthorized {
		t.Errorf("the copied cookie after signing out: %d, want 401", r.code)
	}
	if r := otherDevice.get("/tickets"); r.code != http.StatusOK {
		t.Errorf("another session of the same customer: %d, want 200", r.code)
	}

	joao := env.staff(t, "joao")
	stolenStaff := copyOf(joao)
	if r := joao.post("/staff/logout", url.Values{"csrf": {joao.csrf("/staff")}}); r.code != http.StatusOK {
		t.Fatalf("staff sign out: %d", r.code)
	}
	if r := stolenStaff.get("/staff"); r.code != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/staff/login") {
		t.Errorf("the copied staff cookie after signing out: %d %s, want a redirect to the sign-in", r.code, r.header.Get("Location"))
	}
}

// The portal signs a customer, or a member of staff, out everywhere: every session begun before
// is refused, on every device, while other people's sessions and a new sign-in go on.
func TestSigningOutEverywhereEndsEveryEarlierSessionOfThatPersonOnly(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	env.PutCustomer(t, "bruno", "pt-PT")
	phone, laptop, bruno := env.customer(t, "ana"), env.customer(t, "ana"), env.customer(t, "bruno")
	joao, maria := env.staff(t, "joao"), env.staff(t, "maria")

	var out struct {
		RevokedBefore time.Time `json:"revoked_before"`
	}
	if code := env.Do(t, "POST", "/api/v1/customers/ana/sessions/revoke", systemtest.APIToken, nil, &out); code != http.StatusOK || out.RevokedBefore.IsZero() {
		t.Fatalf("revoke ana's sessions: %d %+v", code, out)
	}
	for name, v := range map[string]*visitor{"phone": phone, "laptop": laptop} {
		if r := v.get("/tickets"); r.code != http.StatusUnauthorized {
			t.Errorf("ana's %s after signing out everywhere: %d, want 401", name, r.code)
		}
	}
	if r := bruno.get("/tickets"); r.code != http.StatusOK {
		t.Errorf("another customer's session: %d, want 200", r.code)
	}
	if r := env.customer(t, "ana").get("/tickets"); r.code != http.StatusOK {
		t.Errorf("ana signing in again: %d, want 200", r.code)
	}

	if code := env.Do(t, "POST", "/api/v1/staff/members/joao/sessions/revoke", systemtest.APIToken, nil, nil); code != http.StatusForbidden {
		t.Errorf("staff sessions revoked with the client-area token: %d, want 403", code)
	}
	if code := env.Do(t, "POST", "/api/v1/staff/members/joao/sessions/revoke", systemtest.StaffToken, nil, nil); code != http.StatusOK {
		t.Fatalf("revoke joao's sessions: %d", code)
	}
	if r := joao.get("/staff"); r.code != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/staff/login") {
		t.Errorf("joao after signing out everywhere: %d %s, want a redirect to the sign-in", r.code, r.header.Get("Location"))
	}
	if r := maria.get("/staff"); r.code != http.StatusOK {
		t.Errorf("another member of staff: %d, want 200", r.code)
	}
	var bad struct {
		Error struct {
			Code   string            `json:"code"`
			Fields map[string]string `json:"fields"`
		} `json:"error"`
	}
	if code := env.Do(t, "POST", "/api/v1/customers/%20bad/sessions/revoke", systemtest.APIToken, nil, &bad); code != http.StatusBadRequest || bad.Error.Fields["id"] == "" {
		t.Errorf("a malformed customer id: %d %+v, want 400 with the field", code, bad)
	}
}

// A session that cannot be checked is an outage, not a sign-out: the page says so, and the
// customer is not asked to sign in again.
func TestASessionThatCannotBeCheckedShowsAnErrorNotTheSignIn(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	ana, joao := env.customer(t, "ana"), env.staff(t, "joao")
	env.Store.Close()
	for name, r := range map[string]response{"customer": ana.get("/tickets"), "staff": joao.get("/staff")} {
		if r.code < 500 {
			t.Errorf("%s page with the database closed: %d, want a server error", name, r.code)
		}
	}
}

func TestFormsAreRefusedWithoutTheSessionsCSRFToken(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	env.PutCustomer(t, "rui", "pt-PT")
	ana, rui := env.customer(t, "ana"), env.customer(t, "rui")
	form := url.Values{"message": {"Olá"}, "domain": {"none"}}
	for name, token := range map[string]string{"no token": "", "another session's token": rui.csrf("/tickets/new?subject_id=billing-invoice"), "a made-up token": "abc"} {
		f := url.Values{"csrf": {token}}
		for k, v := range form {
			f[k] = v
		}
		if r := ana.post("/tickets/new", f); r.code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, r.code)
		}
	}
	if _, total, _ := env.Store.History(context.Background(), storage.HistoryQuery{CustomerID: "ana", Page: 1, PerPage: 10}); total != 0 {
		t.Fatalf("%d tickets created by refused forms", total)
	}
	number := ana.newTicket("billing-invoice", url.Values{"message": {"Fatura em duplicado"}, "domain": {"none"}})
	for _, path := range []string{"/tickets/" + number + "/reply", "/tickets/" + number + "/close", "/logout"} {
		if r := ana.post(path, url.Values{"message": {"x"}}); r.code != http.StatusForbidden {
			t.Errorf("POST %s without a token: %d, want 403", path, r.code)
		}
	}
	staff := env.staff(t, "joao")
	if r := staff.post("/staff/tickets/"+number+"/answer", url.Values{"message": {"x"}, "csrf": {ana.csrf("/tickets")}}); r.code != http.StatusForbidden {
		t.Errorf("a staff form with a customer's token: %d, want 403", r.code)
	}
	link := api.LoginToken(systemtest.StaffLinkSecret, "staff", "joao", time.Now().Add(time.Minute))
	if r := env.visitor(t).post("/staff/login", url.Values{"link": {link}}); r.code != http.StatusForbidden {
		t.Errorf("the staff sign-in form without its token: %d, want 403", r.code)
	}
}

func TestACustomerNeverSeesAnotherCustomersRequest(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	env.PutCustomer(t, "rui", "pt-PT")
	ana, rui := env.customer(t, "ana"), env.customer(t, "rui")
	number := ana.newTicket("billing-invoice", url.Values{"message": {"A fatura de março veio em duplicado"}, "domain": {"example.pt"}})
	token := rui.csrf("/tickets")
	for _, check := range []struct{ method, path string }{
		{"GET", "/tickets/" + number}, {"GET", "/tickets/" + number + "/confirmation"},
		{"POST", "/tickets/" + number + "/reply"}, {"POST", "/tickets/" + number + "/close"},
	} {
		var r, missing response
		if check.method == "GET" {
			r, missing = rui.get(check.path), rui.get(strings.ReplaceAll(check.path, number, "00000000"))
		} else {
			form := url.Values{"csrf": {token}, "message": {"intruso"}}
			r, missing = rui.post(check.path, form), rui.post(strings.ReplaceAll(check.path, number, "00000000"), form)
		}
		if r.code != http.StatusNotFound || strings.ReplaceAll(r.body, number, "00000000") != missing.body {
			t.Errorf("%s %s as another customer: %d, want the same 404 as a missing ticket", check.method, check.path, r.code)
		}
	}
	if h := rui.get("/tickets").body; strings.Contains(h, number) {
		t.Errorf("another customer's history lists #%s", number)
	}
	if r := rui.get("/tickets/new?subject_id=billing-invoice&related_ticket=" + number); r.code != http.StatusOK {
		t.Fatalf("form: %d", r.code)
	}
	page := rui.get("/tickets/new?subject_id=billing-invoice").body
	r := rui.post("/tickets/new", url.Values{"csrf": {token}, "subject_id": {"billing-invoice"}, "idempotency_key": {idempotencyField.FindStringSubmatch(page)[1]},
		"message": {"Referente"}, "domain": {"none"}, "related_ticket": {number}})
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="f-related_ticket-error"`) {
		t.Errorf("referring to another customer's ticket: %d, want 422 with an error on related_ticket", r.code)
	}
	msgs, _ := env.Store.Messages(context.Background(), pageTicket(t, env, number).ID)
	if len(msgs) != 1 {
		t.Errorf("the ticket has %d messages after another customer's attempts, want 1", len(msgs))
	}
}

func pageTicket(t *testing.T, env *webEnv, number string) storage.Ticket {
	t.Helper()
	tk, err := env.Store.TicketByNumber(context.Background(), storage.ReachAll(), number)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestTheFormShowsErrorsBesideTheFieldsKeepsTheInputAndNeverTheVisiblePassword(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	ana := env.customer(t, "ana")
	const password = "S3gredo-do-Formulário"
	page := ana.get("/tickets/new?subject_id=email-account-setup").body
	checkPage(t, "request form", page)
	for _, want := range []string{"ana@example.pt", "O produto não está associado a um domínio", "example.pt", "loja-exemplo.com",
		"72 horas", "***PASSWORD OBFUSCATED***", `name="message"`, `name="password"`, `name="domain"`, `name="related_ticket"`, `data-testid="send"`, "Enviar Pedido"} {
		if !strings.Contains(page, want) {
			t.Errorf("the form lacks %q", want)
		}
	}
	form := url.Values{"csrf": {ana.csrf("/tickets")}, "subject_id": {"email-account-setup"}, "idempotency_key": {"k1"}, "message": {"   "}, "domain": {"outro.pt"}, "password": {password},
		"related_ticket": {"99999999"}}
	r := ana.post("/tickets/new", form)
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("invalid form: %d, want 422", r.code)
	}
	checkPage(t, "request form with errors", r.body)
	for field, want := range map[string]string{
		"message":        "a mensagem não pode ficar vazia",
		"domain":         "Escolha um dos seus domínios",
		"related_ticket": "Não encontrámos esse número",
	} {
		re := regexp.MustCompile(`(?s)<p class="field-error" id="f-` + field + `-error">([^<]*)</p>\s*<(input|select|textarea)[^>]*id="f-` + field + `"[^>]*aria-invalid="true"`)
		m := re.FindStringSubmatch(r.body)
		if m == nil || !strings.Contains(m[1], want) {
			t.Errorf("no error %q right before the %s field", want, field)
		}
	}
	if strings.Contains(r.body, password) {
		t.Fatal("the password was sent back into the page")
	}
	if !strings.Contains(r.body, `id="f-password-again"`) {
		t.Error("the page does not say that the password must be typed again")
	}
	if !strings.Contains(r.body, `value="99999999"`) || !strings.Contains(r.body, `id="error-summary"`) {
		t.Error("the related ticket was not kept, or there is no error summary")
	}

	form.Set("message", "Linha 1\nLinha <b>2</b>")
	form.Set("domain", "")
	form.Del("related_ticket")
	r = ana.post("/tickets/new", form)
	if !strings.Contains(r.body, "Linha 1\nLinha &lt;b&gt;2&lt;/b&gt;</textarea>") || !strings.Contains(r.body, `id="f-domain-error"`) {
		t.Errorf("the message was not kept escaped, or no domain was required:\n%s", r.body)
	}
	if _, total, _ := env.Store.History(context.Background(), storage.HistoryQuery{CustomerID: "ana", Page: 1, PerPage: 10}); total != 0 {
		t.Fatalf("%d tickets created by invalid forms", total)
	}
	if strings.Contains(env.Log.String(), password) {
		t.Fatal("the password is in the logs")
	}
}

func TestASentFormCreatesOneTicketEvenWhenSentTwice(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	ana := env.customer(t, "ana")
	form := url.Values{"csrf": {ana.csrf("/tickets")}, "subject_id": {"email-account-setup"}, "idempotency_key": {"same-form"}, "message": {"Não recebo emails"}, "domain": {"example.pt"}, "password": {"x1"}}
	first := ana.post("/tickets/new", form)
	second := ana.post("/tickets/new", form)
	if first.code != http.StatusSeeOther || first.header.Get("Location") != second.header.Get("Location") {
		t.Fatalf("first %d %s, second %d %s; want the same confirmation", first.code, first.header.Get("Location"), second.code, second.header.Get("Location"))
	}
	conf := ana.get(first.header.Get("Location"))
	checkPage(t, "confirmation", conf.body)
	number := strings.Split(first.header.Get("Location"), "/")[2]
	for _, want := range []string{`data-testid="ticket-number">#` + number, "ana@example.pt", "cópia", `href="/tickets/` + number + `"`, `href="/tickets"`} {
		if !strings.Contains(conf.body, want) {
			t.Errorf("the confirmation lacks %q", want)
		}
	}
	tk := pageTicket(t, env, number)
	if tk.Domain == nil || *tk.Domain != "example.pt" || tk.PasswordExpiresAt == nil {
		t.Errorf("ticket stored as %+v", tk)
	}
}

func TestMessagesAreShownAsTextNeverAsMarkupOrLinks(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	ana := env.customer(t, "ana")
	evil := `<script>alert("x")</script> https://evil.example/phish <a href="https://evil.example">clique</a>`
	number := ana.newTicket("billing-invoice", url.Values{"message": {evil}, "domain": {"none"}})
	for name, page := range map[string]string{"customer": ana.get("/tickets/" + number).body, "staff": env.staff(t, "joao").get("/staff/tickets/" + number).body} {
		if strings.Contains(page, "<script>alert") || strings.Contains(page, `href="https://evil.example`) {
			t.Errorf("%s page renders the message as markup", name)
		}
		if !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
			t.Errorf("%s page does not show the message as text", name)
		}
	}
}

func TestTheHistoryFiltersByStatusPagesAndExplainsEveryStatus(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	ana := env.customer(t, "ana")
	var numbers []string
	for i := 0; i < 22; i++ {
		numbers = append(numbers, ana.newTicket("billing-invoice", url.Values{"message": {"Pedido"}, "domain": {"none"}}))
	}
	if _, err := env.Server.CustomerClose(context.Background(), "ana", numbers[0]); err != nil {
		t.Fatal(err)
	}
	first := ana.get("/tickets")
	checkPage(t, "history", first.body)
	if n := strings.Count(first.body, `data-testid="ticket-number"`); n != 20 {
		t.Errorf("first page lists %d tickets, want 20", n)
	}
	for _, want := range []string{`href="/tickets?page=2"`, "Página 1 de 2", "Tabela de Estados", "Em Tratamento", "Resposta do Cliente", "Em Espera",
		"já não pode ser respondido", "Ver / Responder", `href="/tickets/new"`} {
		if !strings.Contains(first.body, want) {
			t.Errorf("history lacks %q", want)
		}
	}
	if second := ana.get("/tickets?page=2").body; strings.Count(second, `data-testid="ticket-number"`) != 2 {
		t.Errorf("second page lists %d tickets, want 2", strings.Count(second, `data-testid="ticket-number"`))
	}
	closed := ana.get("/tickets?status=closed").body
	if strings.Count(closed, `data-testid="ticket-number"`) != 1 || !strings.Contains(closed, "#"+numbers[0]) || !strings.Contains(closed, `<option value="closed" selected>`) {
		t.Errorf("filtering by closed does not list only #%s", numbers[0])
	}
}

func TestPagesFollowTheCustomersLanguageAndTheSwitch(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "rui", "en")
	rui := env.customer(t, "rui")
	r := rui.get("/tickets")
	if !strings.Contains(r.body, `<html lang="en">`) || !strings.Contains(r.body, "Support request history") || !strings.Contains(r.body, `href="/tickets?lang=pt-PT"`) {
		t.Fatalf("an English customer's history is not in English")
	}
	if r := rui.get("/tickets/new?lang=pt-PT"); !strings.Contains(r.body, `<html lang="pt-PT">`) || !strings.Contains(r.body, "Criar Pedido de Assistência") {
		t.Fatal("?lang=pt-PT does not switch to Portuguese")
	}
	if r := rui.get("/tickets"); !strings.Contains(r.body, `<html lang="pt-PT">`) {
		t.Fatal("the language switch is not remembered")
	}
}

func TestSubjectSearchWorksWithoutJavaScriptAndKeepsTheReference(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	ana := env.customer(t, "ana")
	r := ana.get("/tickets/new?q=configuracao+email&related_ticket=12345678")
	checkPage(t, "subjects", r.body)
	list := regexp.MustCompile(`(?s)<ul class="subjects"[^>]*data-testid="subject-list">(.*?)</ul>`).FindStringSubmatch(r.body)
	if list == nil {
		t.Fatal("no subject list")
	}
	visible := regexp.MustCompile(`<li data-search="[^"]*"><a href="([^"]+)">([^<]+)</a>`).FindAllStringSubmatch(list[1], -1)
	if len(visible) == 0 || visible[0][2] != "Configuração Conta de Email" || visible[0][1] != "/tickets/new?subject_id=email-account-setup&amp;related_ticket=12345678" {
		t.Fatalf("visible subjects %v; want Configuração Conta de Email first, keeping the reference", visible)
	}
	for _, want := range []string{`name="q"`, `value="configuracao email"`, "https://portal.example.pt/clientarea", "Regressar à Gestão", "#12345678"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("subjects page lacks %q", want)
		}
	}
	form := ana.get("/tickets/new?subject_id=email-account-setup&related_ticket=12345678").body
	if !strings.Contains(form, `name="related_ticket" inputmode="numeric" autocomplete="off" maxlength="20" value="12345678"`) {
		t.Error("the form does not carry the reference")
	}
	// A search longer than 200 bytes is cut to them, between characters: 199 bytes of "a" then
	// "ç" would cut the "ç" in two.
	long := strings.Repeat("a", 199) + strings.Repeat("ç", 10)
	page := ana.get("/tickets/new?q=" + url.QueryEscape(long)).body
	if !utf8.ValidString(page) || !strings.Contains(page, `value="`+strings.Repeat("a", 199)+`"`) {
		t.Error("a long search is not kept as its first 199 bytes of whole characters")
	}
}

func TestStaffRevealThePasswordByAnAuditedPostOnAPageThatIsNeverCached(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	ana := env.customer(t, "ana")
	const password = "p@ss<word>&\"quoted\""
	number := ana.newTicket("hosting-cpanel", url.Values{"message": {"Não entro no cPanel"}, "domain": {"loja-exemplo.com"}, "password": {password}})
	if page := ana.get("/tickets/" + number).body; strings.Contains(page, "p@ss") || !strings.Contains(page, "Fornecida") {
		t.Fatal("the customer's page shows the password, or not that it was provided")
	}

	staffPage := "/staff/tickets/" + number
	if r := env.visitor(t).get(staffPage); r.code != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/staff/login") {
		t.Fatalf("the console without a session: %d %s", r.code, r.header.Get("Location"))
	}
	// The sign-in page takes no shared token and no name: a member signs in with their own link.
	loginForm := env.visitor(t).get("/staff/login")
	checkPage(t, "staff sign-in", loginForm.body)
	if strings.Contains(loginForm.body, `name="token"`) || strings.Contains(loginForm.body, `name="name"`) {
		t.Fatal("the staff sign-in page still offers the shared-token form")
	}
	joao := env.staff(t, "joao")
	page := joao.get(staffPage)
	checkPage(t, "staff ticket", page.body)
	if strings.Contains(page.body, "p@ss") || !strings.Contains(page.body, `data-testid="reveal-password"`) || !strings.Contains(page.body, "destruída dentro de 71 h") {
		t.Fatalf("before the reveal the page shows the password, or no reveal button with the time left:\n%s", page.body)
	}
	// A GET of the reveal's address (a link preview, a scanner, Enter in the address bar) reveals
	// nothing: it is sent back to the ticket's page.
	if r := joao.get(staffPage + "/password/reveal"); r.code != http.StatusSeeOther || r.header.Get("Location") != staffPage || strings.Contains(r.body, "p@ss") {
		t.Errorf("GET of the reveal: %d to %q, want 303 to the ticket's page", r.code, r.header.Get("Location"))
	}
	r := joao.post(staffPage+"/password/reveal", url.Values{"csrf": {joao.csrf(staffPage)}, "reason": {"O cliente pediu ajuda com o cPanel"}})
	if r.code != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("reveal: %d, Cache-Control %q", r.code, r.header.Get("Cache-Control"))
	}
	checkPage(t, "revealed password", r.body)
	if !strings.Contains(r.body, `value="p@ss&lt;word&gt;&amp;&#34;quoted&#34;"`) {
		t.Errorf("the revealed page does not show the password exactly")
	}
	reveals, _ := env.Store.Reveals(context.Background(), pageTicket(t, env, number).ID)
	if len(reveals) != 1 || reveals[0].Staff != "joao" || reveals[0].Outcome != storage.RevealGranted || reveals[0].MemberID == nil || *reveals[0].MemberID != "joao" ||
		reveals[0].Via == nil || *reveals[0].Via != storage.ViaLink || reveals[0].Reason == nil || *reveals[0].Reason != "O cliente pediu ajuda com o cPanel" || reveals[0].Legacy {
		t.Fatalf("audit %+v, want one reveal by joao, signed in with a link, with the reason", reveals)
	}
	// The customer's page says when the password was viewed, never by whom.
	if customerPage := ana.get("/tickets/" + number).body; !strings.Contains(customerPage, `data-testid="password-views"`) || strings.Contains(customerPage, "Joao") ||
		strings.Contains(customerPage, "joao") || strings.Contains(customerPage, "cPanel\"") {
		t.Error("the customer's page does not list the view, or names who viewed it")
	}
	if strings.Contains(joao.get(staffPage).body, "p@ss") {
		t.Fatal("the ticket page shows the password after the reveal")
	}
	if strings.Contains(env.Log.String(), "p@ss") {
		t.Fatal("the password is in the logs")
	}

	if _, err := env.Store.PurgePassword(context.Background(), pageTicket(t, env, number).ID, time.Now().Add(73*time.Hour)); err != nil {
		t.Fatal(err)
	}
	r = joao.post(staffPage+"/password/reveal", url.Values{"csrf": {joao.csrf(staffPage)}})
	if r.code != http.StatusGone || !strings.Contains(r.body, "***PASSWORD OBFUSCATED***") || strings.Contains(r.body, "p@ss") {
		t.Fatalf("reveal after expiry: %d", r.code)
	}
	if !strings.Contains(ana.get("/tickets/"+number).body, "***PASSWORD OBFUSCATED***") {
		t.Error("the customer's page does not show the obfuscated marker after expiry")
	}
}

func TestStaffAnswerAndCustomerCloseThroughThePages(t *testing.T) {
	env := startWeb(t, false, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	ana := env.customer(t, "ana")
	number := ana.newTicket("billing-invoice", url.Values{"message": {"Fatura"}, "domain": {"none"}})
	env.waitForMail(t, 2)

	joao := env.staff(t, "joao")
	index := joao.get("/staff")
	checkPage(t, "staff queues", index.body)
	queue := joao.get("/staff/departments/" + pageTicket(t, env, number).DepartmentID)
	checkPage(t, "staff queue", queue.body)
	if !strings.Contains(queue.body, "#"+number) {
		t.Fatalf("the queue does not list #%s", number)
	}
	staffPage := "/staff/tickets/" + number
	if r := joao.post(staffPage+"/answer", url.Values{"csrf": {joao.csrf(staffPage)}, "message": {"  "}, "status": {"answered"}}); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="answer-error"`) {
		t.Fatalf("an empty answer: %d", r.code)
	}
	if r := joao.post(staffPage+"/answer", url.Values{"csrf": {joao.csrf(staffPage)}, "message": {"Já corrigimos a fatura."}, "status": {"answered"}}); r.code != http.StatusSeeOther {
		t.Fatalf("answer: %d %s", r.code, r.body)
	}
	env.waitForMail(t, 3)
	page := joao.get(staffPage + "?done=answer").body
	for _, want := range []string{"A resposta foi enviada", "Já corrigimos a fatura.", "joao", "Histórico de estados", "Respondido"} {
		if !strings.Contains(page, want) {
			t.Errorf("the staff page lacks %q after the answer", want)
		}
	}
	mine := ana.get("/tickets/" + number).body
	if !strings.Contains(mine, `data-testid="status">Respondido`) || !strings.Contains(mine, "Já corrigimos a fatura.") || strings.Contains(mine, "joao") {
		t.Fatalf("the customer's page after the answer (it must not name the member of staff):\n%s", mine)
	}
	if r := ana.post("/tickets/"+number+"/close", url.Values{"csrf": {ana.csrf("/tickets")}}); r.code != http.StatusSeeOther {
		t.Fatalf("close: %d", r.code)
	}
	closed := ana.get("/tickets/" + number).body
	checkPage(t, "closed ticket", closed)
	if strings.Contains(closed, `data-testid="reply"`) || !strings.Contains(closed, `href="/tickets/new?related_ticket=`+number+`"`) {
		t.Fatal("a closed ticket still has the reply form, or no way to a new request referring to it")
	}
	if r := ana.post("/tickets/"+number+"/reply", url.Values{"csrf": {ana.csrf("/tickets")}, "message": {"mais uma coisa"}}); r.code != http.StatusConflict {
		t.Fatalf("a reply to a closed ticket: %d, want 409", r.code)
	}
}

func TestTheDemoSignsInEveryVisitorAsTheDemoCustomer(t *testing.T) {
	env := startWeb(t, true, func(c *api.Config) { c.DemoCustomer = "demo" })
	env.PutCustomer(t, "demo", "pt-PT")
	v := env.visitor(t)
	if r := v.get("/tickets"); r.code != http.StatusOK || !strings.Contains(r.body, "Ana Silva") {
		t.Fatalf("demo visitor: %d", r.code)
	}
	v.newTicket("billing-invoice", url.Values{"message": {"Demo"}, "domain": {"none"}})
}

func TestEveryCSSColourPairHasContrastOfAtLeast4Point5(t *testing.T) {
	css, err := os.ReadFile("static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	rule := regexp.MustCompile(`([^{}]+)\{([^}]*)\}`)
	colour := regexp.MustCompile(`(?:^|;)\s*color:\s*(#[0-9a-fA-F]{3,6})`)
	background := regexp.MustCompile(`background(?:-color)?:\s*(#[0-9a-fA-F]{3,6})`)
	pageBackground, topBackground := "#ffffff", "#0b4f8a"
	checked := 0
	for _, m := range rule.FindAllStringSubmatch(string(css), -1) {
		selector, decls := strings.TrimSpace(m[1]), m[2]
		fg := colour.FindStringSubmatch(decls)
		if fg == nil {
			continue
		}
		bg := pageBackground
		if strings.HasPrefix(selector, ".top ") {
			bg = topBackground // text inside the header bar
		}
		if b := background.FindStringSubmatch(decls); b != nil {
			bg = b[1]
		}
		checked++
		if c := contrast(fg[1], bg); c < 4.5 {
			t.Errorf("%s: %s on %s has contrast %.2f, want at least 4.5", selector, fg[1], bg, c)
		}
	}
	// Text set on a panel background elsewhere.
	for _, pair := range [][2]string{{"#4a4a4a", "#f4f6f8"}, {"#0b4f8a", "#f4f6f8"}, {"#b00020", "#ffffff"}, {"#ffffff", "#083a66"}, {"#4a3300", "#fff4d6"}, {"#1b5e20", "#e6f4ea"}, {"#0b4f8a", "#e6f4ea"}} {
		if c := contrast(pair[0], pair[1]); c < 4.5 {
			t.Errorf("%s on %s has contrast %.2f", pair[0], pair[1], c)
		}
	}
	if checked < 20 {
		t.Fatalf("only %d rules checked; did the stylesheet's format change?", checked)
	}
}

func TestEveryPagePassesTheStructureCheck(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	ana := env.customer(t, "ana")
	number := ana.newTicket("hosting-cpanel", url.Values{"message": {"Olá"}, "domain": {"example.pt"}, "password": {"x"}})
	joao := env.staff(t, "joao")
	for name, page := range map[string]string{
		"history":           ana.get("/tickets").body,
		"history (empty)":   ana.get("/tickets?status=on_hold").body,
		"subjects":          ana.get("/tickets/new").body,
		"subjects (none)":   ana.get("/tickets/new?q=zzzz").body,
		"ticket":            ana.get("/tickets/" + number).body,
		"ticket in English": ana.get("/tickets/" + number + "?lang=en").body,
		"not found":         ana.get("/tickets/00000000").body,
		"signed out":        env.visitor(t).get("/tickets").body,
		"staff queues":      joao.get("/staff").body,
		"staff ticket":      joao.get("/staff/tickets/" + number).body,
	} {
		checkPage(t, name, page)
	}
}

func TestThePageCheckFindsWhatItLooksFor(t *testing.T) {
	broken := `<!DOCTYPE html><html><head><title>x</title></head><body>
<h1>a</h1><h1>b</h1><p><div>block in p</div></p>
<img src="x.png"><a href="/y"></a><button></button>
<input name="q"><label for="nowhere">L</label><span id="d"></span><span id="d"></span>
<ul><div>not an item</div></ul><em class="a" class="b">x</em><section></div></body></html>`
	problems := strings.Join(pageProblems(broken), "\n")
	for _, want := range []string{"no lang", "2 h1", "inside a <p>", "has no alt", "has no text", "button has no text", `name="q"> has no label`,
		`missing id "nowhere"`, `id "d" is used 2 times`, "<div> directly inside <ul>", `repeats attribute "class"`, "</div> does not close"} {
		if !strings.Contains(problems, want) {
			t.Errorf("the check misses %q; it found:\n%s", want, problems)
		}
	}
}

func TestStaffQueuePagesThroughAFullDepartment(t *testing.T) {
	env := startWeb(t, false, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	ctx := context.Background()
	const n = 105
	var number string
	for i := range n {
		c, err := env.Store.CreateTicket(ctx, storage.NewTicket{CustomerID: "ana", SubjectID: "billing-invoice",
			Message: "pedido " + strconv.Itoa(i), CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := env.Store.RecordTicketProcessed(ctx, c.TicketID, nil, nil); err != nil {
			t.Fatal(err)
		}
		number = c.Number
	}
	joao := env.staff(t, "joao")
	rowNumber := regexp.MustCompile(`data-testid="ticket-number">#([0-9]+)<`)
	seen, pages := walkPages(t, joao, "/staff/departments/"+pageTicket(t, env, number).DepartmentID, "queue")
	if pages != 2 {
		t.Errorf("%d pages for %d tickets, want 2", pages, n)
	}
	if len(seen) != n {
		t.Fatalf("the pages list %d tickets, want %d", len(seen), n)
	}
	// A cursor that does not parse shows the first page, not an error.
	if r := joao.get("/staff/departments/" + pageTicket(t, env, number).DepartmentID + "?after=nonsense"); r.code != http.StatusOK || len(rowNumber.FindAllString(r.body, -1)) != 100 {
		t.Errorf("a bad cursor: %d", r.code)
	}
}

// walkPages follows a console list's "next" links from its first page (links marked
// data-testid="{kind}-next", and back to the first "{kind}-first"), checking every page, and
// returns the ticket numbers listed, each once, and how many pages there were.
func walkPages(t *testing.T, v *visitor, first, kind string) (map[string]bool, int) {
	t.Helper()
	nextLink := regexp.MustCompile(`href="([^"]+)" rel="next" data-testid="` + kind + `-next"`)
	rowNumber := regexp.MustCompile(`data-testid="ticket-number">#([0-9]+)<`)
	seen := map[string]bool{}
	page := v.get(first)
	for pages := 1; ; pages++ {
		checkPage(t, kind+" page", page.body)
		for _, m := range rowNumber.FindAllStringSubmatch(page.body, -1) {
			if seen[m[1]] {
				t.Fatalf("#%s is listed on two pages", m[1])
			}
			seen[m[1]] = true
		}
		if pages > 1 && !strings.Contains(page.body, `data-testid="`+kind+`-first"`) {
			t.Errorf("page %d has no link back to the first", pages)
		}
		m := nextLink.FindStringSubmatch(page.body)
		if m == nil {
			return seen, pages
		}
		if pages == 100 {
			t.Fatal("a hundred pages and still a next one")
		}
		page = v.get(html.UnescapeString(m[1]))
	}
}

// The client area offers "sign out on all devices" itself: a POST with the session's CSRF token
// that cuts off every session the customer began before, the current one included, through the
// same storage call as the portal's API; other customers and a new sign-in go on.
func TestACustomerSignsOutOnAllDevicesFromTheClientArea(t *testing.T) {
	for _, tc := range []struct {
		lang, button, heading, text string
	}{
		{"pt-PT", "Terminar sessão em todos os dispositivos", "Sessão terminada em todos os dispositivos", "Terminou a sessão dos Pedidos de Assistência em todos os dispositivos"},
		{"en", "Sign out on all devices", "Signed out on all devices", "You signed out of Support requests on every device"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			env := startWeb(t, true, nil)
			env.PutCustomer(t, "ana", tc.lang)
			env.PutCustomer(t, "bruno", tc.lang)
			u, _ := url.Parse(env.Web.URL)
			here, phone, bruno := env.customer(t, "ana"), env.customer(t, "ana"), env.customer(t, "bruno")
			copied := env.visitor(t)
			copied.http.Jar.SetCookies(u, here.http.Jar.Cookies(u))

			page := here.get("/tickets").body
			checkPage(t, "history with the sign-out forms", page)
			form := regexp.MustCompile(`(?s)<form method="post" action="/logout"[^>]*>.*?</form>`).FindString(page)
			if !strings.Contains(form, `name="csrf"`) || !strings.Contains(form, `formaction="/logout/everywhere"`) || !strings.Contains(form, tc.button) {
				t.Fatalf("the header offers no %q form with a CSRF token:\n%s", tc.button, form)
			}
			if r := here.get("/logout/everywhere"); r.code != http.StatusNotFound {
				t.Errorf("GET /logout/everywhere: %d, want 404 (only a POST signs out)", r.code)
			}
			for name, token := range map[string]string{"no token": "", "another customer's token": bruno.csrf("/tickets")} {
				if r := here.post("/logout/everywhere", url.Values{"csrf": {token}}); r.code != http.StatusForbidden {
					t.Errorf("%s: %d, want 403", name, r.code)
				}
			}
			if r := phone.get("/tickets"); r.code != http.StatusOK {
				t.Fatalf("the other device after refused forms: %d, want 200", r.code)
			}

			r := here.post("/logout/everywhere", url.Values{"csrf": {here.csrf("/tickets")}})
			if r.code != http.StatusOK {
				t.Fatalf("sign out on all devices: %d\n%s", r.code, r.body)
			}
			checkPage(t, "signed out on all devices", r.body)
			for _, want := range []string{`<html lang="` + tc.lang + `">`, tc.heading, tc.text, "https://portal.example.pt/clientarea"} {
				if !strings.Contains(r.body, want) {
					t.Errorf("the answer lacks %q", want)
				}
			}
			if strings.Contains(r.body, `action="/logout"`) {
				t.Error("the answer still shows the customer as signed in")
			}
			if c := r.header.Get("Set-Cookie"); !strings.Contains(c, "assistd_session=;") || !strings.Contains(c, "Max-Age=0") {
				t.Errorf("the session cookie is not cleared: %q", c)
			}
			for name, v := range map[string]*visitor{"this browser": here, "a copy of its cookie": copied, "the other device": phone} {
				if r := v.get("/tickets"); r.code != http.StatusUnauthorized {
					t.Errorf("%s afterwards: %d, want 401", name, r.code)
				}
			}
			if revoked, err := env.Store.SessionRevoked(context.Background(), "none", "customer", "ana", time.Now().Add(-time.Second)); err != nil || !revoked {
				t.Errorf("no cut-off recorded for ana's sessions: %v %v", revoked, err)
			}
			if r := bruno.get("/tickets"); r.code != http.StatusOK {
				t.Errorf("another customer's session: %d, want 200", r.code)
			}
			if r := env.customer(t, "ana").get("/tickets"); r.code != http.StatusOK {
				t.Errorf("signing in again: %d, want 200", r.code)
			}
			if !strings.Contains(env.Log.String(), "sessions revoked") {
				t.Error("signing out on all devices is not logged")
			}
		})
	}
}

// Under SameSite=Lax a form another site posts to /logout arrives without the session cookie:
// it must not clear the cookie either, or any site could sign the customer out.
func TestASignOutPostedWithoutTheSessionCookieLeavesTheCookieAlone(t *testing.T) {
	env := startWeb(t, true, nil)
	for _, path := range []string{"/logout", "/logout/everywhere"} {
		r := env.visitor(t).post(path, url.Values{})
		if c := r.header.Get("Set-Cookie"); strings.Contains(c, "assistd_session") {
			t.Errorf("POST %s without a session cookie: %d sets %q", path, r.code, c)
		}
	}
}

// A history page past the last one (an old link, or tickets that left a status filter) is not
// "you have no requests": the customer is sent to the last page that has some.
func TestAHistoryPagePastTheLastOneLeadsToTheLastPageNotToAnEmptyHistory(t *testing.T) {
	_, ana, number := anaWithATicket(t)
	for path, want := range map[string]string{
		"/tickets?page=3":             "/tickets",
		"/tickets?status=open&page=9": "/tickets?status=open",
	} {
		r := ana.get(path)
		if r.code != http.StatusSeeOther || r.header.Get("Location") != want {
			t.Errorf("%s: %d to %q, want 303 to %s", path, r.code, r.header.Get("Location"), want)
			continue
		}
		if page := ana.get(r.header.Get("Location")).body; !strings.Contains(page, "#"+number) || strings.Contains(page, "Ainda não enviou") {
			t.Errorf("%s leads to a page without #%s", path, number)
		}
	}
	r := ana.get("/tickets?status=closed&page=2")
	if r.code != http.StatusSeeOther || r.header.Get("Location") != "/tickets?status=closed" {
		t.Fatalf("an empty filter past its first page: %d to %q, want 303 to its first page", r.code, r.header.Get("Location"))
	}
	if page := ana.get("/tickets?status=closed").body; !strings.Contains(page, "Não tem pedidos neste estado.") {
		t.Error("an empty filter does not say that no request has that status")
	}
}

// The demo's mail page is a page like the others (not framed, not cached, no script), and its
// form, which drops a reply into the support mailbox, takes no post from another site.
func TestTheDemoMailPageIsGuardedLikeThePages(t *testing.T) {
	env := startWeb(t, true, nil)
	var appended atomic.Int32
	env.Server.MountDemo(api.DemoMailbox{
		SupportAddr: "suporte@example.pt",
		AppendReply: func([]byte) error { appended.Add(1); return nil },
		Mails: func() []api.DemoMail {
			return []api.DemoMail{{From: "suporte@example.pt", To: []string{"ana@example.pt"}, Received: time.Now(),
				Data: []byte("From: suporte@example.pt\r\nTo: ana@example.pt\r\nSubject: <script>alert(1)</script>\r\n\r\nOlá\r\n")}}
		},
	})
	v := env.visitor(t)
	r := v.get("/demo/mail")
	if r.code != http.StatusOK || strings.Contains(r.body, "<script>alert") || !strings.Contains(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatalf("demo mail page: %d, or the subject is not shown as text", r.code)
	}
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("the demo page's Content-Security-Policy %q lacks %s", csp, want)
		}
	}
	if r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the demo page has X-Frame-Options %q and Cache-Control %q", r.header.Get("X-Frame-Options"), r.header.Get("Cache-Control"))
	}
	for name, header := range map[string][2]string{
		"a form posted from another site": {"Sec-Fetch-Site", "cross-site"},
		"a form from another origin":      {"Origin", "https://evil.example"},
	} {
		req, _ := http.NewRequest(http.MethodPost, env.Web.URL+"/demo/mail/reply", strings.NewReader("number=12345678"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(header[0], header[1])
		if r := v.do(req); r.code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, r.code)
		}
	}
	if n := appended.Load(); n != 0 {
		t.Fatalf("%d replies appended by posts from another site", n)
	}
	req, _ := http.NewRequest(http.MethodPost, env.Web.URL+"/demo/mail/reply", strings.NewReader("number=12345678"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if r := v.do(req); r.code != http.StatusSeeOther || appended.Load() != 1 {
		t.Errorf("the demo's own form: %d, %d replies appended; want 303 and one", r.code, appended.Load())
	}
}

// A reply sent while the ticket was being closed is refused, but not lost: the page gives the
// text back, beside the way on (a new request referring to the closed one).
func TestAReplyToATicketClosedMeanwhileIsGivenBackWithTheWayOn(t *testing.T) {
	env, ana, number := anaWithATicket(t)
	token := ana.csrf("/tickets/" + number)
	if _, err := env.Server.CustomerClose(context.Background(), "ana", number); err != nil {
		t.Fatal(err)
	}
	r := ana.post("/tickets/"+number+"/reply", url.Values{"csrf": {token}, "message": {"Afinal o NIF da <fatura> está errado"}})
	if r.code != http.StatusConflict {
		t.Fatalf("a reply to a ticket closed meanwhile: %d, want 409", r.code)
	}
	checkPage(t, "reply refused on a closed ticket", r.body)
	for _, want := range []string{"a mensagem não foi enviada", "Afinal o NIF da &lt;fatura&gt; está errado</textarea>", `href="/tickets/new?related_ticket=` + number + `"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(r.body, `name="message"`) || strings.Contains(r.body, `data-testid="reply"`) {
		t.Error("the closed ticket still offers a reply form")
	}
	onlyTheFirstMessage(t, env, number)
}

// anaWithATicket starts the pages with Ana signed in, and one request of hers.
func anaWithATicket(t *testing.T) (*webEnv, *visitor, string) {
	t.Helper()
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	ana := env.customer(t, "ana")
	return env, ana, ana.newTicket("billing-invoice", url.Values{"message": {"Fatura"}, "domain": {"none"}})
}

// onlyTheFirstMessage fails the test unless the ticket holds its first message alone.
func onlyTheFirstMessage(t *testing.T, env *webEnv, number string) {
	t.Helper()
	if msgs, _ := env.Store.Messages(context.Background(), pageTicket(t, env, number).ID); len(msgs) != 1 {
		t.Errorf("ticket %s has %d messages, want 1", number, len(msgs))
	}
}

// A reply of nothing but NUL and blanks is empty once cleaned: the page says so (422), as the API
// does, instead of failing.
func TestAReplyOfOnlyNULIsAnEmptyReplyOnBothForms(t *testing.T) {
	env, ana, number := anaWithATicket(t)
	for _, text := range []string{"\x00", " \x00 \x00\n"} {
		r := ana.post("/tickets/"+number+"/reply", url.Values{"csrf": {ana.csrf("/tickets/" + number)}, "message": {text}})
		if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Escreva a mensagem: não pode ficar vazia.") {
			t.Errorf("customer reply %q: %d, want 422 saying the message is empty", text, r.code)
		}
	}
	joao := env.staff(t, "joao")
	staffPage := "/staff/tickets/" + number
	if r := joao.post(staffPage+"/answer", url.Values{"csrf": {joao.csrf(staffPage)}, "message": {"\x00 \x00"}, "status": {"answered"}}); r.code != http.StatusUnprocessableEntity {
		t.Errorf("staff answer of NULs: %d, want 422", r.code)
	}
	onlyTheFirstMessage(t, env, number)
}

// An address a browser may open that no page answers: a form's address (Enter in the address bar
// after a refused reply) leads back to its ticket, and anything else gets the not-found page in
// the visitor's language, never Go's plain-text "404 page not found" or "Method Not Allowed".
func TestAFormsAddressOpenedAsAPageLeadsToItsTicketAndOtherAddressesToTheNotFoundPage(t *testing.T) {
	env, ana, number := anaWithATicket(t)
	for _, form := range []string{"reply", "close"} {
		if r := ana.get("/tickets/" + number + "/" + form); r.code != http.StatusSeeOther || r.header.Get("Location") != "/tickets/"+number {
			t.Errorf("GET of the %s form's address: %d to %q, want 303 to the ticket", form, r.code, r.header.Get("Location"))
		}
	}
	joao := env.staff(t, "joao")
	for _, form := range []string{"answer", "status", "password/reveal"} {
		if r := joao.get("/staff/tickets/" + number + "/" + form); r.code != http.StatusSeeOther || r.header.Get("Location") != "/staff/tickets/"+number {
			t.Errorf("GET of the staff %s form's address: %d to %q, want 303 to the ticket", form, r.code, r.header.Get("Location"))
		}
	}
	for _, path := range []string{"/tickets/", "/nada", "/tickets/" + number + "/reply/x", "/staff/"} {
		r := ana.get(path)
		if r.code != http.StatusNotFound || !strings.Contains(r.body, "Página não encontrada") || r.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: %d, want 404 with the Portuguese not-found page", path, r.code)
			continue
		}
		checkPage(t, "not found "+path, r.body)
	}
	onlyTheFirstMessage(t, env, number)
	if tk := pageTicket(t, env, number); tk.Status == tickets.Closed {
		t.Error("a GET closed the ticket")
	}
}

// The history offers to reply only where a reply is possible: a closed request is there to read.
func TestTheHistoryOffersAReplyOnlyToRequestsThatTakeOne(t *testing.T) {
	for _, tc := range []struct{ lang, open, closed string }{{"pt-PT", "Ver / Responder", "Ver"}, {"en", "View / Reply", "View"}} {
		t.Run(tc.lang, func(t *testing.T) {
			env := startWeb(t, true, nil)
			env.PutCustomer(t, "ana", tc.lang)
			ana := env.customer(t, "ana")
			open := ana.newTicket("billing-invoice", url.Values{"message": {"Fatura"}, "domain": {"none"}})
			closed := ana.newTicket("billing-invoice", url.Values{"message": {"Outra fatura"}, "domain": {"none"}})
			if _, err := env.Server.CustomerClose(context.Background(), "ana", closed); err != nil {
				t.Fatal(err)
			}
			page := ana.get("/tickets").body
			for number, want := range map[string]string{open: tc.open, closed: tc.closed} {
				link := regexp.MustCompile(`<a href="/tickets/` + number + `">([^<]*)<span`).FindStringSubmatch(page)
				if link == nil || link[1] != want {
					t.Errorf("the link to #%s reads %q, want %q", number, link, want)
				}
			}
		})
	}
}

// A NUL or a byte that is not UTF-8 in an address or a form, which Postgres refuses to compare
// or store, names nothing: the pages answer "not found" or point at the field, never an error.
func TestBytesADatabaseCannotHoldAreNotFoundOrAFieldErrorOnEveryBackend(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			env := startWebOn(t, b, true, nil)
			env.PutCustomer(t, "ana", "pt-PT")
			ana, joao := env.customer(t, "ana"), env.staff(t, "joao")
			number := ana.newTicket("billing-invoice", url.Values{"message": {"Fatura"}, "domain": {"none"}})
			token, staffToken := ana.csrf("/tickets"), joao.csrf("/staff")
			for _, bad := range []string{"%00", "%FF", "1234%00"} {
				for _, check := range []struct {
					who          *visitor
					method, path string
					form         url.Values
				}{
					{ana, "GET", "/tickets/" + bad, nil},
					{ana, "GET", "/tickets/" + bad + "/confirmation", nil},
					{ana, "POST", "/tickets/" + bad + "/reply", url.Values{"csrf": {token}, "message": {"Olá"}}},
					{ana, "POST", "/tickets/" + bad + "/close", url.Values{"csrf": {token}}},
					{ana, "GET", "/tickets/new?subject_id=" + bad, nil},
					{joao, "GET", "/staff/tickets/" + bad, nil},
					{joao, "GET", "/staff/departments/" + bad, nil},
					{joao, "POST", "/staff/tickets/" + bad + "/answer", url.Values{"csrf": {staffToken}, "message": {"Olá"}}},
					{joao, "POST", "/staff/tickets/" + bad + "/status", url.Values{"csrf": {staffToken}, "status": {"in_progress"}}},
					{joao, "POST", "/staff/tickets/" + bad + "/password/reveal", url.Values{"csrf": {staffToken}}},
				} {
					var r response
					if check.method == "GET" {
						r = check.who.get(check.path)
					} else {
						r = check.who.post(check.path, check.form)
					}
					if r.code != http.StatusNotFound {
						t.Errorf("%s %s: %d, want 404", check.method, check.path, r.code)
					}
				}
			}
			raw, _ := url.PathUnescape("%FF")
			page := ana.get("/tickets/new?subject_id=billing-invoice").body
			for field, value := range map[string]string{"subject_id": "billing\x00", "related_ticket": "1\x00", "domain": raw, "idempotency_key": "k\x00"} {
				form := url.Values{"csrf": {token}, "subject_id": {"billing-invoice"}, "idempotency_key": {idempotencyField.FindStringSubmatch(page)[1]},
					"message": {"Olá"}, "domain": {"none"}}
				form.Set(field, value)
				if r := ana.post("/tickets/new", form); r.code >= 500 || r.code == http.StatusSeeOther {
					t.Errorf("the form with a bad %s: %d, want it refused as bad input", field, r.code)
				}
			}
			if r := joao.get("/staff/tickets?number=" + number); r.code != http.StatusSeeOther {
				t.Errorf("the console's search for #%s: %d", number, r.code)
			}
		})
	}
}

// The form states the password's lifetime as configured, in the page's language.
func TestTheTicketFormStatesThePasswordLifetimeAsConfigured(t *testing.T) {
	env := startWeb(t, true, func(c *api.Config) { c.SecretTTL = 6 * time.Hour })
	env.PutCustomer(t, "ana", "pt-PT")
	ana := env.customer(t, "ana")
	for lang, want := range map[string]string{"pt-PT": "eliminada ao fim de 6 horas", "en": "deleted after 6 hours"} {
		page := ana.get("/tickets/new?subject_id=billing-invoice&lang=" + lang).body
		// "72 h", not a bare "72": the page's random tokens may hold those two digits.
		if !strings.Contains(page, want) || strings.Contains(page, "72 h") {
			t.Errorf("%s: the form does not say %q, or still says 72 hours", lang, want)
		}
	}
}

func TestThePasswordTextsReadAsWholeSentencesInBothLanguages(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	ana := env.customer(t, "ana")
	// The "i" of the password field ends its explanation with the marker, as a sentence.
	for lang, want := range map[string]string{
		"pt-PT": "a partir daí o pedido mostra <code>***PASSWORD OBFUSCATED***</code>.</p>",
		"en":    "from then on the request shows <code>***PASSWORD OBFUSCATED***</code>.</p>",
	} {
		if page := ana.get("/tickets/new?subject_id=email-account-setup&lang=" + lang).body; !strings.Contains(page, want) {
			t.Errorf("the %s form's password explanation lacks %q", lang, want)
		}
	}

	number := ana.newTicket("hosting-cpanel", url.Values{"message": {"Não consigo entrar."}, "domain": {"example.pt"}, "password": {"p4ss"}})
	if _, err := env.Store.PurgePassword(context.Background(), pageTicket(t, env, number).ID, time.Now().Add(73*time.Hour)); err != nil {
		t.Fatal(err)
	}
	joao := env.staff(t, "joao")
	for lang, want := range map[string]string{
		"pt-PT": "A password foi guardada durante 72 horas e depois destruída.",
		"en":    "The password was kept for 72 hours and then destroyed.",
	} {
		if page := joao.get("/staff/tickets/" + number + "?lang=" + lang).body; !strings.Contains(page, want) {
			t.Errorf("the %s staff page of an expired password lacks %q", lang, want)
		}
	}
}
