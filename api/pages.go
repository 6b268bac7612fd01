package api

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
	_ "time/tzdata" // the pages show times in Lisbon even where the system has no zone files
	"unicode"

	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/tickets"
)

// The client-area pages and the staff console: server-rendered html/template pages with a little
// progressive JavaScript. Every customer page reads the customer from the session, never from the
// URL, and every form carries the session's CSRF token.

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// pageTemplates are parsed once; each page is the layout plus its own file.
var pageTemplates = parsePageTemplates()

var lisbon = mustLocation("Europe/Lisbon")

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic("api: " + err.Error())
	}
	return loc
}

func parsePageTemplates() map[string]*template.Template {
	base := template.Must(template.New("layout.html").ParseFS(templateFiles, "templates/layout.html"))
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFiles, n))
	}
	return out
}

const maxFormBytes = 512 << 10

// view is what every page template receives.
type view struct {
	Lang      string
	Title     string
	CSRF      string
	Customer  *storage.Customer
	Staff     string
	PortalURL string
	LangURL   string // the same page in the other language
	OtherLang string
	Section   string // "customer" or "staff": which navigation to show
	Notice    string // a one-line confirmation of what was just done
	Page      any
	now       time.Time
	secretTTL time.Duration
	maxUpload string // the size limit of a file, worded
}

// PasswordLifetime says in the page's language how long a given password is kept: "72 horas".
func (v *view) PasswordLifetime() string { return mail.FormatTTL(v.secretTTL, v.Lang) }

// T translates a message key into the page's language.
// translate words a message in a language: English for "en", pt-PT otherwise.
func translate(lang, key string, args ...any) string {
	return (&view{Lang: lang}).T(key, args...)
}

func (v *view) T(key string, args ...any) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	text := m[0]
	if v.Lang == "en" {
		text = m[1]
	}
	if len(args) > 0 {
		return fmt.Sprintf(text, args...)
	}
	return text
}

// StatusLabel names a status in the page's language.
func (v *view) StatusLabel(st tickets.Status) string { return st.Label(v.Lang) }

// StatusDescription explains a status in the page's language.
func (v *view) StatusDescription(st tickets.Status) string { return st.Description(v.Lang) }

// Statuses lists every status in table order.
func (v *view) Statuses() []tickets.Status { return tickets.Statuses }

// Date shows a time in Lisbon, the way the page's language writes it.
func (v *view) Date(t time.Time) string {
	t = t.In(lisbon)
	if v.Lang == "en" {
		return t.Format("2 Jan 2006, 15:04")
	}
	return t.Format("02/01/2006 15:04")
}

// ISO is a time for a datetime attribute.
func (v *view) ISO(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Remaining says how long until a time, in hours and minutes.
func (v *view) Remaining(t time.Time) string {
	d := t.Sub(v.now)
	if d < 0 {
		d = 0
	}
	h, m := int(d.Hours()), int(d.Minutes())%60
	return v.T("time.remaining", h, m)
}

// Subject names a ticket's subject in the page's language.
func (v *view) Subject(t storage.Ticket) string { return t.SubjectLabel(v.Lang) }

// Department names a ticket's department in the page's language.
func (v *view) Department(t storage.Ticket) string { return t.DepartmentLabel(v.Lang) }

// PasswordState is what may be said of a ticket's password now.
func (v *view) PasswordState(t storage.Ticket) string { return t.PasswordState(v.now) }

// toTicketPage answers a form's address opened as a page (Enter in the address bar after a
// refused reply, say) with the ticket the form belongs to, in the client area or the console.
func toTicketPage(prefix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, prefix+url.PathEscape(r.PathValue("number")), http.StatusSeeOther)
	}
}

// pageNotFound answers any other address a browser asks for with the not-found page in the
// visitor's language, not Go's plain-text answers.
func (s *Server) pageNotFound(w http.ResponseWriter, r *http.Request) {
	q := &request{w: w, r: r}
	q.lang = s.pageLanguage(w, r, "")
	s.notFound(q)
}

// staticHandler serves the stylesheet and the script, cached for an hour, and lists nothing.
func staticHandler(files fs.FS) http.Handler {
	h := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// pageHeaders are sent with every page: nothing is cached (pages hold a customer's data), no
// script runs but ours, and no other site may frame the pages.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
}

