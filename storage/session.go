package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// RevokeSession records that a session was signed out before its expiry: SessionRevoked reports
// it until then. nonceHash identifies the session (a hash: the table never holds what a cookie
// carries). Sessions already expired are forgotten at the same time.
func (s *Store) RevokeSession(ctx context.Context, nonceHash string, expires time.Time) error {
	at := now()
	return s.tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM revoked_sessions WHERE expires_at <= ?`), at); err != nil {
			return fmt.Errorf("storage: forget expired sessions: %w", wrapConn(err))
		}
		if expires.After(at) {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO revoked_sessions (nonce_hash, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING`),
				nonceHash, expires.UTC().Truncate(time.Microsecond)); err != nil {
				return fmt.Errorf("storage: revoke session: %w", wrapConn(err))
			}
		}
		return nil
	})
}

// RevokeSessionsOf signs out every session of one subject (kind "customer" or "staff") that began
// before now, wherever it is; sessions begun afterwards are unaffected, unless an earlier call
// set a later cutoff. Cutoffs older than forgetAfter (the longest a session lives) are dropped at
// the same time. It returns the cutoff.
func (s *Store) RevokeSessionsOf(ctx context.Context, kind, subject string, forgetAfter time.Duration) (time.Time, error) {
	at := now()
	err := s.tx(ctx, func(tx *sqlx.Tx) error { return s.cutOffSessions(ctx, tx, kind, subject, at, forgetAfter) })
	return at, err
}

// cutOffSessions refuses, within tx, every session of a subject begun before at; forgetAfter > 0
// drops cutoffs older than that first.
func (s *Store) cutOffSessions(ctx context.Context, tx *sqlx.Tx, kind, subject string, at time.Time, forgetAfter time.Duration) error {
	if forgetAfter > 0 {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM session_cutoffs WHERE not_before < ?`), at.Add(-forgetAfter)); err != nil {
			return fmt.Errorf("storage: forget old session cutoffs: %w", wrapConn(err))
		}
	}
	// A cutoff only moves forward: a call that commits after a later one (another instance,
	// a clock a little ahead) must not accept again the sessions that one refused.
	greatest := "MAX"
	if s.postgres {
		greatest = "GREATEST"
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO session_cutoffs (kind, subject, not_before) VALUES (?, ?, ?)
		ON CONFLICT (kind, subject) DO UPDATE SET not_before = `+greatest+`(session_cutoffs.not_before, excluded.not_before)`), kind, subject, at)
	if err != nil {
		return fmt.Errorf("storage: revoke sessions: %w", wrapConn(err))
	}
	return nil
}

// SessionRevoked reports whether a session was signed out: by itself (its nonce hash listed), or
// with every session of its subject that began before a cutoff.
func (s *Store) SessionRevoked(ctx context.Context, nonceHash, kind, subject string, began time.Time) (bool, error) {
	var n int
	err := s.db.GetContext(ctx, &n, s.q(`SELECT (SELECT COUNT(*) FROM revoked_sessions WHERE nonce_hash = ?)
		+ (SELECT COUNT(*) FROM session_cutoffs WHERE kind = ? AND subject = ? AND not_before > ?)`),
		nonceHash, kind, subject, began.UTC().Truncate(time.Microsecond))
	if err != nil {
		return false, wrapConn(err)
	}
	return n > 0, nil
}

// UseSignInLink records the use of a sign-in link, known by the hash of its token, and reports
// whether this is its first use and when that was. A link is remembered until a minute after it
// would have expired (a minute for clocks that differ between instances), then forgotten. Two
// uses at once, on any instances, are told apart by the table's key: exactly one of them is
// first. Each statement stands alone, so that two sign-ins never wait on each other's locks.
func (s *Store) UseSignInLink(ctx context.Context, tokenHash string, expires time.Time) (first bool, firstUsed time.Time, err error) {
	at := now()
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM used_sign_in_links WHERE expires_at <= ?`), at.Add(-time.Minute)); err != nil {
		return false, time.Time{}, fmt.Errorf("storage: forget expired sign-in links: %w", wrapConn(err))
	}
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO used_sign_in_links (token_hash, used_at, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
		tokenHash, at, expires.UTC().Truncate(time.Microsecond))
	if err != nil {
		return false, time.Time{}, fmt.Errorf("storage: use sign-in link: %w", wrapConn(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, time.Time{}, wrapConn(err)
	} else if n == 1 {
		return true, at, nil
	}
	firstUsed, _, err = s.SignInLinkUsed(ctx, tokenHash)
	return false, firstUsed, err
}

// SignInLinkUsed reports whether a sign-in link, known by the hash of its token, was used, and
// when first; it records nothing (a page that only shows a link must not use it up).
func (s *Store) SignInLinkUsed(ctx context.Context, tokenHash string) (firstUsed time.Time, used bool, err error) {
	err = s.db.GetContext(ctx, &firstUsed, s.q(`SELECT used_at FROM used_sign_in_links WHERE token_hash = ?`), tokenHash)
	if err = notFound(err); err == ErrNotFound {
		return time.Time{}, false, nil
	} else if err != nil {
		return time.Time{}, false, fmt.Errorf("storage: read sign-in link: %w", err)
	}
	return firstUsed, true, nil
}
