package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage/storagetest"
)

// A sign-in link that signs nobody in any more (used, past the double-click grace; or expired)
// names nobody: whoever opens it is told it was used, not whose client area or console it
// opened. The browser it signed in, and a double click, still see the page.
func TestADeadSignInLinkNamesNobody(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			var ahead atomic.Int64
			env := startWebClocked(t, b, true, nil, func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) })
			env.PutCustomer(t, "ana", "pt-PT")
			customerLink := "/login?token=" + url.QueryEscape(api.LoginToken(pagesPortalSecret, "customer", "ana", time.Now().Add(5*time.Minute)))
			staffLink := "/staff/login?token=" + url.QueryEscape(api.LoginToken(systemtest.StaffLinkSecret, "staff", "joao", time.Now().Add(5*time.Minute)))
			expired := "/login?token=" + url.QueryEscape(api.LoginToken(pagesPortalSecret, "customer", "ana", time.Now().Add(-time.Second)))

			fresh := env.visitor(t).get(customerLink)
			if fresh.code != http.StatusOK || !strings.Contains(fresh.body, "Ana Silva") {
				t.Fatalf("an unused link: %d, want the page naming Ana", fresh.code)
			}
			ana := env.visitor(t)
			if r := ana.fromPortal(customerLink); r.code != http.StatusSeeOther {
				t.Fatalf("using the customer's link: %d", r.code)
			}
			joao := env.visitor(t)
			if r := joao.staffLink(staffLink); r.code != http.StatusSeeOther {
				t.Fatalf("using the staff link: %d", r.code)
			}
			if r := env.visitor(t).get(customerLink); r.code != http.StatusOK || !strings.Contains(r.body, "Ana Silva") {
				t.Fatalf("a double click's second request: %d, want the page", r.code)
			}

			ahead.Store(int64(11 * time.Second))
			cases := []struct {
				name    string
				visitor *visitor
				path    string
				code    int
				names   string
			}{
				{"a used customer link opened by another browser names nobody", env.visitor(t), customerLink, http.StatusUnauthorized, "Ana Silva"},
				{"a used staff link opened by another browser names nobody", env.visitor(t), staffLink, http.StatusUnauthorized, "joao"},
				{"an expired link names nobody", env.visitor(t), expired, http.StatusUnauthorized, "Ana Silva"},
				{"the browser the customer's link signed in still sees it", ana, customerLink, http.StatusOK, ""},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					r := c.visitor.get(c.path)
					if r.code != c.code || (c.names != "" && strings.Contains(r.body, c.names)) {
						t.Fatalf("%d, want %d naming nobody:\n%s", r.code, c.code, r.body)
					}
				})
			}
		})
	}
}
