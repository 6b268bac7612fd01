package oidclogin_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/oidclogin"
	"github.com/assistd/assistd/internal/oidctest"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
)

const cookieName = "assistd_oidc"

// site is a relying party's web side as the console has it: /start begins an attempt and
// /callback finishes it, on one of two instances (as behind a load balancer) that share only the
// database. The outcome of the last callback is kept for the test to read.
type site struct {
	t        *testing.T
	idp      *oidctest.Provider
	rps      [2]*oidclogin.RelyingParty
	srv      *httptest.Server
	instance atomic.Int32 // which instance answers the next request
	skew     atomic.Int64 // added to the clock of both instances

	mu   sync.Mutex
	who  oidclogin.Identity
	err  error
	done bool
}

func newSite(t *testing.T, st *storage.Store) *site {
	s := &site{t: t}
	mux := http.NewServeMux()
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	s.idp = oidctest.Start(t, s.srv.URL+"/callback")
	once := func(ctx context.Context, key string, expires time.Time) (bool, error) {
		first, _, err := st.UseSignInLink(ctx, key, expires)
		return first, err
	}
	for i := range s.rps {
		rp, err := oidclogin.New(oidclogin.Config{Issuer: s.idp.Issuer, ClientID: s.idp.ClientID, ClientSecret: s.idp.ClientSecret,
			RedirectURL: s.srv.URL + "/callback", CookieName: cookieName, Once: once,
			Now: func() time.Time { return time.Now().Add(time.Duration(s.skew.Load())) }})
		if err != nil {
			t.Fatal(err)
		}
		s.rps[i] = rp
	}
	mux.HandleFunc("GET /start", func(w http.ResponseWriter, r *http.Request) {
		to, err := s.rp().Begin(r.Context(), w, "/staff/tickets/7")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, to, http.StatusFound)
	})
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		who, err := s.rp().Finish(r.Context(), w, r)
		s.mu.Lock()
		s.who, s.err, s.done = who, err, true
		s.mu.Unlock()
		if err != nil {
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		w.Write([]byte("signed in"))
	})
	return s
}

func (s *site) rp() *oidclogin.RelyingParty { return s.rps[s.instance.Load()%2] }

// browser is a new browser: a cookie jar, no redirects followed by itself.
func (s *site) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// begin starts an attempt in the browser, signs in at the provider as login, and returns the
// URL the provider sends the browser back to (not yet opened).
func (s *site) begin(b *http.Client, login string) *url.URL {
	s.t.Helper()
	res, err := b.Get(s.srv.URL + "/start")
	if err != nil {
		s.t.Fatal(err)
	}
	res.Body.Close()
	to, err := res.Location()
	if err != nil {
		s.t.Fatalf("start answered %d, no redirect", res.StatusCode)
	}
	back, err := s.idp.SignIn(b, to.String(), login)
	if err != nil {
		s.t.Fatal(err)
	}
	if !strings.HasPrefix(back.String(), s.srv.URL+"/callback?") {
		s.t.Fatalf("the provider sent the browser to %s", back)
	}
	return back
}

// finish opens the callback URL in the browser and returns the relying party's outcome.
func (s *site) finish(b *http.Client, back *url.URL) (oidclogin.Identity, error) {
	s.t.Helper()
	s.mu.Lock()
	s.done = false
	s.mu.Unlock()
	res, err := b.Get(back.String())
	if err != nil {
		s.t.Fatal(err)
	}
	res.Body.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done {
		s.t.Fatalf("the callback was not reached: %d", res.StatusCode)
	}
	return s.who, s.err
}

func (s *site) attemptCookie(b *http.Client) *http.Cookie {
	u, _ := url.Parse(s.srv.URL)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == cookieName {
			return c
		}
	}
	return nil
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
}