// request is one page request: who asks, in which language, with which CSRF token.
type request struct {
	w        http.ResponseWriter
	r        *http.Request
	session  session
	customer storage.Customer // customer pages
	staff    string           // staff pages: the member's id
	name     string           // staff pages: the member's name, shown in the header
	lang     string
	files    *formFiles // what a multipart form brought
}

func (q *request) ctx() context.Context { return q.r.Context() }

// pageLanguage picks the language: a ?lang= switch (remembered in a cookie), then the remembered
// choice, then the customer's language, then pt-PT.
func (s *Server) pageLanguage(w http.ResponseWriter, r *http.Request, preferred string) string {
	if l := r.URL.Query().Get("lang"); l == "en" || l == "pt-PT" {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: s.secureCookies(),
			SameSite: http.SameSiteLaxMode})
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == "en" || c.Value == "pt-PT") {
		return c.Value
	}
	if preferred == "en" {
		return "en"
	}
	return "pt-PT"
}

func (s *Server) newView(q *request, title string, page any) *view {
	v := &view{Lang: q.lang, Title: title, PortalURL: s.cfg.PortalURL, Page: page, now: s.now(), secretTTL: s.cfg.SecretTTL,
		maxUpload: humanSize(s.maxBytes())}
	v.Title = v.T(title)
	if q.session.Nonce != "" {
		v.CSRF = s.csrfToken(q.session)
	}
	if q.customer.ID != "" {
		c := q.customer
		v.Customer = &c
		v.Section = "customer"
	}
	if q.staff != "" {
		v.Staff = q.name
		v.Section = "staff"
	}
	if v.Section == "" && (q.r.URL.Path == "/staff" || strings.HasPrefix(q.r.URL.Path, "/staff/")) {
		// The console's sign-in and its messages: the console's name and footer, not the
		// client area's.
		v.Section = "staff"
	}
	v.OtherLang = "en"
	if q.lang == "en" {
		v.OtherLang = "pt-PT"
	}
	u := *q.r.URL
	vals := u.Query()
	vals.Set("lang", v.OtherLang)
	u.RawQuery = vals.Encode()
	if q.r.Method != http.MethodGet {
		// The answer to a form has no address of its own to reload in the other language.
		u = url.URL{Path: "/tickets", RawQuery: "lang=" + v.OtherLang}
		if q.staff != "" {
			u.Path = "/staff"
		}
	}
	if strings.HasPrefix(q.r.URL.Path, oidcPath+"/") {
		// The answer of an identity-provider sign-in is used once: the other language is the
		// sign-in page's.
		u = url.URL{Path: "/staff/login", RawQuery: "lang=" + v.OtherLang}
	}
	v.LangURL = u.RequestURI()
	switch q.r.URL.Query().Get("done") {
	case "reply":
		v.Notice = v.T("notice.reply")
	case "closed":
		v.Notice = v.T("notice.closed")
	case "answer":
		v.Notice = v.T("notice.answer")
	case "status":
		v.Notice = v.T("notice.status")
	case "note", "priority", "transfer", "assignee", "saved_reply", "saved_reply_deleted":
		v.Notice = v.T("notice." + q.r.URL.Query().Get("done"))
	}
	return v
}

// render writes a page; a template failure is logged and answered with a plain error.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, v *view) {
	var buf bytes.Buffer
	if err := pageTemplates[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error("page template failed", "page", name, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	pageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(neutralise(buf.Bytes()))
}

// neutralise makes the characters of a page that steer how the text around them is shown,
// rather than showing anything, visible as U+FFFD: bidirectional embeddings, overrides and
// isolates (U+202A–U+202E, U+2066–U+2069: U+202E before "fdp.exe" shows it as "exe.pdf"), and
// control characters other than tab and line breaks. Customers' names and messages reach the
// staff console and the client area through here; the data itself is kept as it came.
func neutralise(page []byte) []byte {
	return bytes.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069', unicode.IsControl(r):
			return '\uFFFD'
		}
		return r
	}, page)
}

