package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/oidctest"
	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
)

// oidcEnv is the console with sign-in by the company's identity provider, a real OpenID provider
// started in-process.
type oidcEnv struct {
	*webEnv
	idp *oidctest.Provider
}

func startOIDC(t *testing.T, b storagetest.Backend) *oidcEnv {
	t.Helper()
	e := &oidcEnv{}
	e.webEnv = startWebOn(t, b, true, func(c *api.Config) {
		e.idp = oidctest.Start(t, c.PublicURL+"/staff/oidc/callback")
		c.OIDC = api.OIDCConfig{Issuer: e.idp.Issuer, ClientID: e.idp.ClientID, ClientSecret: e.idp.ClientSecret}
	})
	return e
}

// signIn starts a sign-in from the console's page in visitor v, signs in at the provider as
// login, and returns the address the provider sends the browser back to (not yet opened).
func (e *oidcEnv) signIn(t *testing.T, v *visitor, next, login string) string {
	t.Helper()
	r := v.get("/staff/oidc/start?next=" + url.QueryEscape(next))
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), e.idp.Issuer) {
		t.Fatalf("start: %d %s", r.code, r.header.Get("Location"))
	}
	back, err := e.idp.SignIn(v.http, r.header.Get("Location"), login)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(back.String(), e.Web.URL)
}

// putMember creates or replaces a member with an email of the test's choosing.
func (e *oidcEnv) putMember(t *testing.T, id, email string, active bool, departments map[string]string) {
	t.Helper()
	code := e.Do(t, "PUT", "/api/v1/staff/members/"+id, systemtest.StaffToken, map[string]any{"name": "Membro " + id, "email": email,
		"language": "pt-PT", "departments": departments, "admin": false, "active": active}, nil)
	if code != http.StatusOK {
		t.Fatalf("put member %s: %d", id, code)
	}
}

