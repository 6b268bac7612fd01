package api

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
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/assistd/assistd/storage"
)

// Sign-in links.
//
// The hosting company's portal keeps its own login and sends a signed-in customer to
// PUBLIC_URL/login?token=TOKEN, where
//
//	payload = "customer" + "\n" + customerID + "\n" + expiry [+ "\n" + nonce]   (expiry: Unix seconds, decimal)
//	TOKEN   = base64url(payload) + "." + base64url(HMAC-SHA256(ASSISTD_PORTAL_SECRET, payload))
//
// (base64url without padding). Staff links are the same with "staff" and the member's id, signed
// with their own key ASSISTD_STAFF_LINK_SECRET (never the portal's), at
// PUBLIC_URL/staff/login?token=TOKEN; they sign in only an active member. A token is refused after its expiry, so links
// should live minutes, and it signs in once (see signInOnce); the optional nonce (1 to 64 of
// A-Z a-z 0-9 - _) makes two links minted in the same second differ. On success assistd sets
// its own session cookie: a signed, stateless value (kind, subject, expiry, CSRF nonce) that is
// HttpOnly, SameSite=Lax, and Secure when the public URL is https. Signing out lists the session as revoked until its expiry, so that a copy
// of the cookie stops working too. The portal can also sign a customer, or a member of staff,
// out everywhere: every session of theirs that began before that moment is refused
// (POST /api/v1/customers/{cid}/sessions/revoke, /api/v1/staff/members/{sid}/sessions/revoke),
// and a customer can do the same from the client area (POST /logout/everywhere).

// Kinds of signed values; the kind is inside the signed payload so that one kind is never
// accepted as another.
const (
	kindCustomer = "customer"
	kindStaff    = "staff"
	kindLogin    = "login" // the anonymous session of a sign-in form, for its CSRF token
)

// Cookie names and lifetimes.
const (
	customerCookie   = "assistd_session"
	staffCookie      = "assistd_staff"
	loginCookie      = "assistd_login"  // the staff sign-in form's
	signInCookie     = "assistd_signin" // the page of a customer's sign-in link not followed from the portal
	langCookie       = "assistd_lang"
	customerLifetime = 8 * time.Hour
	staffLifetime    = 12 * time.Hour
	loginLifetime    = time.Hour
	maxStaffName     = 100
)

var errBadToken = errors.New("api: invalid or expired sign-in token")

// MaxLoginTTL is the longest a sign-in link may live. A token that claims a later expiry is
// refused even when its signature is good, so a link minted by mistake for a year is worthless.
const MaxLoginTTL = 24 * time.Hour

// LoginToken signs a sign-in token for a customer (kind "customer") or a member of staff (kind
// "staff") that is valid until expires, once. It carries a random nonce, so that two links made
// for the same person in the same second are two links.
func LoginToken(secret, kind, subject string, expires time.Time) string {
	payload := kind + "\n" + subject + "\n" + strconv.FormatInt(expires.Unix(), 10) + "\n" + newNonce()
	return b64(payload) + "." + b64(string(mac([]byte(secret), payload)))
}

// CustomerLoginURL is the link that signs a customer in, valid for ttl.
func CustomerLoginURL(publicURL, secret, customerID string, ttl time.Duration) string {
	return strings.TrimRight(publicURL, "/") + "/login?token=" + url.QueryEscape(LoginToken(secret, kindCustomer, customerID, time.Now().Add(ttl)))
}

// StaffLoginURL is the link that signs a member of staff in to the console, valid for ttl.
func StaffLoginURL(publicURL, secret, staff string, ttl time.Duration) string {
	return strings.TrimRight(publicURL, "/") + "/staff/login?token=" + url.QueryEscape(LoginToken(secret, kindStaff, staff, time.Now().Add(ttl)))
}

// signInLink is what a verified sign-in token says.
type signInLink struct {
	subject string
	expires time.Time
	id      string // a hash of the token's signature: the link's identity once it is used
}