// messagePage is a page that only says something: an error, or what to do next.
type messagePage struct {
	Heading string
	Text    string
	Links   []pageLink
}

type pageLink struct {
	Label, URL string
}

func (s *Server) showMessage(q *request, code int, heading, text string, links ...pageLink) {
	v := s.newView(q, heading, nil)
	p := messagePage{Heading: v.T(heading), Text: v.T(text)}
	for _, l := range links {
		if l.URL == "" {
			continue
		}
		p.Links = append(p.Links, pageLink{Label: v.T(l.Label), URL: l.URL})
	}
	v.Page = p
	s.render(q.w, q.r, code, "message", v)
}

// pageError answers a failure the way storeError does for the API.
func (s *Server) pageError(q *request, err error) {
	if errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		s.showMessage(q, http.StatusServiceUnavailable, "error.unavailable.title", "error.unavailable.text")
		return
	}
	s.log.Error("page failed", "route", q.r.Pattern, "err", err)
	s.showMessage(q, http.StatusInternalServerError, "error.internal.title", "error.internal.text")
}

// pageFound answers for a failed lookup of a page and reports whether the page may go on: a
// missing row (or one out of reach) is the not-found page, anything else a storage error.
func (s *Server) pageFound(q *request, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, storage.ErrNotFound):
		s.notFound(q)
	default:
		s.pageError(q, err)
	}
	return false
}

func (s *Server) notFound(q *request) {
	home := "/tickets"
	if q.staff != "" {
		home = "/staff"
	}
	s.showMessage(q, http.StatusNotFound, "error.notfound.title", "error.notfound.text", pageLink{"nav.home", home})
}

// parseForm reads a POST body and checks its CSRF token against the session.
func (s *Server) parseForm(q *request) bool {
	if isMultipart(q.r) {
		return s.parseMultipartForm(q)
	}
	q.r.Body = http.MaxBytesReader(q.w, q.r.Body, maxFormBytes)
	if err := q.r.ParseForm(); err != nil {
		s.showMessage(q, http.StatusRequestEntityTooLarge, "error.form.title", "error.form.text")
		return false
	}
	if !s.validCSRF(q.r, q.session) {
		s.showMessage(q, http.StatusForbidden, "error.csrf.title", "error.csrf.text", pageLink{"nav.home", "/tickets"})
		return false
	}
	return true
}

// customerPage runs a handler for a signed-in customer (or, in demo mode, for the demo
// customer); POST forms are checked for their CSRF token first.
func (s *Server) customerPage(h func(q *request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := &request{w: w, r: r}
		ss, ok, err := s.checkSession(r, customerCookie, kindCustomer)
		if err != nil {
			q.lang = s.pageLanguage(w, r, "")
			s.pageError(q, err)
			return
		}
		if !ok && s.cfg.DemoCustomer != "" {
			ss, ok = s.startSession(w, customerCookie, kindCustomer, s.cfg.DemoCustomer, customerLifetime), true
		}
		if !ok {
			q.lang = s.pageLanguage(w, r, "")
			s.showMessage(q, http.StatusUnauthorized, "signin.needed.title", "signin.needed.text", pageLink{"nav.portal", s.cfg.PortalURL})
			return
		}
		q.session = ss
		cust, err := s.store.Customer(r.Context(), ss.Subject)
		if errors.Is(err, storage.ErrNotFound) {
			q.lang = s.pageLanguage(w, r, "")
			s.endSession(w, customerCookie)
			s.showMessage(q, http.StatusForbidden, "signin.unknown.title", "signin.unknown.text", pageLink{"nav.portal", s.cfg.PortalURL})
			return
		} else if err != nil {
			q.lang = s.pageLanguage(w, r, "")
			s.pageError(q, err)
			return
		}
		q.customer = cust
		q.lang = s.pageLanguage(w, r, cust.Language)
		if r.Method == http.MethodPost && !s.parseForm(q) {
			return
		}
		h(q)
	})
}

