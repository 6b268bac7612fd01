package api_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/assistd/assistd/internal/oidctest"
)

// A real browser carries the attempt cookie to the provider and back: the console's button, the
// provider's own sign-in page, and the console again, signed in; then the refusal page of someone
// the provider knows but the console does not.
func TestAMemberSignsInWithTheCompanyAccountInARealBrowser(t *testing.T) {
	browser := browserPath()
	if browser == "" {
		t.Skip("no Chromium or Chrome found (install Debian's chromium package, or set ASSISTD_TEST_BROWSER): the browser test is skipped")
	}
	e := startOIDC(t, systemtestSQLite(t))
	e.putMember(t, "rita", "rita@suporte.example.pt", true, map[string]string{"email": "agent"})
	e.idp.AddUser(oidctest.User{Email: "Rita@Suporte.Example.pt", EmailVerified: true})
	e.idp.AddUser(oidctest.User{Email: "ze@suporte.example.pt", EmailVerified: true})

	ctx := startBrowser(t, browser, 2*time.Minute)
	dir := t.TempDir()
	if d := os.Getenv("ASSISTD_TEST_ARTIFACTS"); d != "" {
		dir = filepath.Join(d, "pages-oidc")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b := &browserWalk{t: t, ctx: ctx, env: e.webEnv, dir: dir, axe: axeSource(t)}

	signIn := func(email string) {
		t.Helper()
		b.open("/staff/login?next=%2Fstaff")
		b.follow("press the company account button", chromedp.Click(chromedp.CSS(`main a.button[href^="/staff/oidc/start"]`)))
		if !strings.HasPrefix(b.path(), e.idp.Issuer) {
			t.Fatalf("the button led to %s, not to the provider", b.path())
		}
		b.do("type the email at the provider", chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email))
		b.follow("sign in at the provider", chromedp.Click(chromedp.CSS(`form button`)))
	}

	b.open("/staff/login")
	b.page("staff-signin-company-account")
	// Someone the provider knows but the console does not: a page says so, in the console's look.
	signIn("ze@suporte.example.pt")
	if p := b.path(); !strings.HasPrefix(p, "/staff/oidc/callback") || !strings.Contains(b.text("main"), "não pertence a nenhum membro ativo") {
		t.Fatalf("an unknown account: at %s, saying %q", p, b.text("main"))
	}
	b.page("staff-signin-company-account-unknown")
	b.open("/staff")
	if p := b.path(); !strings.HasPrefix(p, "/staff/login") {
		t.Fatalf("the unknown account opened the console: at %s", p)
	}
	// Rita, whose address the provider spells with capitals.
	signIn("Rita@Suporte.Example.pt")
	if p := b.path(); p != "/staff" {
		t.Fatalf("after signing in with the company account the browser is at %s", p)
	}
	b.page("console-after-company-account")
}