// verifyLoginToken checks a token of the given kind and returns what it says.
func verifyLoginToken(secret, kind, token string, now time.Time) (signInLink, error) {
	if secret == "" {
		return signInLink{}, errBadToken
	}
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return signInLink{}, errBadToken
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(got, mac([]byte(secret), string(payload))) {
		return signInLink{}, errBadToken
	}
	parts := strings.Split(string(payload), "\n")
	if len(parts) < 3 || len(parts) > 4 || parts[0] != kind || parts[1] == "" || (len(parts) == 4 && !validLinkNonce(parts[3])) {
		return signInLink{}, errBadToken
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) || time.Unix(exp, 0).After(now.Add(MaxLoginTTL+time.Minute)) {
		return signInLink{}, errBadToken
	}
	// The signature's bytes, not the token's text, name the link: base64 lets one value be
	// written in several ways, and each would otherwise be a fresh link.
	id := sha256.Sum256(append([]byte(kind+"\n"), got...))
	return signInLink{subject: parts[1], expires: time.Unix(exp, 0), id: hex.EncodeToString(id[:])}, nil
}

// signInGrace is how long after its first use a sign-in link still signs in: the second request
// of a double click leaves before the first one's answer, and its cookie, arrive.
const signInGrace = 10 * time.Second

// signInOnce signs in with a verified link of the given kind, once: the link is recorded as used,
// and afterwards it signs nobody in, but within signInGrace of its first use (a double click)
// and for the browser already signed in with it (a reload, the back button). Anyone else is
// answered 401. It reports whether the caller should send the visitor on; when not, it has
// answered.
func (s *Server) signInOnce(q *request, link signInLink, cookie, kind string, lifetime time.Duration, usedText string, back pageLink) bool {
	first, firstUsed, err := s.store.UseSignInLink(q.ctx(), link.id, link.expires)
	if err != nil {
		s.pageError(q, err)
		return false
	}
	if first || s.now().Sub(firstUsed) < signInGrace {
		via := ""
		if kind == kindStaff {
			via = storage.ViaLink
		}
		s.startSessionVia(q.w, cookie, kind, link.subject, via, lifetime)
		return true
	}
	return s.usedByThisBrowser(q, link, cookie, kind, usedText, back)
}

// linkAlive reports whether a verified link still signs someone in, so that a page may say
// whose it is: unused, within signInGrace of its first use, or opened again by the browser it
// signed in. A dead link names nobody: it has answered 401, as signInOnce would.
func (s *Server) linkAlive(q *request, link signInLink, cookie, kind, usedText string, back pageLink) bool {
	firstUsed, used, err := s.store.SignInLinkUsed(q.ctx(), link.id)
	if err != nil {
		s.pageError(q, err)
		return false
	}
	if !used || s.now().Sub(firstUsed) < signInGrace {
		return true
	}
	return s.usedByThisBrowser(q, link, cookie, kind, usedText, back)
}

// usedByThisBrowser reports whether a link used up earlier comes from the browser it signed in
// (a reload, the back button); anyone else is answered 401.
func (s *Server) usedByThisBrowser(q *request, link signInLink, cookie, kind, usedText string, back pageLink) bool {
	ss, ok, err := s.checkSession(q.r, cookie, kind)
	if err != nil {
		s.pageError(q, err)
		return false
	}
	if ok && ss.Subject == link.subject {
		return true
	}
	s.log.Warn("a used sign-in link was used again", "kind", kind, "subject", link.subject)
	if s.pageAuthFailed(q, kind+"_link") {
		return false
	}
	s.showMessage(q, http.StatusUnauthorized, "signin.used.title", usedText, back)
	return false
}

