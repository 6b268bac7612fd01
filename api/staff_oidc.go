package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/assistd/assistd/internal/oidclogin"
	"github.com/assistd/assistd/storage"
)

// Console sign-in with the company's identity provider (OpenID Connect), when configured: the
// sign-in page offers "Entrar com a conta da empresa", /staff/oidc/start sends the browser to the
// provider, and /staff/oidc/callback takes it back, matches the verified email to an active
// member (without regard to case) and starts the same console session a staff link starts,
// recorded as signed in via "oidc". docs/staff-sign-in.md says how to register assistd at the
// provider; internal/oidclogin holds the protocol.

const (
	oidcCookie   = "assistd_oidc" // the attempt between start and callback
	oidcPath     = "/staff/oidc"
	oidcCallback = oidcPath + "/callback"
)

// OIDCConfig names the identity provider and assistd's client there; an empty Issuer: off.
type OIDCConfig struct {
	Issuer, ClientID, ClientSecret string
}

// newOIDC builds the relying party, or nil when no provider is configured.
func (s *Server) newOIDC() (*oidclogin.RelyingParty, error) {
	c := s.cfg.OIDC
	if c.Issuer == "" {
		return nil, nil
	}
	return oidclogin.New(oidclogin.Config{Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret,
		RedirectURL: s.cfg.PublicURL + oidcCallback, CookieName: oidcCookie, CookiePath: oidcPath, SecureCookie: s.secureCookies(),
		Now: s.now,
		Once: func(ctx context.Context, key string, expires time.Time) (bool, error) {
			first, _, err := s.store.UseSignInLink(ctx, key, expires)
			return first, err
		}})
}

// oidcRoutes declares the sign-in with the identity provider and offers it on the sign-in page.
func (s *Server) oidcRoutes(m *http.ServeMux) {
	rp, err := s.newOIDC()
	if err != nil {
		// The command checks the settings before it builds the server: this is a programming error.
		panic(err)
	}
	if rp == nil {
		return
	}
	s.oidc = rp
	s.AddSignInMethod("staff.signin.oidc", oidcPath+"/start")
	m.HandleFunc("GET "+oidcPath+"/start", s.staffOIDCStart)
	m.HandleFunc("GET "+oidcCallback, s.staffOIDCCallback)
}

func (s *Server) staffOIDCStart(w http.ResponseWriter, r *http.Request) {
	q := &request{w: w, r: r, lang: s.pageLanguage(w, r, "")}
	to, err := s.oidc.Begin(r.Context(), w, localPath(r.URL.Query().Get("next"), "/staff"))
	if err != nil {
		s.log.Warn("the identity provider did not answer", "err", err)
		s.showMessage(q, http.StatusServiceUnavailable, "staff.oidc.unavailable.title", "staff.oidc.unavailable.text",
			pageLink{"staff.signin", "/staff/login"})
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (s *Server) staffOIDCCallback(w http.ResponseWriter, r *http.Request) {
	q := &request{w: w, r: r, lang: s.pageLanguage(w, r, "")}
	back := pageLink{"staff.signin", "/staff/login"}
	who, err := s.oidc.Finish(r.Context(), w, r)
	switch {
	case errors.Is(err, oidclogin.ErrUnavailable):
		s.log.Warn("console sign-in with the identity provider could not be completed", "err", err)
		s.showMessage(q, http.StatusServiceUnavailable, "staff.oidc.unavailable.title", "staff.oidc.unavailable.text", back)
		return
	case errors.Is(err, oidclogin.ErrNoEmail), errors.Is(err, oidclogin.ErrEmailUnverified):
		s.log.Warn("console sign-in with the identity provider refused", "reason", err)
		if !s.pageAuthFailed(q, "oidc") {
			s.showMessage(q, http.StatusForbidden, "staff.oidc.email.title", "staff.oidc.email.text", back)
		}
		return
	case err != nil:
		s.log.Warn("console sign-in with the identity provider refused", "reason", err)
		if !s.pageAuthFailed(q, "oidc") {
			s.showMessage(q, http.StatusUnauthorized, "staff.oidc.failed.title", "staff.oidc.failed.text", back)
		}
		return
	}
	m, err := s.store.ActiveStaffMemberByEmail(r.Context(), who.Email)
	if errors.Is(err, storage.ErrNotFound) {
		s.log.Warn("console sign-in with the identity provider: no active member has the email", "email", who.Email, "subject", who.Subject)
		if !s.pageAuthFailed(q, "oidc") {
			v := s.newView(q, "staff.oidc.unknown.title", nil)
			v.Page = messagePage{Heading: v.T("staff.oidc.unknown.title"), Text: v.T("staff.oidc.unknown.text", who.Email),
				Links: []pageLink{{Label: v.T("staff.signin"), URL: "/staff/login"}}}
			s.render(w, r, http.StatusForbidden, "message", v)
		}
		return
	}
	if err != nil {
		s.pageError(q, err)
		return
	}
	s.StartStaffSession(w, m.ID, storage.ViaOIDC)
	s.log.Info("console sign-in with the identity provider", "member", m.ID)
	http.Redirect(w, r, localPath(who.ReturnTo, "/staff"), http.StatusSeeOther)
}
