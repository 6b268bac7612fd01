package api_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
)

// guess sends a staff call with a made-up token and returns the status and Retry-After.
func guess(t *testing.T, base string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/departments", nil)
	req.Header.Set("Authorization", "Bearer asm_guessed-"+strconv.Itoa(int(time.Now().UnixNano())))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

func TestRepeatedFailedStaffAuthenticationsAreSlowedAcrossInstancesButValidCredentialsPass(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		// A second instance on the same database and Redis.
		other := httptest.NewServer(api.New(api.Config{APIToken: systemtest.APIToken, StaffToken: systemtest.StaffToken},
			api.Deps{Store: s.Store, Keys: s.Keys, Composer: s.Composer, Enqueuer: s.Deps.Enqueuer, Log: slog.New(slog.NewTextHandler(s.Log, nil)), Redis: s.Redis}))
		t.Cleanup(other.Close)
		for i := 1; i <= 10; i++ {
			base := s.HTTP.URL
			if i%2 == 0 {
				base = other.URL
			}
			if code, _ := guess(t, base); code != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d, want 401", i, code)
			}
			// Valid credentials are never slowed, whatever the count.
			if code := s.Do(t, "GET", "/api/v1/departments", systemtest.StaffToken, nil, nil, systemtest.AsJoao...); code != http.StatusOK {
				t.Fatalf("valid credentials after %d failures: %d", i, code)
			}
		}
		for _, base := range []string{other.URL, s.HTTP.URL} {
			code, retry := guess(t, base)
			if n, err := strconv.Atoi(retry); code != http.StatusTooManyRequests || err != nil || n < 1 || n > 60 {
				t.Fatalf("the 11th failure and after: %d, Retry-After %q; want 429 within a minute", code, retry)
			}
		}
		if code := s.Do(t, "GET", "/api/v1/departments", systemtest.StaffToken, nil, nil, systemtest.AsJoao...); code != http.StatusOK {
			t.Fatalf("valid credentials while the address is slowed: %d", code)
		}
		logged := s.Log.String()
		if !strings.Contains(logged, "authentication failed") || !strings.Contains(logged, "address=127.0.0.1") || !strings.Contains(logged, "credential=staff_token") ||
			strings.Contains(logged, "asm_guessed") {
			t.Fatal("failures are not logged with address and kind, or the credential is logged")
		}
	})
}

func TestWhileRedisIsAwayEachInstanceCountsFailuresInMemory(t *testing.T) {
	s := systemtest.Start(t, systemtestSQLite(t), systemtest.Options{NoWorker: true})
	away := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { away.Close() })
	srv := httptest.NewServer(api.New(api.Config{APIToken: systemtest.APIToken, StaffToken: systemtest.StaffToken},
		api.Deps{Store: s.Store, Keys: s.Keys, Composer: s.Composer, Enqueuer: s.Deps.Enqueuer, Log: slog.New(slog.DiscardHandler), Redis: away}))
	t.Cleanup(srv.Close)
	for i := 1; i <= 10; i++ {
		if code, _ := guess(t, srv.URL); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, code)
		}
	}
	if code, retry := guess(t, srv.URL); code != http.StatusTooManyRequests || retry == "" {
		t.Fatalf("the 11th failure with Redis away: %d %q", code, retry)
	}
	code, _ := systemtest.Request(systemtest.StaffToken, "GET", srv.URL+"/api/v1/departments", nil, api.StaffMemberHeader, "joao")
	if code != http.StatusOK {
		t.Fatalf("valid credentials with Redis away: %d", code)
	}
}

func TestRepeatedBadSignInLinksAreSlowedOnTheCustomerAndStaffPaths(t *testing.T) {
	env := startWeb(t, true, nil)
	for _, path := range []string{"/login?token=", "/staff/login?token="} {
		t.Run(path, func(t *testing.T) {
			env.Redis.FlushDB(t.Context())
			v := env.visitor(t)
			for i := 1; i <= 10; i++ {
				if r := v.get(path + url.QueryEscape("bad."+strconv.Itoa(i))); r.code != http.StatusUnauthorized {
					t.Fatalf("bad link %d: %d", i, r.code)
				}
			}
			r := v.get(path + "bad.11")
			if r.code != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "Demasiadas tentativas") {
				t.Fatalf("the 11th bad link: %d %q", r.code, r.header.Get("Retry-After"))
			}
		})
	}
	// A valid customer link still signs in.
	env.PutCustomer(t, "ana", "pt-PT")
	if v := env.customer(t, "ana"); v.get("/tickets").code != http.StatusOK {
		t.Fatal("a valid link after the failures does not sign in")
	}
}
