// Package oidclogin signs a member of staff in with the company's identity provider over OpenID
// Connect: the authorization code flow with PKCE (S256), state and nonce, as a confidential
// client. Begin sends the browser to the provider; Finish, at the redirect URL, checks what comes
// back and returns the verified email of whoever signed in. Matching that email to a member is
// the caller's.
//
// What an attempt needs to be finished (state, nonce, PKCE verifier, the page to return to, its
// expiry) travels in a cookie signed with HMAC-SHA256, so any instance behind a load balancer can
// finish an attempt another began. Each state and each code is recorded as used, in the database
// (Once), the first time it is presented: a second presentation is refused on every instance.
package oidclogin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// AttemptLifetime is how long a sign-in attempt may take, from Begin to Finish.
const AttemptLifetime = 10 * time.Minute

// Scopes asked for: the identity, its email, and the name.
var Scopes = []string{oidc.ScopeOpenID, "email", "profile"}

// Errors of Finish; each is wrapped with the detail. A caller shows the first four as "try
// again", the email ones as "this account cannot sign in", ErrUnavailable as an outage.
var (
	ErrNoAttempt       = errors.New("oidclogin: no sign-in attempt in this browser, or it was tampered with")
	ErrExpired         = errors.New("oidclogin: the sign-in attempt expired")
	ErrState           = errors.New("oidclogin: the state does not match this browser's attempt")
	ErrReplayed        = errors.New("oidclogin: this state or code was already used")
	ErrDenied          = errors.New("oidclogin: the identity provider did not sign anyone in")
	ErrToken           = errors.New("oidclogin: the identity provider's answer did not verify")
	ErrNoEmail         = errors.New("oidclogin: the identity provider gave no email")
	ErrEmailUnverified = errors.New("oidclogin: the identity provider does not say the email is verified")
	ErrUnavailable     = errors.New("oidclogin: the identity provider or the database did not answer")
)

// Once records the first use of a value (a hash: the store never sees a state or a code) until
// expires, and reports whether this use was the first, across every instance.
type Once func(ctx context.Context, key string, expires time.Time) (first bool, err error)

// Config configures a relying party.
type Config struct {
	Issuer, ClientID, ClientSecret string
	RedirectURL                    string // where the provider sends the browser back: PUBLIC_URL/staff/oidc/callback
	CookieName, CookiePath         string // of the attempt cookie; CookiePath must cover RedirectURL's path
	SecureCookie                   bool   // the site is served over https
	Once                           Once
	HTTPClient                     *http.Client     // for calls to the provider; default: 10 s timeout
	Now                            func() time.Time // default time.Now
}

// RelyingParty runs sign-ins with one provider. It asks the provider for its discovery document
// at the first sign-in (and again after a failure), so that an instance starts while the provider
// is away.
type RelyingParty struct {
	cfg Config
	key []byte

	mu          sync.Mutex
	provider    *oidc.Provider
	failed      error     // the last discovery's failure,
	failedUntil time.Time // answered again until then rather than asking a provider that is away
}

// rediscoverAfter is how long a failed discovery is answered from memory: while the provider is
// away, sign-ins fail at once instead of each waiting for the provider in turn.
const rediscoverAfter = 5 * time.Second

// New checks cfg and returns a relying party.
func New(cfg Config) (*RelyingParty, error) {
	if err := CheckIssuer(cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.RedirectURL == "" || cfg.Once == nil || cfg.CookieName == "" {
		return nil, errors.New("oidclogin: client id, client secret, redirect URL, cookie name and Once are required")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CookiePath == "" {
		cfg.CookiePath = "/"
	}
	// The attempt cookie's key comes from the client secret, which every instance shares and
	// nobody outside the company and its provider knows.
	return &RelyingParty{cfg: cfg, key: hmacSum([]byte(cfg.ClientSecret), "assistd oidc attempt key")}, nil
}

// CheckIssuer accepts an issuer URL: https, or http on a loopback address (a provider on the same
// machine, or in tests); no query, fragment or credentials.
func CheckIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an issuer URL such as https://login.example.pt/realms/staff", issuer)
	}
	if u.Scheme == "https" || u.Scheme == "http" && loopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("%q must be https (http only on a loopback address)", issuer)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (rp *RelyingParty) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(context.WithValue(ctx, oauth2.HTTPClient, rp.cfg.HTTPClient), rp.cfg.HTTPClient)
}

