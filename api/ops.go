package api

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/storage"
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

// MountOps serves an operations dashboard (QueueDashboard) at OpsQueuesPath, for staff only:
// the staff bearer token, HTTP Basic with the staff token as password (what a browser can
// send), or a staff session. Changes made from the dashboard (retry, delete, pause) must come
// from the dashboard's own origin.
func (s *Server) MountOps(dashboard http.Handler) {
	guarded := http.NewCrossOriginProtection().Handler(s.requireStaff(dashboard))
	s.mux.Handle(OpsQueuesPath, guarded)
	s.mux.Handle(OpsQueuesPath+"/", guarded)
}

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

func (s *Server) isStaff(r *http.Request) bool {
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return tokenEqual(token, s.cfg.StaffToken)
	}
	if _, pass, ok := r.BasicAuth(); ok {
		return s.cfg.StaffToken != "" && subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.StaffToken)) == 1
	}
	_, ok := s.readSession(r, staffCookie, kindStaff)
	return ok
}

// OpsHandler serves /healthz, /readyz and /metrics alone: what a process without the api role
// (a worker, a poller) shows its operators. Its tasks' counters (emails sent and failed, tasks
// by type, passwords destroyed, grouped statements) exist only in that process, so only its own
// /metrics can show them.
func OpsHandler(store *storage.Store, redisReady func(context.Context) error) http.Handler {
	s := &Server{store: store, redisReady: redisReady}
	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /readyz", s.readyz)
	m.Handle("GET /metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "This process serves only /healthz, /readyz and /metrics.", nil)
	})
	return m
}