func TestStaffSignInWithTheCompanyIdentityProvider(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := startOIDC(t, b)
			e.putMember(t, "rita", "rita.sousa@suporte.example.pt", true, map[string]string{"alojamento": "agent"})
			e.putMember(t, "rui", "rui@suporte.example.pt", false, map[string]string{"alojamento": "agent"})
			e.putMember(t, "ines", "ines@suporte.example.pt", true, map[string]string{"alojamento": "agent"})
			// The provider's spelling of Rita's address differs in case from the member's.
			e.idp.AddUser(oidctest.User{ID: "u-rita", Email: "Rita.Sousa@Suporte.Example.pt", EmailVerified: true, Name: "Rita Sousa"})
			e.idp.AddUser(oidctest.User{ID: "u-rui", Email: "rui@suporte.example.pt", EmailVerified: true})
			e.idp.AddUser(oidctest.User{ID: "u-ze", Email: "ze@suporte.example.pt", EmailVerified: true})
			// Inês's address at the provider is not verified: anyone could have typed it.
			e.idp.AddUser(oidctest.User{ID: "u-ines", Email: "ines@suporte.example.pt", EmailVerified: false})

			e.PutCustomer(t, "ana", "pt-PT")
			number := e.customer(t, "ana").newTicket("hosting-cpanel", url.Values{"message": {"Não entro no cPanel"},
				"domain": {"loja-exemplo.com"}, "password": {"s3gredo-do-cpanel"}})
			ticketPage := "/staff/tickets/" + number

			t.Run("the sign-in page offers the company account", func(t *testing.T) {
				page := e.visitor(t).get("/staff/login?next=" + url.QueryEscape(ticketPage))
				checkPage(t, "staff sign-in with the identity provider", page.body)
				if !strings.Contains(page.body, "Entrar com a conta da empresa") || !strings.Contains(page.body, `href="/staff/oidc/start?next=`) {
					t.Fatalf("no company-account button:\n%s", page.body)
				}
				if page := e.visitor(t).get("/staff/login?lang=en"); !strings.Contains(page.body, "Sign in with your company account") {
					t.Fatal("no company-account button in English")
				}
			})

			t.Run("an active member signs in and reveals as oidc", func(t *testing.T) {
				rita := e.visitor(t)
				back := e.signIn(t, rita, ticketPage, "u-rita")
				r := rita.get(back)
				if r.code != http.StatusSeeOther || r.header.Get("Location") != ticketPage {
					t.Fatalf("callback: %d %s\n%s", r.code, r.header.Get("Location"), r.body)
				}
				page := rita.get(ticketPage)
				if page.code != http.StatusOK || !strings.Contains(page.body, `data-testid="reveal-password"`) {
					t.Fatalf("the ticket in the console: %d", page.code)
				}
				r = rita.post(ticketPage+"/password/reveal", url.Values{"csrf": {rita.csrf(ticketPage)}})
				if r.code != http.StatusOK || !strings.Contains(r.body, "s3gredo-do-cpanel") {
					t.Fatalf("reveal: %d", r.code)
				}
				reveals, err := e.Store.Reveals(context.Background(), pageTicket(t, e.webEnv, number).ID)
				if err != nil || len(reveals) != 1 || reveals[0].MemberID == nil || *reveals[0].MemberID != "rita" ||
					reveals[0].Via == nil || *reveals[0].Via != storage.ViaOIDC {
					t.Fatalf("audit %+v %v, want one reveal by rita via oidc", reveals, err)
				}
				// The same answer of the provider again, with this browser's attempt cookie as it was:
				// the state (and the code) are used.
				replay := e.visitor(t)
				back = e.signIn(t, replay, "/staff", "u-rita")
				attempt := attemptCookie(t, e, replay)
				if r := replay.get(back); r.code != http.StatusSeeOther {
					t.Fatalf("callback: %d", r.code)
				}
				thief := e.visitor(t)
				u, _ := url.Parse(e.Web.URL)
				thief.http.Jar.SetCookies(u, []*http.Cookie{attempt})
				if r := thief.get(back); r.code != http.StatusUnauthorized || !strings.Contains(r.body, "A entrada não foi concluída") {
					t.Fatalf("a replayed answer: %d\n%s", r.code, r.body)
				}
				if r := thief.get("/staff"); r.code != http.StatusSeeOther {
					t.Fatalf("the replay signed someone in: %d", r.code)
				}
			})

			refused := func(t *testing.T, login string, code int, text string) {
				t.Helper()
				v := e.visitor(t)
				r := v.get(e.signIn(t, v, "/staff", login))
				if r.code != code || !strings.Contains(r.body, text) {
					t.Fatalf("%s: %d, want %d with %q\n%s", login, r.code, code, text, r.body)
				}
				checkPage(t, "refused sign-in", r.body)
				if r.header.Get("Set-Cookie") != "" && strings.Contains(r.header.Get("Set-Cookie"), "assistd_staff=") {
					t.Fatalf("%s: a console session was started", login)
				}
				if r := v.get("/staff"); r.code != http.StatusSeeOther {
					t.Fatalf("%s: the console opens: %d", login, r.code)
				}
			}
			t.Run("an unknown email is refused", func(t *testing.T) {
				refused(t, "u-ze", http.StatusForbidden, "A conta ze@suporte.example.pt não pertence a nenhum membro ativo")
			})
			t.Run("a disabled member is refused", func(t *testing.T) {
				refused(t, "u-rui", http.StatusForbidden, "não pertence a nenhum membro ativo")
			})
			t.Run("an unverified email is refused", func(t *testing.T) {
				refused(t, "u-ines", http.StatusForbidden, "Conta sem email verificado")
			})
			t.Run("a wrong nonce is refused", func(t *testing.T) {
				e.idp.SetFaults(oidctest.Faults{WrongNonce: true})
				defer e.idp.SetFaults(oidctest.Faults{})
				refused(t, "u-rita", http.StatusUnauthorized, "A entrada não foi concluída")
			})
			t.Run("disabling the member ends the session", func(t *testing.T) {
				e.putMember(t, "marta", "marta@suporte.example.pt", true, map[string]string{"alojamento": "agent"})
				e.idp.AddUser(oidctest.User{Email: "marta@suporte.example.pt", EmailVerified: true})
				marta := e.visitor(t)
				if r := marta.get(e.signIn(t, marta, "/staff", "marta@suporte.example.pt")); r.code != http.StatusSeeOther {
					t.Fatalf("callback: %d", r.code)
				}
				if r := marta.get("/staff"); r.code != http.StatusOK {
					t.Fatalf("the console: %d", r.code)
				}
				e.putMember(t, "marta", "marta@suporte.example.pt", false, map[string]string{"alojamento": "agent"})
				if r := marta.get("/staff"); r.code == http.StatusOK {
					t.Fatal("a disabled member's session still opens the console")
				}
				refused(t, "marta@suporte.example.pt", http.StatusForbidden, "não pertence a nenhum membro ativo")
			})
			t.Run("the pages speak English too", func(t *testing.T) {
				v := e.visitor(t)
				v.get("/staff/login?lang=en")
				r := v.get(e.signIn(t, v, "/staff", "u-ze"))
				if !strings.Contains(r.body, "does not belong to any active member") {
					t.Fatalf("English refusal: %d\n%s", r.code, r.body)
				}
				// The language switch of a refusal leads to the sign-in page, not to the used answer.
				if !strings.Contains(r.body, `href="/staff/login?lang=pt-PT"`) {
					t.Fatalf("the refusal's language switch:\n%s", r.body)
				}
			})
		})
	}
}

