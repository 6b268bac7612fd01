package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/assistd/assistd/internal/oidctest"
)

// With the ASSISTD_OIDC_ settings the console's sign-in page offers the company account, and its
// button leads to the provider's own sign-in page.
func TestServeOffersTheCompanySignInWithTheIdentityProviderSettings(t *testing.T) {
	public := freeAddr(t)
	idp := oidctest.Start(t, "http://"+public+"/staff/oidc/callback")
	t.Setenv("ASSISTD_HTTP_ADDR", public)
	t.Setenv("ASSISTD_PUBLIC_URL", "http://"+public)
	t.Setenv("ASSISTD_API_TOKEN", testAPIToken)
	t.Setenv("ASSISTD_STAFF_TOKEN", testStaffToken)
	t.Setenv("ASSISTD_OIDC_ISSUER", idp.Issuer)
	t.Setenv("ASSISTD_OIDC_CLIENT_ID", idp.ClientID)
	t.Setenv("ASSISTD_OIDC_CLIENT_SECRET", idp.ClientSecret)
	serveRoles(t, "api")
	waitHealthy(t, public)
	if code, body := get("GET", public, "/staff/login", ""); code != http.StatusOK || !strings.Contains(body, "Entrar com a conta da empresa") {
		t.Fatalf("/staff/login: %d\n%s", code, body)
	}
	// The default client follows the redirects: to the provider, and on to its sign-in page.
	if code, body := get("GET", public, "/staff/oidc/start", ""); code != http.StatusOK || !strings.Contains(body, `name="authRequestID"`) {
		t.Fatalf("/staff/oidc/start did not lead to the provider's sign-in page: %d\n%s", code, body)
	}
}