// staffPage runs a handler for a signed-in member of staff who is still active (asked of the
// database at every page); others are sent to the sign-in.
func (s *Server) staffPage(h func(q *request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := &request{w: w, r: r}
		ss, m, ok := s.signedInMember(q)
		if !ok {
			return
		}
		via := ss.Via
		if via == "" {
			via = storage.ViaLink
		}
		q.r = withCaller(r, &staffCaller{member: &m, via: via})
		q.session, q.staff, q.name = ss, ss.Subject, m.Name
		q.lang = s.pageLanguage(w, r, m.Language)
		if r.Method == http.MethodPost {
			if !s.parseForm(q) {
				return
			}
			// A form may take a while to arrive: the member is asked for again once it has, so
			// one disabled (or signed out everywhere) meanwhile acts no more.
			if _, _, ok := s.signedInMember(q); !ok {
				return
			}
		}
		h(q)
	})
}

// signedInMember returns the session of q's staff cookie and its member, still active. When
// there is none it has answered: the sign-in for a page, a message for a form, an error page when
// the database did not answer.
func (s *Server) signedInMember(q *request) (session, storage.StaffMember, bool) {
	w, r := q.w, q.r
	ss, ok, err := s.checkSession(r, staffCookie, kindStaff)
	if err != nil {
		q.lang = s.pageLanguage(w, r, "")
		s.pageError(q, err)
		return ss, storage.StaffMember{}, false
	}
	if !ok {
		if r.Method == http.MethodGet {
			http.Redirect(w, r, "/staff/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return ss, storage.StaffMember{}, false
		}
		q.lang = s.pageLanguage(w, r, "")
		s.showMessage(q, http.StatusUnauthorized, "staff.signin.needed.title", "staff.signin.needed.text", pageLink{"staff.signin", "/staff/login"})
		return ss, storage.StaffMember{}, false
	}
	m, err := s.activeMember(r.Context(), ss.Subject)
	if errors.Is(err, storage.ErrNotFound) {
		// Disabled (or removed) since signing in: the session ends here, on every instance.
		s.endSession(w, staffCookie)
		q.lang = s.pageLanguage(w, r, "")
		s.showMessage(q, http.StatusUnauthorized, "staff.signin.needed.title", "staff.signin.needed.text", pageLink{"staff.signin", "/staff/login"})
		return ss, m, false
	} else if err != nil {
		q.lang = s.pageLanguage(w, r, "")
		s.pageError(q, err)
		return ss, m, false
	}
	return ss, m, true
}

// login signs a customer in with the portal's token and sends them on. A link the browser
// followed from the portal (its Referer is the portal's origin) signs in at once. Any other visit
// (a link opened from an email or a chat, a preview or a scanner fetching it, another site
// sending the browser there to sign it in to the account of whoever obtained the link) is shown
// whose client area the link opens, with a button: the link is used when the button is pressed,
// by a form that only this page can post (loginForm).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	q := &request{w: w, r: r, lang: s.pageLanguage(w, r, "")}
	token := r.URL.Query().Get("token")
	link, ok := s.customerLink(q, token)
	if !ok {
		return
	}
	next := localPath(r.URL.Query().Get("next"), "/tickets")
	if !s.fromPortal(r) {
		if !s.linkAlive(q, link, customerCookie, kindCustomer, "signin.used.text", pageLink{"nav.portal", s.cfg.PortalURL}) {
			return
		}
		name := link.subject
		if c, err := s.customer(r.Context(), link.subject); err == nil {
			name, q.lang = c.Name, s.pageLanguage(w, r, c.Language)
		} else if !errors.Is(err, storage.ErrNotFound) {
			s.pageError(q, err)
			return
		}
		q.session = s.startSession(w, signInCookie, kindLogin, "", loginLifetime)
		s.render(w, r, http.StatusOK, "login_confirm", s.newView(q, "signin.confirm.title", loginConfirmPage{Heading: "signin.confirm.title",
			Whose: "signin.confirm.whose", Text: "signin.confirm.text", Button: "signin.confirm.button", Action: "/login", Field: "token",
			Name: name, Token: token, Next: next, Portal: true}))
		return
	}
	if !s.signInOnce(q, link, customerCookie, kindCustomer, customerLifetime, "signin.used.text", pageLink{"nav.portal", s.cfg.PortalURL}) {
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// loginConfirmPage is the page of a sign-in link that asks before it signs in: whom the link
// signs in (Name, in the phrase Whose), and a button posting the link's Token, as Field, to
// Action. Heading, Whose, Text and Button are message keys.
type loginConfirmPage struct {
	Heading, Whose, Text, Button string
	Action, Field                string
	Name, Token, Next            string
	Portal                       bool // a link back to the portal
}

// loginForm signs in with the link of a loginConfirmPage. The form's CSRF token belongs to the
// cookie that page set (SameSite, so another site's copy of the form comes without it).
func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	q := &request{w: w, r: r, lang: s.pageLanguage(w, r, "")}
	ss, ok := s.readSession(r, signInCookie, kindLogin)
	if !ok {
		s.showMessage(q, http.StatusForbidden, "error.csrf.title", "error.csrf.text", pageLink{"nav.portal", s.cfg.PortalURL})
		return
	}
	q.session = ss
	if !s.parseForm(q) {
		return
	}
	link, ok := s.customerLink(q, r.PostFormValue("token"))
	if !ok || !s.signInOnce(q, link, customerCookie, kindCustomer, customerLifetime, "signin.used.text", pageLink{"nav.portal", s.cfg.PortalURL}) {
		return
	}
	s.endSession(w, signInCookie)
	http.Redirect(w, r, localPath(r.PostFormValue("next"), "/tickets"), http.StatusSeeOther)
}

// customerLink verifies a customer's sign-in link token; when it is not valid it has answered.
func (s *Server) customerLink(q *request, token string) (signInLink, bool) {
	link, err := verifyLoginToken(s.cfg.PortalSecret, kindCustomer, token, s.now())
	if err != nil {
		if !s.pageAuthFailed(q, "customer_link") {
			s.showMessage(q, http.StatusUnauthorized, "signin.bad.title", "signin.bad.text", pageLink{"nav.portal", s.cfg.PortalURL})
		}
		return signInLink{}, false
	}
	return link, true
}

// fromPortal reports whether a request was sent from a page of the portal (ASSISTD_PORTAL_URL),
// by its Referer: a browser sends the page's origin at least (unless the page asks for none),
// and no other site can make a browser send it.
func (s *Server) fromPortal(r *http.Request) bool {
	portal, err := url.Parse(s.cfg.PortalURL)
	if err != nil || portal.Host == "" {
		return false
	}
	ref, err := url.Parse(r.Referer())
	return err == nil && ref.Host != "" && strings.EqualFold(ref.Scheme, portal.Scheme) && strings.EqualFold(ref.Host, portal.Host)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	q := &request{w: w, r: r, lang: s.pageLanguage(w, r, "")}
	ss, ok, err := s.checkSession(r, customerCookie, kindCustomer)
	if err != nil {
		s.pageError(q, err)
		return
	}
	if ok {
		q.session = ss
		if !s.parseForm(q) {
			return
		}
		if err := s.revokeSession(r.Context(), ss); err != nil {
			s.pageError(q, err)
			return
		}
	}
	// A form posted from another site comes without the cookie (SameSite=Lax): clearing it then
	// would let any site sign the customer out.
	if _, err := r.Cookie(customerCookie); err == nil {
		s.endSession(w, customerCookie)
	}
	q.session = session{}
	s.showMessage(q, http.StatusOK, "signout.title", "signout.text", pageLink{"nav.portal", s.cfg.PortalURL})
}

// logoutEverywhere is the client area's "sign out on all devices": the cutoff the portal sets
// through the API refuses every session of the customer begun before now, and this session is
// also listed as signed out, so it ends whatever the clocks of the instances say.
func (s *Server) logoutEverywhere(q *request) {
	if _, err := s.revokeSessionsOf(q.ctx(), kindCustomer, q.customer.ID, "customer"); err != nil {
		s.pageError(q, err)
		return
	}
	if err := s.revokeSession(q.ctx(), q.session); err != nil {
		s.pageError(q, err)
		return
	}
	s.endSession(q.w, customerCookie)
	q.session, q.customer = session{}, storage.Customer{}
	s.showMessage(q, http.StatusOK, "signout.everywhere.title", "signout.everywhere.text", pageLink{"nav.portal", s.cfg.PortalURL})
}