func TestSignIn(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		s := newSite(t, st)
		s.idp.AddUser(oidctest.User{ID: "u-rita", Email: "Rita.Sousa@example.pt", EmailVerified: true, Name: "Rita Sousa"})
		s.idp.AddUser(oidctest.User{ID: "u-joao", Email: "joao@example.pt", EmailVerified: false})
		s.idp.AddUser(oidctest.User{ID: "u-noemail"})

		t.Run("verified email signs in", func(t *testing.T) {
			b := s.browser()
			who, err := s.finish(b, s.begin(b, "Rita.Sousa@example.pt"))
			if err != nil {
				t.Fatal(err)
			}
			if who.Email != "Rita.Sousa@example.pt" || who.Subject != "u-rita" || who.ReturnTo != "/staff/tickets/7" {
				t.Fatalf("identity %+v", who)
			}
			if c := s.attemptCookie(b); c != nil {
				t.Fatalf("the attempt cookie outlived the callback: %v", c)
			}
		})

		t.Run("another instance finishes the attempt", func(t *testing.T) {
			b := s.browser()
			back := s.begin(b, "Rita.Sousa@example.pt")
			s.instance.Add(1)
			defer s.instance.Add(1)
			if _, err := s.finish(b, back); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("email from the userinfo endpoint", func(t *testing.T) {
			s.idp.SetFaults(oidctest.Faults{UserinfoOnly: true})
			defer s.idp.SetFaults(oidctest.Faults{})
			b := s.browser()
			who, err := s.finish(b, s.begin(b, "u-rita"))
			if err != nil || who.Email != "Rita.Sousa@example.pt" {
				t.Fatalf("%+v, %v", who, err)
			}
			b = s.browser()
			_, err = s.finish(b, s.begin(b, "u-joao"))
			wantErr(t, err, oidclogin.ErrEmailUnverified)
		})

		t.Run("unverified email refused", func(t *testing.T) {
			b := s.browser()
			_, err := s.finish(b, s.begin(b, "joao@example.pt"))
			wantErr(t, err, oidclogin.ErrEmailUnverified)
		})

		t.Run("missing email refused", func(t *testing.T) {
			b := s.browser()
			_, err := s.finish(b, s.begin(b, "u-noemail"))
			wantErr(t, err, oidclogin.ErrNoEmail)
		})

		// A provider that misbehaves: its ID token is refused, for the reason the fault gives.
		for name, f := range map[string]struct {
			faults oidctest.Faults
			reason string
		}{
			"wrong nonce refused":                          {oidctest.Faults{WrongNonce: true}, "nonce"},
			"token signed with an unpublished key refused": {oidctest.Faults{UnpublishedKey: true}, "signature"},
			"expired ID token refused":                     {oidctest.Faults{ExpiredIDToken: true}, "expired"},
		} {
			t.Run(name, func(t *testing.T) {
				s.idp.SetFaults(f.faults)
				defer s.idp.SetFaults(oidctest.Faults{})
				b := s.browser()
				_, err := s.finish(b, s.begin(b, "u-rita"))
				wantErr(t, err, oidclogin.ErrToken)
				if !strings.Contains(err.Error(), f.reason) {
					t.Fatalf("refused for another reason than the %s: %v", f.reason, err)
				}
			})
		}

		t.Run("replayed state and code refused", func(t *testing.T) {
			// The provider accepts a code again: only the relying party's own record stops it.
			s.idp.SetFaults(oidctest.Faults{ReusableCodes: true})
			defer s.idp.SetFaults(oidctest.Faults{})
			b := s.browser()
			back := s.begin(b, "u-rita")
			cookie := s.attemptCookie(b)
			if _, err := s.finish(b, back); err != nil {
				t.Fatal(err)
			}
			// The same answer with the same attempt cookie, on the other instance: the state is used.
			u, _ := url.Parse(s.srv.URL)
			b.Jar.SetCookies(u, []*http.Cookie{cookie})
			s.instance.Add(1)
			_, err := s.finish(b, back)
			s.instance.Add(1)
			wantErr(t, err, oidclogin.ErrReplayed)

			// The code under a fresh attempt's own state: the code is used.
			fresh := s.browser()
			res, err := fresh.Get(s.srv.URL + "/start")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			to, _ := res.Location()
			replay := *back
			q := replay.Query()
			q.Set("state", to.Query().Get("state"))
			replay.RawQuery = q.Encode()
			_, err = s.finish(fresh, &replay)
			wantErr(t, err, oidclogin.ErrReplayed)
		})

		t.Run("tampered state refused", func(t *testing.T) {
			b := s.browser()
			back := s.begin(b, "u-rita")
			q := back.Query()
			q.Set("state", q.Get("state")+"x")
			back.RawQuery = q.Encode()
			_, err := s.finish(b, back)
			wantErr(t, err, oidclogin.ErrState)
		})

		t.Run("tampered attempt cookie refused", func(t *testing.T) {
			b := s.browser()
			back := s.begin(b, "u-rita")
			c := s.attemptCookie(b)
			c.Value = strings.Replace(c.Value, ".", "x.", 1)
			u, _ := url.Parse(s.srv.URL)
			b.Jar.SetCookies(u, []*http.Cookie{c})
			_, err := s.finish(b, back)
			wantErr(t, err, oidclogin.ErrNoAttempt)
		})

		t.Run("another browser's answer refused", func(t *testing.T) {
			back := s.begin(s.browser(), "u-rita")
			_, err := s.finish(s.browser(), back)
			wantErr(t, err, oidclogin.ErrNoAttempt)
		})

		t.Run("expired attempt refused", func(t *testing.T) {
			b := s.browser()
			back := s.begin(b, "u-rita")
			s.skew.Store(int64(oidclogin.AttemptLifetime + time.Minute))
			defer s.skew.Store(0)
			// The browser may still hold the cookie (a clock that differs, a copy): its own expiry
			// decides.
			_, err := s.finish(b, back)
			wantErr(t, err, oidclogin.ErrExpired)
		})

		t.Run("provider error refused", func(t *testing.T) {
			b := s.browser()
			back := s.begin(b, "u-rita")
			q := back.Query()
			q.Del("code")
			q.Set("error", "access_denied")
			back.RawQuery = q.Encode()
			_, err := s.finish(b, back)
			wantErr(t, err, oidclogin.ErrDenied)
		})
	})
}

