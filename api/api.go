// Package api is assistd's HTTP side: the JSON API for the client area and staff (its contract
// is api/openapi.yaml, served at /api/v1/openapi.yaml), the client-area pages and the staff
// console, and the operational endpoints; api/routes.go lists every route. A customer's request
// only ever reaches that customer's tickets; a password is only ever returned by the audited
// staff reveal.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/assistd/assistd/internal/oidclogin"
	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/notify"
	"github.com/assistd/assistd/objects"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
)

// Config is what the API needs to know of its deployment.
type Config struct {
	APIToken   string        // client-area calls
	StaffToken string        // staff calls
	PublicURL  string        // base of links to the client area
	SecretTTL  time.Duration // how long a password is kept

	PortalURL    string // the client-area management, linked from the pages
	PortalSecret string // HMAC-SHA256 key of the portal's /login?token= links
	// StaffLinkSecret is the HMAC-SHA256 key of staff sign-in links (/staff/login?token=), never
	// the portal's: unset, staff links are off.
	StaffLinkSecret string
	// OIDC is the company's identity provider for the console's sign-in (staff_oidc.go); an empty
	// Issuer: off.
	OIDC OIDCConfig
	// DemoCustomer, when set, signs in every visitor without a session as this customer.
	DemoCustomer string
	// SessionKey signs customer session cookies and CSRF tokens; derived from PortalSecret when
	// nil. StaffSessionKey signs the console's; derived from StaffLinkSecret and StaffToken when
	// nil, so that the portal's secret alone can never make a console session.
	SessionKey      []byte
	StaffSessionKey []byte
	// BodyFloor (bytes a second) and BodyWindow: a request body slower than BodyFloor averaged
	// over BodyWindow is cut off. Zero: 1 KiB/s over 30 s (bodyrate.go).
	BodyFloor  int
	BodyWindow time.Duration

	// AttachmentMaxBytes bounds one file (0: DefaultAttachmentMaxBytes); AttachmentTypes are the
	// kinds of AttachmentKinds allowed (none listed: all).
	AttachmentMaxBytes int64
	AttachmentTypes    []string
	// Scanning is true when clamd is configured: uploads wait for its verdict before they are
	// served.
	Scanning bool
	// SpoolDir is where uploads are written while they arrive ("" : the system's temporary
	// folder).
	SpoolDir string
}

// Enqueuer queues a task; jobs.Enqueuer implements it.
type Enqueuer interface {
	Enqueue(ctx context.Context, t *asynq.Task, opts ...asynq.Option) error
}

// Pinger reports whether a dependency answers.
type Pinger func(ctx context.Context) error

// Server serves the API.
type Server struct {
	cfg        Config
	store      *storage.Store
	keys       *secret.Keyring
	emails     notify.Emails
	enqueuer   Enqueuer
	redisReady Pinger
	log        *slog.Logger
	now        func() time.Time
	mux        *http.ServeMux
	// enqueueDownUntil skips enqueueing for a moment after Redis failed, so that an outage
	// costs requests no dial timeouts; the outbox relay enqueues what was skipped.
	enqueueDownUntil atomic.Int64
	catalog          catalogCache
	attempts         *attempts
	objects          objects.Store
	// signInMethods are the console's ways of signing in beside staff links (AddSignInMethod).
	signInMethods []signInMethod
	oidc          *oidclogin.RelyingParty // nil: no sign-in with the identity provider
}

// AddSignInMethod offers another way of signing in to the console on its sign-in page: a button,
// labelled with a message key (pages_i18n.go), that leads to url.
func (s *Server) AddSignInMethod(label, url string) {
	s.signInMethods = append(s.signInMethods, signInMethod{Label: label, URL: url})
}

// Deps are the server's collaborators.
type Deps struct {
	Store      *storage.Store
	Keys       *secret.Keyring
	Composer   *mail.Composer // emails of state changes are rendered in the transaction that makes them
	Enqueuer   Enqueuer
	RedisReady Pinger
	// Redis counts failed authentications across instances; nil counts them in memory.
	Redis redis.UniversalClient
	Log   *slog.Logger
	Now   func() time.Time
	// Objects is where attachment files are kept.
	Objects objects.Store
}

// New builds the server and its routes.
func New(cfg Config, d Deps) *Server {
	s := &Server{cfg: cfg, store: d.Store, keys: d.Keys, emails: notify.Emails{Composer: d.Composer, Log: d.Log}, enqueuer: d.Enqueuer, redisReady: d.RedisReady, log: d.Log, now: d.Now, mux: http.NewServeMux(), objects: d.Objects}
	if s.now == nil {
		s.now = time.Now
	}
	s.cfg.PublicURL = strings.TrimRight(s.cfg.PublicURL, "/")
	if s.cfg.SessionKey == nil {
		s.cfg.SessionKey = deriveSessionKey(s.cfg.PortalSecret)
	}
	if s.cfg.StaffSessionKey == nil {
		s.cfg.StaffSessionKey = deriveStaffSessionKey(s.cfg.StaffLinkSecret, s.cfg.StaffToken)
	}
	s.attempts = &attempts{redis: d.Redis, now: s.now}
	s.routes()
	return s
}

// Mux exposes the router so other parts (web pages, demo, dashboards) mount beside the API.
func (s *Server) Mux() *http.ServeMux { return s.mux }