// discover returns the provider, fetching its discovery document if not done yet.
func (rp *RelyingParty) discover(ctx context.Context) (*oidc.Provider, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.provider != nil {
		return rp.provider, nil
	}
	now := rp.cfg.Now()
	if now.Before(rp.failedUntil) {
		return nil, rp.failed
	}
	p, err := oidc.NewProvider(rp.ctx(ctx), rp.cfg.Issuer)
	if err != nil {
		rp.failed, rp.failedUntil = fmt.Errorf("%w: discovery: %v", ErrUnavailable, err), now.Add(rediscoverAfter)
		return nil, rp.failed
	}
	rp.provider = p
	return p, nil
}

func (rp *RelyingParty) oauth(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: rp.cfg.ClientID, ClientSecret: rp.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: rp.cfg.RedirectURL, Scopes: Scopes}
}

// attempt is what the cookie of one sign-in attempt carries.
type attempt struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r"`
	Expires  int64  `json:"e"` // Unix seconds
}

// Begin starts an attempt that will come back to returnTo (a local path the caller checked): it
// sets the attempt cookie and returns the provider's URL to send the browser to.
func (rp *RelyingParty) Begin(ctx context.Context, w http.ResponseWriter, returnTo string) (string, error) {
	p, err := rp.discover(ctx)
	if err != nil {
		return "", err
	}
	a := attempt{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), ReturnTo: returnTo,
		Expires: rp.cfg.Now().Add(AttemptLifetime).Unix()}
	rp.setCookie(w, rp.encode(a), int(AttemptLifetime.Seconds()))
	return rp.oauth(p).AuthCodeURL(a.State, oidc.Nonce(a.Nonce), oauth2.S256ChallengeOption(a.Verifier)), nil
}

// Identity is who signed in.
type Identity struct {
	Email    string // as the provider gave it, verified by it
	Subject  string // the provider's id of the account
	ReturnTo string // the page the attempt was begun for
}

// Finish completes the attempt the provider sent the browser back with. Whatever the outcome, the
// attempt cookie is cleared: an attempt is finished once.
func (rp *RelyingParty) Finish(ctx context.Context, w http.ResponseWriter, r *http.Request) (Identity, error) {
	rp.setCookie(w, "", -1)
	a, err := rp.readAttempt(r)
	if err != nil {
		return Identity{}, err
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(a.State)) != 1 {
		return Identity{}, ErrState
	}
	expires := time.Unix(a.Expires, 0)
	if err := rp.once(ctx, "state", a.State, expires); err != nil {
		return Identity{}, err
	}
	if e := q.Get("error"); e != "" {
		return Identity{}, fmt.Errorf("%w: %.100q", ErrDenied, e)
	}
	code := q.Get("code")
	if code == "" {
		return Identity{}, fmt.Errorf("%w: no code", ErrDenied)
	}
	if err := rp.once(ctx, "code", code, rp.cfg.Now().Add(AttemptLifetime)); err != nil {
		return Identity{}, err
	}
	p, err := rp.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	tok, err := rp.oauth(p).Exchange(rp.ctx(ctx), code, oauth2.VerifierOption(a.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return Identity{}, fmt.Errorf("%w: code exchange: %s", ErrDenied, re.ErrorCode)
		}
		return Identity{}, fmt.Errorf("%w: code exchange: %v", ErrUnavailable, err)
	}
	return rp.identity(ctx, p, tok, a)
}

