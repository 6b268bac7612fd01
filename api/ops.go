package api

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"
)

// OpsQueuesPath is where the queue dashboard is served.
const OpsQueuesPath = "/ops/queues"

// QueueDashboard is asynqmon rooted at OpsQueuesPath, on an existing Redis client (asynqmon
// would otherwise parse a URL itself, dropping an ACL user name). Task payloads hold ids only,
// so showing them reveals nothing.
func QueueDashboard(rc redis.UniversalClient) http.Handler {
	return asynqmon.New(asynqmon.Options{RootPath: OpsQueuesPath, RedisConnOpt: sharedRedis{rc}})
}

// sharedRedis hands asynqmon the process's Redis client instead of a new pool.
type sharedRedis struct{ redis.UniversalClient }

func (r sharedRedis) MakeRedisClient() any { return r.UniversalClient }

var _ asynq.RedisConnOpt = sharedRedis{}

// requireStaff lets staff through and asks anyone else to sign in.
func (s *Server) requireStaff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.isStaff(r) {
			h := w.Header()
			h.Set("Cache-Control", "no-store")
			// No other site may frame the dashboard and have an operator click its buttons. Only
			// frame-ancestors: asynqmon's own scripts and styles are left as they are.
			h.Set("Content-Security-Policy", "frame-ancestors 'none'")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "same-origin")
			next.ServeHTTP(w, r)
			return
		}
		if token, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); bearer {
			// As on every staff path: the client-area token is forbidden, any other is unknown.
			if tokenEqual(token, s.cfg.APIToken) {
				writeError(w, http.StatusForbidden, "forbidden", "This token may not use this endpoint.", nil)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="assistd"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "Missing or wrong bearer token.", nil)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="assistd operations", charset="UTF-8"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "Staff only: sign in with the staff token.", nil)
	})
}

// staffOnly lets staff credentials through (isStaff) and answers anyone else 401, without
// saying more.
func (s *Server) staffOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.isStaff(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="assistd"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "Staff only: send the staff token.", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isStaff reports whether a request carries operators' credentials: the service token (bearer,
// or HTTP Basic password), or an active admin member's own token or console session.
func (s *Server) isStaff(r *http.Request) bool {
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if tokenEqual(token, s.cfg.StaffToken) {
			return true
		}
		if token == "" || !storable(token) {
			return false
		}
		m, _, err := s.store.StaffMemberByToken(r.Context(), hashToken(token))
		return err == nil && m.Admin
	}
	if _, pass, ok := r.BasicAuth(); ok {
		return s.cfg.StaffToken != "" && subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.StaffToken)) == 1
	}
	ss, ok := s.readSession(r, staffCookie, kindStaff)
	if !ok {
		return false
	}
	m, err := s.activeMember(r.Context(), ss.Subject)
	return err == nil && m.Admin
}