// ServeHTTP serves every route, observing durations by route pattern.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w, r = s.steadyBodies(w, r)
	rw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in handler", "route", r.Pattern, "panic", v)
			if !rw.wrote {
				writeError(rw, http.StatusInternalServerError, "internal_error", "Internal error.", nil)
			}
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		metrics.HTTPDuration.WithLabelValues(route, strconv.Itoa(rw.code)).Observe(time.Since(start).Seconds())
	}()
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if s.secureCookies() {
		// Served at an https address: browsers should never come back over plain http.
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
	}
	s.mux.ServeHTTP(rw, r)
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requireClient checks the client-area bearer token: a wrong or missing one is 401 (429 when
// the address failed too often); the staff token on a client path is 403.
func (s *Server) requireClient(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case ok && tokenEqual(token, s.cfg.APIToken):
			next(w, r)
		case ok && tokenEqual(token, s.cfg.StaffToken):
			writeError(w, http.StatusForbidden, "forbidden", "This token may not use this endpoint.", nil)
		default:
			if ok && token != "" && s.authFailed(w, r, "client_token") {
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="assistd"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "Missing or wrong bearer token.", nil)
		}
	})
}

func tokenEqual(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{"database": "ok", "redis": "ok"}
	code := http.StatusOK
	if err := s.store.Ping(r.Context()); err != nil {
		checks["database"], code = "unavailable", http.StatusServiceUnavailable
	}
	if s.redisReady != nil {
		if err := s.redisReady(r.Context()); err != nil {
			checks["redis"], code = "unavailable", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, checks)
}

// enqueue queues a task now if Redis is taking work; otherwise the outbox relay does it later.
func (s *Server) enqueue(ctx context.Context, t *asynq.Task) {
	if time.Now().UnixNano() < s.enqueueDownUntil.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := s.enqueuer.Enqueue(ctx, t); err != nil {
		s.enqueueDownUntil.Store(time.Now().Add(5 * time.Second).UnixNano())
		s.log.Warn("enqueue failed; the outbox relay will enqueue it", "task", t.Type(), "err", err)
	}
}

// errorBody is the error shape of every JSON error (Error in api/openapi.yaml).
type errorBody struct {
	Error apiError `json:"error"`
}

type apiError struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, errCode, message string, fields map[string]string) {
	writeJSON(w, code, errorBody{Error: apiError{Code: errCode, Message: message, Fields: fields}})
}

func validationFailed(w http.ResponseWriter, fields map[string]string) {
	writeError(w, http.StatusBadRequest, "validation_failed", "Some fields are invalid.", fields)
}

// customerValidationFailed is validationFailed for a customer's own request (a ticket, a reply),
// whose texts a portal may show the customer as they are: they are in the customer's language,
// pt-PT unless it is English.
func customerValidationFailed(w http.ResponseWriter, lang string, fields map[string]string) {
	writeError(w, http.StatusBadRequest, "validation_failed", translate(lang, "api.error.fields"), fields)
}

// storeError answers for a storage failure: 503 when the database is unreachable.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		writeError(w, http.StatusServiceUnavailable, "database_unavailable", "The service is temporarily unavailable; nothing was changed. Try again shortly.", nil)
		return
	}
	s.log.Error("request failed", "route", r.Pattern, "err", err)
	writeError(w, http.StatusInternalServerError, "internal_error", "Internal error.", nil)
}

// found answers for a failed lookup and reports whether the caller may go on: a missing row is
// 404 with the given code, anything else a storage error.
func (s *Server) found(w http.ResponseWriter, r *http.Request, err error, code, message string) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, code, message, nil)
	default:
		s.storeError(w, r, err)
	}
	return false
}

// storable reports whether a database can hold s as text: Postgres refuses a NUL character and
// invalid UTF-8. An identifier that is not storable names nothing.
func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// cleanText makes free text storable: invalid UTF-8 becomes U+FFFD, and NUL characters, which
// show nothing to a reader, are dropped.
func cleanText(s string) string {
	if storable(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

const maxBody = 256 << 10

// decodeJSON reads a JSON body into v, as API.md's "Request hygiene" says: a body that is not
// application/json is 415, an unknown field or anything after the JSON value is 400, and nothing
// else is read. On failure it has answered and returns false. Every JSON endpoint decodes with it.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if !isJSON(r.Header.Get("Content-Type")) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "The request body must be JSON, sent as Content-Type: application/json.", nil)
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, next := dec.Token(); next != io.EOF {
			validationFailed(w, map[string]string{"body": "nothing may follow the JSON value"})
			return false
		}
		return true
	}
	var (
		tooBig    *http.MaxBytesError
		wrongType *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, errBodyTooSlow):
		writeError(w, http.StatusRequestTimeout, "request_timeout", "The request body stopped arriving.", nil)
	case errors.As(err, &tooBig):
		validationFailed(w, map[string]string{"body": "the request body is larger than 256 KiB"})
	case errors.As(err, &wrongType) && wrongType.Field != "":
		// Value may quote the input ("number 1e999"): its first word says enough and echoes nothing.
		sent, _, _ := strings.Cut(wrongType.Value, " ")
		validationFailed(w, map[string]string{wrongType.Field: "must be " + jsonKind(wrongType.Type) + ", not " + sent})
	case unknownField(err) != "":
		validationFailed(w, map[string]string{unknownField(err): "unknown field"})
	default:
		validationFailed(w, map[string]string{"body": "the request body is not valid JSON for this endpoint"})
	}
	return false
}

// isJSON reports whether a Content-Type names JSON in UTF-8, the only encoding JSON has.
func isJSON(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}

// unknownField is the name of the field an encoding/json DisallowUnknownFields error is about
// (it has no error type of its own), or "".
func unknownField(err error) string {
	quoted, ok := strings.CutPrefix(err.Error(), "json: unknown field ")
	if !ok {
		return ""
	}
	name, err := strconv.Unquote(quoted)
	if err != nil || !storable(name) || len(name) > 100 {
		return "body"
	}
	return name
}

// jsonKind names the JSON value a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value of another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16,
		reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	default:
		return "an object"
	}
}