// validLinkNonce accepts the optional fourth line of a sign-in token: 1 to 64 letters, digits,
// dashes or underscores.
func validLinkNonce(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// session is what a session cookie carries.
type session struct {
	Kind    string `json:"k"`
	Subject string `json:"s"`
	Expires int64  `json:"e"`
	Nonce   string `json:"n"`           // random per sign-in; the CSRF token is derived from it
	Began   int64  `json:"b,omitempty"` // Unix microseconds; 0 in cookies from before it was kept
	Via     string `json:"v,omitempty"` // how a member signed in to the console: storage.ViaLink or ViaOIDC
}

// began is when a session started, for "sign out everywhere": cookies that do not say are
// taken to have started a full lifetime before their expiry.
func (ss session) began() time.Time {
	if ss.Began > 0 {
		return time.UnixMicro(ss.Began)
	}
	lifetime := customerLifetime
	if ss.Kind == kindStaff {
		lifetime = staffLifetime
	}
	return time.Unix(ss.Expires, 0).Add(-lifetime)
}

// deriveSessionKey makes the key of cookies and CSRF tokens from the portal secret, so that no
// further secret has to be configured; without a portal secret it is random per process
// (sessions then end with the process and do not cross instances).
func deriveSessionKey(portalSecret string) []byte {
	if portalSecret == "" {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		return k
	}
	return mac([]byte(portalSecret), "assistd session cookies")
}

// deriveStaffSessionKey makes the key of console cookies from the staff-side secrets only (the
// staff link key and the service token), so that holding the customers' portal secret never
// makes a console session; with neither it is random per process.
func deriveStaffSessionKey(staffLinkSecret, staffToken string) []byte {
	if staffLinkSecret == "" && staffToken == "" {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		return k
	}
	return mac([]byte(staffLinkSecret+"\n"+staffToken), "assistd staff session cookies")
}

// cookieKey is the key that signs the cookies of a kind of session: the console's has its own.
func (s *Server) cookieKey(kind string) []byte {
	if kind == kindStaff {
		return s.cfg.StaffSessionKey
	}
	return s.cfg.SessionKey
}

func newNonce() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) encodeSession(ss session) string {
	payload, _ := json.Marshal(ss)
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(mac(s.cookieKey(ss.Kind), "cookie\n"+p))
}

func (s *Server) decodeSession(value, kind string) (session, bool) {
	p, sig, ok := strings.Cut(value, ".")
	if !ok {
		return session{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(s.cookieKey(kind), "cookie\n"+p)) {
		return session{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return session{}, false
	}
	var ss session
	if json.Unmarshal(payload, &ss) != nil || ss.Kind != kind || ss.Nonce == "" || s.now().Unix() >= ss.Expires {
		return session{}, false
	}
	return ss, true
}

// readSession returns the valid session of a kind carried by a request's cookie: signed, not
// expired, and not signed out. A session that cannot be checked counts as none.
func (s *Server) readSession(r *http.Request, name, kind string) (session, bool) {
	ss, ok, err := s.checkSession(r, name, kind)
	if err != nil {
		s.log.Warn("session check failed; the visitor is treated as signed out", "err", err)
		return session{}, false
	}
	return ss, ok
}

// checkSession is readSession, telling a session it could not check (the database did not
// answer) apart from no session: pages show the first as an outage, not as a sign-in.
func (s *Server) checkSession(r *http.Request, name, kind string) (session, bool, error) {
	c, err := r.Cookie(name)
	if err != nil {
		return session{}, false, nil
	}
	ss, ok := s.decodeSession(c.Value, kind)
	if !ok || kind == kindLogin {
		return ss, ok, nil
	}
	revoked, err := s.store.SessionRevoked(r.Context(), sessionKey(ss), ss.Kind, ss.Subject, ss.began())
	if err != nil {
		return session{}, false, err
	}
	if revoked {
		return session{}, false, nil
	}
	return ss, true, nil
}

// sessionKey names a session in the list of sessions signed out: a hash, so that the list
// holds nothing a cookie carries.
func sessionKey(ss session) string {
	sum := sha256.Sum256([]byte(ss.Kind + "\n" + ss.Nonce))
	return hex.EncodeToString(sum[:])
}

// revokeSession signs a session out for good: a copy of its cookie is refused too, until the
// session would have expired.
func (s *Server) revokeSession(ctx context.Context, ss session) error {
	return s.store.RevokeSession(ctx, sessionKey(ss), time.Unix(ss.Expires, 0))
}

func cookiePath(name string) string {
	switch name {
	case loginCookie:
		return "/staff/login"
	case signInCookie:
		return "/login"
	}
	return "/"
}

// startSession signs someone in by setting a fresh session cookie.
func (s *Server) startSession(w http.ResponseWriter, name, kind, subject string, lifetime time.Duration) session {
	return s.startSessionVia(w, name, kind, subject, "", lifetime)
}

// StartStaffSession signs an active member in to the console, by a way of signing in
// (storage.ViaLink, storage.ViaOIDC) that the reveal audit records.
func (s *Server) StartStaffSession(w http.ResponseWriter, memberID, via string) {
	s.startSessionVia(w, staffCookie, kindStaff, memberID, via, staffLifetime)
}

func (s *Server) startSessionVia(w http.ResponseWriter, name, kind, subject, via string, lifetime time.Duration) session {
	at := s.now()
	ss := session{Kind: kind, Subject: subject, Expires: at.Add(lifetime).Unix(), Nonce: newNonce(), Began: at.UnixMicro(), Via: via}
	http.SetCookie(w, &http.Cookie{Name: name, Value: s.encodeSession(ss), Path: cookiePath(name), MaxAge: int(lifetime.Seconds()),
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode})
	return ss
}

func (s *Server) endSession(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: cookiePath(name), MaxAge: -1, HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode})
}