func attemptCookie(t *testing.T, e *oidcEnv, v *visitor) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(e.Web.URL + "/staff/oidc/callback")
	for _, c := range v.http.Jar.Cookies(u) {
		if c.Name == "assistd_oidc" {
			return c
		}
	}
	t.Fatal("no attempt cookie")
	return nil
}

func TestRefusedCompanySignInsCountTowardTheLimit(t *testing.T) {
	e := startOIDC(t, systemtestSQLite(t))
	e.idp.AddUser(oidctest.User{Email: "ze@suporte.example.pt", EmailVerified: true})
	e.idp.AddUser(oidctest.User{Email: "rita@suporte.example.pt", EmailVerified: true})
	e.putMember(t, "rita", "rita@suporte.example.pt", true, map[string]string{"alojamento": "agent"})
	v := e.visitor(t)
	for i := 0; i < 10; i++ {
		if r := v.get("/staff/oidc/callback?state=guess&code=guess"); r.code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, r.code)
		}
	}
	r := v.get(e.signIn(t, v, "/staff", "ze@suporte.example.pt"))
	if r.code != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("the 11th failure: %d, Retry-After %q", r.code, r.header.Get("Retry-After"))
	}
	// A member who signs in meanwhile from that address is not slowed: only failures are counted.
	if r := v.get(e.signIn(t, v, "/staff", "rita@suporte.example.pt")); r.code != http.StatusSeeOther || r.header.Get("Location") != "/staff" {
		t.Fatalf("a valid sign-in after the failures: %d", r.code)
	}
	if !strings.Contains(e.Log.String(), "credential=oidc") {
		t.Error("the failures are not logged with their kind")
	}
}

func TestWithoutAnIdentityProviderTheConsoleOffersNone(t *testing.T) {
	e := startWeb(t, true, nil)
	if page := e.visitor(t).get("/staff/login"); strings.Contains(page.body, "/staff/oidc/") {
		t.Fatal("the sign-in page offers the company account without a provider")
	}
	if r := e.visitor(t).get("/staff/oidc/start"); r.code != http.StatusNotFound {
		t.Fatalf("/staff/oidc/start without a provider: %d", r.code)
	}
}

func TestAnIdentityProviderThatDoesNotAnswerIsAnOutagePage(t *testing.T) {
	away := httptest.NewServer(http.NotFoundHandler())
	away.Close() // nothing answers there any more
	e := startWeb(t, true, func(c *api.Config) {
		c.OIDC = api.OIDCConfig{Issuer: away.URL, ClientID: "assistd", ClientSecret: "client-secret"}
	})
	r := e.visitor(t).get("/staff/oidc/start")
	if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "O fornecedor de identidade não respondeu") {
		t.Fatalf("start with the provider away: %d\n%s", r.code, r.body)
	}
	checkPage(t, "identity provider away", r.body)
}