// A provider away at the first sign-in: the sign-in fails as unavailable, for a few seconds
// without asking the provider again, and works once it is back.
func TestProviderAway(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		s := newSite(t, st)
		s.idp.AddUser(oidctest.User{Email: "rita@example.pt", EmailVerified: true})
		s.idp.SetFaults(oidctest.Faults{Down: true})
		rp := s.rp()
		for range 3 {
			_, err := rp.Begin(context.Background(), httptest.NewRecorder(), "/staff")
			wantErr(t, err, oidclogin.ErrUnavailable)
		}
		if n := s.idp.Requests(); n != 1 {
			t.Fatalf("the provider was asked %d times within seconds of its failure", n)
		}
		s.idp.SetFaults(oidctest.Faults{})
		s.skew.Store(int64(time.Minute))
		defer s.skew.Store(0)
		b := s.browser()
		if who, err := s.finish(b, s.begin(b, "rita@example.pt")); err != nil || who.Email != "rita@example.pt" {
			t.Fatalf("after the provider came back: %+v %v", who, err)
		}
	})
}

func TestCheckIssuer(t *testing.T) {
	for issuer, ok := range map[string]bool{
		"https://login.example.pt/realms/staff": true,
		"http://127.0.0.1:9000":                 true,
		"http://localhost:8080/oidc":            true,
		"http://[::1]:9000":                     true,
		"http://login.example.pt":               false,
		"https://login.example.pt/?x=1":         false,
		"https://user:pw@login.example.pt":      false,
		"ftp://login.example.pt":                false,
		"login.example.pt":                      false,
	} {
		if err := oidclogin.CheckIssuer(issuer); (err == nil) != ok {
			t.Errorf("%s: %v", issuer, err)
		}
	}
}
