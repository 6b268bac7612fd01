// Package oidctest starts a real OpenID Connect provider (zitadel's certified pkg/op) in-process on
// a loopback listener, for tests of assistd's console sign-in: one confidential web client, users
// the test defines (an email and whether it is verified), a login page that signs in whoever is
// named, and faults a test can switch on to make the provider misbehave.
package oidctest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/text/language"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is someone the provider can sign in.
type User struct {
	ID            string // the subject; the email when empty
	Email         string
	EmailVerified bool
	Name          string
}

// Faults make the provider misbehave from the next authorization request on.
type Faults struct {
	WrongNonce     bool // the ID token carries a nonce other than the one asked for
	UnpublishedKey bool // the ID token is signed with a key the provider does not publish
	ExpiredIDToken bool // the ID token expired before it was issued
	ReusableCodes  bool // a code can be exchanged again after its first use
	Down           bool // every endpoint answers 503, as a provider in maintenance
	// UserinfoOnly keeps the email out of the ID token: the client must ask the userinfo
	// endpoint for it, as with many providers.
	UserinfoOnly bool
}

// Provider is a running OpenID provider.
type Provider struct {
	Issuer       string // http://127.0.0.1:PORT
	ClientID     string
	ClientSecret string
	store        *store
	srv          *http.Server
	requests     atomic.Int64
}

// Start starts a provider whose client may be sent back to redirectURL (more with AllowRedirect).
// It stops when the test ends.
func Start(t testing.TB, redirectURL string) *Provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("oidctest: listen: %v", err)
	}
	p := &Provider{Issuer: "http://" + ln.Addr().String(), ClientID: "assistd-" + randomID()[:8], ClientSecret: randomID() + randomID()}
	c := &client{id: p.ClientID, secret: p.ClientSecret}
	if redirectURL != "" {
		c.redirects = []string{redirectURL}
	}
	if p.store, err = newStore(c); err != nil {
		t.Fatalf("oidctest: signing key: %v", err)
	}
	c.store = p.store
	cfg := &op.Config{
		CryptoKey:          sha256.Sum256([]byte(p.ClientSecret)),
		CodeMethodS256:     true,
		AuthMethodPost:     true,
		SupportedUILocales: []language.Tag{language.English},
	}
	provider, err := op.NewProvider(cfg, p.store, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatalf("oidctest: provider: %v", err)
	}
	mux := http.NewServeMux()
	login := &loginPage{store: p.store, callback: op.AuthCallbackURL(provider)}
	mux.Handle("/login", op.NewIssuerInterceptor(provider.IssuerFromRequest).Handler(login))
	mux.Handle("/", provider)
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		if c.faults().Down {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	})
	p.srv = &http.Server{Handler: counted, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.srv.Shutdown(ctx)
	})
	return p
}

// Requests is how many requests the provider received.
func (p *Provider) Requests() int { return int(p.requests.Load()) }

// AddUser lets a user sign in.
func (p *Provider) AddUser(u User) {
	if u.ID == "" {
		u.ID = u.Email
	}
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.users[u.ID] = u
}

// AllowRedirect registers one more redirect URL of the client.
func (p *Provider) AllowRedirect(redirectURL string) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.client.redirects = append(p.store.client.redirects, redirectURL)
}

// SetFaults makes the provider misbehave (or, with Faults{}, behave) from now on.
func (p *Provider) SetFaults(f Faults) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.faults = f
}

// SignIn plays the browser at the provider: it opens authURL (the client's redirect to the
// provider), signs in as login (a user's email or id) on the login page, and returns where the provider sends the browser
// back to, without following it. c's cookie jar, if any, is used and kept.
func (p *Provider) SignIn(c *http.Client, authURL, login string) (*url.URL, error) {
	host := strings.TrimPrefix(p.Issuer, "http://")
	b := *c
	b.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if r.URL.Host != host || len(via) > 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}
	res, err := b.Get(authURL)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	id := res.Request.URL.Query().Get("authRequestID")
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/login" || id == "" {
		if loc, err := res.Location(); err == nil {
			return loc, nil // sent back at once, with an error
		}
		return nil, fmt.Errorf("oidctest: no login page but %d %s: %s", res.StatusCode, res.Request.URL, body)
	}
	res, err = b.PostForm(p.Issuer+"/login", url.Values{"authRequestID": {id}, "email": {login}})
	if err != nil {
		return nil, err
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode == http.StatusUnauthorized {
		return nil, ErrNoUser
	}
	loc, err := res.Location()
	if err != nil {
		return nil, fmt.Errorf("oidctest: sign-in answered %d: %s", res.StatusCode, body)
	}
	return loc, nil
}

// loginPage is the provider's own sign-in page: it signs in whoever is named, when the provider
// knows them (the password step of a real provider is beside the point here).
type loginPage struct {
	store    *store
	callback func(context.Context, string) string
}

func (l *loginPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form method="post" action="/login"><input type="hidden" name="authRequestID" value="%s">`+
			`<input name="email"><button>Sign in</button></form>`, html.EscapeString(r.URL.Query().Get("authRequestID")))
	case http.MethodPost:
		id := r.PostFormValue("authRequestID")
		if err := l.store.completeLogin(id, r.PostFormValue("email")); err != nil {
			http.Error(w, "unknown user or request", http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, l.callback(r.Context(), id), http.StatusFound)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// client is the one client registered: a confidential web application using the code flow.
type client struct {
	id, secret string
	redirects  []string
	store      *store
}

func (c *client) GetID() string { return c.id }
func (c *client) RedirectURIs() []string {
	c.store.mu.Lock()
	defer c.store.mu.Unlock()
	return slices.Clone(c.redirects)
}
func (c *client) PostLogoutRedirectURIs() []string    { return nil }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType        { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(id string) string           { return "/login?authRequestID=" + url.QueryEscape(id) }
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) DevMode() bool                       { return false }
func (c *client) IsScopeAllowed(string) bool          { return false }
func (c *client) ClockSkew() time.Duration            { return 0 }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) faults() Faults {
	c.store.mu.Lock()
	defer c.store.mu.Unlock()
	return c.store.faults
}

func (c *client) IDTokenLifetime() time.Duration {
	if c.faults().ExpiredIDToken {
		return -10 * time.Minute
	}
	return time.Hour
}

func (c *client) IDTokenUserinfoClaimsAssertion() bool { return !c.faults().UserinfoOnly }

// ErrNoUser is what SignIn reports when the login page does not know the email.
var ErrNoUser = errors.New("oidctest: unknown user")
