package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
)

func TestTheQueueDashboardIsForStaffOnly(t *testing.T) {
	s := systemtest.Start(t, systemtestSQLite(t), systemtest.Options{NoWorker: true})
	s.API.MountOps(api.QueueDashboard(s.Redis))
	cases := []struct {
		name, method, path string
		auth               func(*http.Request)
		headers            map[string]string
		want               int
		contains           string
	}{
		{"no credentials are asked to sign in", "GET", "/ops/queues", nil, nil, http.StatusUnauthorized, "unauthorized"},
		{"the client-area token is refused", "GET", "/ops/queues/", bearer(systemtest.APIToken), nil, http.StatusForbidden, "forbidden"},
		{"a wrong bearer token is unauthorized, as on every staff path", "GET", "/ops/queues/", bearer("guess"), nil, http.StatusUnauthorized, "unauthorized"},
		{"a wrong password is refused", "GET", "/ops/queues/", basic("staff", "guess"), nil, http.StatusUnauthorized, ""},
		{"the staff token opens the dashboard", "GET", "/ops/queues/", bearer(systemtest.StaffToken), nil, http.StatusOK, "<html"},
		{"a browser signs in with the staff token as password", "GET", "/ops/queues/api/queues", basic("ops", systemtest.StaffToken), nil, http.StatusOK, "queues"},
		{"a change from another site is refused", "POST", "/ops/queues/api/queues/default:pause", basic("ops", systemtest.StaffToken),
			map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusForbidden, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, s.HTTP.URL+c.path, nil)
			if c.auth != nil {
				c.auth(req)
			}
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.want || !strings.Contains(string(body), c.contains) {
				t.Fatalf("%s %s: %d %.200s, want %d with %q", c.method, c.path, resp.StatusCode, body, c.want, c.contains)
			}
			if c.want == http.StatusOK && (resp.Header.Get("X-Frame-Options") != "DENY" ||
				!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")) {
				t.Fatalf("the dashboard may be framed by another site: X-Frame-Options %q, Content-Security-Policy %q",
					resp.Header.Get("X-Frame-Options"), resp.Header.Get("Content-Security-Policy"))
			}
			if c.want == http.StatusUnauthorized && c.auth == nil && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("WWW-Authenticate = %q, want a Basic challenge a browser answers", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func bearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func basic(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}