func (s *Server) secureCookies() bool { return strings.HasPrefix(s.cfg.PublicURL, "https://") }

// csrfToken is the synchronizer token of a session: forms carry it, and a POST without the
// token of the session it comes with is refused.
func (s *Server) csrfToken(ss session) string {
	return base64.RawURLEncoding.EncodeToString(mac(s.cookieKey(ss.Kind), "csrf\n"+ss.Kind+"\n"+ss.Nonce))
}

func (s *Server) validCSRF(r *http.Request, ss session) bool {
	got := r.PostFormValue("csrf")
	want := s.csrfToken(ss)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// validStaffName accepts the name staff act under in the audit and the thread.
func validStaffName(name string) bool {
	return name != "" && utf8.ValidString(name) && utf8.RuneCountInString(name) <= maxStaffName &&
		!strings.ContainsAny(name, "\r\n\x00\t")
}

// localPath keeps a post-sign-in redirect on this site.
func localPath(next, fallback string) string {
	// Browsers drop tabs and newlines from a URL and read a backslash as a slash, so any of them
	// could turn "/\t/evil.example" into "//evil.example": refuse every such character.
	unsafe := strings.IndexFunc(next, func(r rune) bool { return r < 0x21 || r == 0x7f || r == '\\' }) >= 0
	if unsafe || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return fallback
	}
	return next
}

// revokeCustomerSessions signs a customer out everywhere (the portal calls it when the customer
// changes their password, or asks for it): every session begun before now is refused.
func (s *Server) revokeCustomerSessions(w http.ResponseWriter, r *http.Request) {
	cid := r.PathValue("cid")
	if !idPattern.MatchString(cid) {
		validationFailed(w, map[string]string{"id": "customer ids are 1 to 100 letters, digits, dots, dashes or underscores"})
		return
	}
	s.revokeAll(w, r, kindCustomer, cid)
}

// revokeStaffSessions signs a member out of the console everywhere.
func (s *Server) revokeStaffSessions(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	if _, err := s.memberByID(r.Context(), sid); !s.found(w, r, err, "staff_member_not_found", "No such staff member.") {
		return
	}
	s.revokeAll(w, r, kindStaff, sid)
}

func (s *Server) revokeAll(w http.ResponseWriter, r *http.Request, kind, subject string) {
	at, err := s.revokeSessionsOf(r.Context(), kind, subject, "api")
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]time.Time{"revoked_before": at})
}

// revokeSessionsOf signs one person out everywhere, for the API and for the client area's own
// "sign out on all devices": every session of theirs begun before the returned cutoff is refused.
func (s *Server) revokeSessionsOf(ctx context.Context, kind, subject, by string) (time.Time, error) {
	at, err := s.store.RevokeSessionsOf(ctx, kind, subject, max(customerLifetime, staffLifetime))
	if err != nil {
		return at, err
	}
	s.log.Info("sessions revoked", "kind", kind, "subject", subject, "by", by)
	return at, nil
}