// identity verifies the ID token of a token response and finds the verified email.
func (rp *RelyingParty) identity(ctx context.Context, p *oidc.Provider, tok *oauth2.Token, a attempt) (Identity, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, fmt.Errorf("%w: no ID token", ErrToken)
	}
	// Issuer, audience, expiry and signature; then the nonce, which ties the token to this
	// browser's attempt.
	idt, err := p.Verifier(&oidc.Config{ClientID: rp.cfg.ClientID, Now: rp.cfg.Now}).Verify(rp.ctx(ctx), raw)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(a.Nonce)) != 1 {
		return Identity{}, fmt.Errorf("%w: the nonce is not this attempt's", ErrToken)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Identity{}, fmt.Errorf("%w: %v", ErrToken, err)
		}
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("%w: claims: %v", ErrToken, err)
	}
	email, verified := claims.Email, claims.EmailVerified
	if email == "" {
		// Many providers keep the email for the userinfo endpoint.
		info, err := p.UserInfo(rp.ctx(ctx), oauth2.StaticTokenSource(tok))
		if err != nil {
			return Identity{}, fmt.Errorf("%w: userinfo: %v", ErrUnavailable, err)
		}
		if info.Subject != idt.Subject {
			return Identity{}, fmt.Errorf("%w: userinfo names another subject", ErrToken)
		}
		email, verified = info.Email, info.EmailVerified
	}
	email = strings.TrimSpace(email)
	if email == "" {
		return Identity{}, ErrNoEmail
	}
	if !validEmail(email) {
		return Identity{}, fmt.Errorf("%w: not an address", ErrNoEmail)
	}
	// Matching members by email is safe only for addresses the provider checked: a missing
	// email_verified is a refusal as much as false.
	if v, ok := verified.(bool); !ok || !v {
		if s, ok := verified.(string); !ok || s != "true" {
			return Identity{}, ErrEmailUnverified
		}
	}
	return Identity{Email: email, Subject: idt.Subject, ReturnTo: a.ReturnTo}, nil
}

func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && len(s) <= 254 &&
		strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) < 0
}

// once records the first use of a state or a code.
func (rp *RelyingParty) once(ctx context.Context, kind, value string, expires time.Time) error {
	sum := sha256.Sum256([]byte("oidc " + kind + "\n" + rp.cfg.Issuer + "\n" + value))
	first, err := rp.cfg.Once(ctx, hex.EncodeToString(sum[:]), expires)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if !first {
		return fmt.Errorf("%w (%s)", ErrReplayed, kind)
	}
	return nil
}

func (rp *RelyingParty) readAttempt(r *http.Request) (attempt, error) {
	c, err := r.Cookie(rp.cfg.CookieName)
	if err != nil {
		return attempt{}, ErrNoAttempt
	}
	p, sig, ok := strings.Cut(c.Value, ".")
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(got, hmacSum(rp.key, p)) {
		return attempt{}, ErrNoAttempt
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	var a attempt
	if err != nil || json.Unmarshal(payload, &a) != nil || a.State == "" || a.Nonce == "" || a.Verifier == "" {
		return attempt{}, ErrNoAttempt
	}
	if !rp.cfg.Now().Before(time.Unix(a.Expires, 0)) {
		return attempt{}, ErrExpired
	}
	return a, nil
}

func (rp *RelyingParty) encode(a attempt) string {
	payload, _ := json.Marshal(a)
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(hmacSum(rp.key, p))
}

// setCookie sets the attempt cookie. SameSite=Lax: the provider sends the browser back with a
// top-level GET, which carries Lax cookies.
func (rp *RelyingParty) setCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: rp.cfg.CookieName, Value: value, Path: rp.cfg.CookiePath, MaxAge: maxAge,
		HttpOnly: true, Secure: rp.cfg.SecureCookie, SameSite: http.SameSiteLaxMode})
}

func hmacSum(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
