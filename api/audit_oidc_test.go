package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/assistd/assistd/internal/oidctest"
	"github.com/assistd/assistd/storage/storagetest"
)

// TestHostileIdentityProviderClaimsAreShownAsText signs in with claims that carry markup and line
// breaks (an unknown account's email, a member's name at the provider): the refusal page shows
// them as text, the log keeps them on one line, and a member's name comes from assistd, never from
// the provider.
func TestHostileIdentityProviderClaimsAreShownAsText(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := startOIDC(t, b)
			e.putMember(t, "rita", "rita@suporte.example.pt", true, map[string]string{"email": "agent"})
			e.idp.AddUser(oidctest.User{ID: "u-rita", Email: "rita@suporte.example.pt", EmailVerified: true, Name: `<script>alert('nome')</script>`})
			hostile := `"<script>alert('mail')</script>"@suporte.example.pt`
			e.idp.AddUser(oidctest.User{ID: "u-evil", Email: hostile, EmailVerified: true, Name: "Evil\r\nX-Injetado: 1"})

			v := e.visitor(t)
			r := v.get(e.signIn(t, v, "/staff", "u-evil"))
			if r.code != http.StatusForbidden || strings.Contains(r.body, "<script>alert(") || !strings.Contains(r.body, "&lt;script&gt;") {
				t.Errorf("the refusal of a hostile email: %d\n%s", r.code, r.body)
			}
			if r.header.Get("X-Injetado") != "" {
				t.Error("a header was injected")
			}
			rita := e.visitor(t)
			if r := rita.get(e.signIn(t, rita, "/staff", "u-rita")); r.code != http.StatusSeeOther {
				t.Fatalf("rita's sign-in: %d", r.code)
			}
			page := rita.get("/staff")
			if page.code != 200 || strings.Contains(page.body, "alert('nome')") || strings.Contains(page.body, "alert(&#39;nome&#39;)") {
				t.Errorf("the console shows the provider's name claim: %d", page.code)
			}
			for _, line := range strings.Split(e.Log.String(), "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "X-Injetado") {
					t.Error("a claim broke a log line")
				}
			}
		})
	}
}
