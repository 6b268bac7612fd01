package api

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Slowing guessers: failed authentications (a wrong staff or member token, a bad or used sign-in
// link) are counted per address over a minute, in Redis so that every instance sees the same
// count. More than maxFailures answer 429 too_many_attempts with Retry-After. The count is read
// only after a failure, so valid credentials are never slowed; while Redis does not answer, each
// instance counts in its own memory.

const (
	maxFailures   = 10
	failureWindow = time.Minute
)

// attempts counts failed authentications by address.
type attempts struct {
	redis redis.UniversalClient // nil: memory only
	now   func() time.Time
	// redisDownUntil skips Redis for a moment after it failed, so that an outage costs each
	// failure no timeout.
	redisDownUntil atomic.Int64

	mu    sync.Mutex
	local map[string]failureCount
}

type failureCount struct {
	n     int
	until time.Time
}

// fail records a failed authentication from an address and returns how many there were in the
// current window, and when the window ends.
func (a *attempts) fail(ctx context.Context, addr string) (int, time.Duration) {
	if a.redis != nil && time.Now().UnixNano() >= a.redisDownUntil.Load() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 500*time.Millisecond)
		defer cancel()
		key := "assistd:auth-failures:" + addr
		var (
			incr *redis.IntCmd
			ttl  *redis.DurationCmd
		)
		_, err := a.redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
			incr = p.Incr(ctx, key)
			ttl = p.PTTL(ctx, key)
			return nil
		})
		left := ttl.Val()
		if err == nil && left <= 0 {
			// The window's first failure (or one whose expiry a crash left unset).
			left, err = failureWindow, a.redis.PExpire(ctx, key, failureWindow).Err()
		}
		if err == nil {
			return int(incr.Val()), left
		}
		a.redisDownUntil.Store(time.Now().Add(5 * time.Second).UnixNano())
	}
	return a.failLocally(addr)
}

func (a *attempts) failLocally(addr string) (int, time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if a.local == nil {
		a.local = map[string]failureCount{}
	}
	if len(a.local) > 10000 {
		// Many addresses at once: forget the windows that are over.
		for k, c := range a.local {
			if !now.Before(c.until) {
				delete(a.local, k)
			}
		}
	}
	c := a.local[addr]
	if !now.Before(c.until) {
		c = failureCount{until: now.Add(failureWindow)}
	}
	c.n++
	a.local[addr] = c
	return c.n, c.until.Sub(now)
}

// clientAddress is the address a request came from, without its port.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// failure records a failed authentication of a kind of credential ("staff_token",
// "staff_link", "customer_link") and logs it with the address, never the credential. It reports
// whether the address failed too often, and then how many seconds it should wait.
func (s *Server) failure(r *http.Request, kind string) (blocked bool, retryAfter string) {
	addr := clientAddress(r)
	n, retry := s.attempts.fail(r.Context(), addr)
	s.log.Warn("authentication failed", "address", addr, "credential", kind, "failures", n)
	if n <= maxFailures {
		return false, ""
	}
	return true, strconv.Itoa(max(int((retry+time.Second-1)/time.Second), 1))
}

// authFailed is failure for the JSON API: when the address failed too often it answers 429 and
// returns true; otherwise the caller answers the failure as it would.
func (s *Server) authFailed(w http.ResponseWriter, r *http.Request, kind string) bool {
	blocked, retry := s.failure(r, kind)
	if blocked {
		w.Header().Set("Retry-After", retry)
		writeError(w, http.StatusTooManyRequests, "too_many_attempts", "Too many failed attempts from this address; try again later.", nil)
	}
	return blocked
}

// pageAuthFailed is failure for the pages.
func (s *Server) pageAuthFailed(q *request, kind string) bool {
	blocked, retry := s.failure(q.r, kind)
	if blocked {
		q.w.Header().Set("Retry-After", retry)
		s.showMessage(q, http.StatusTooManyRequests, "signin.toomany.title", "signin.toomany.text")
	}
	return blocked
}
