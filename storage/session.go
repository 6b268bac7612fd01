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
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM session_cutoffs WHERE not_before < ?`), at.Add(-forgetAfter)); err != nil {
			return fmt.Errorf("storage: forget old session cutoffs: %w", wrapConn(err))
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
	})
	return at, err
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
// whether this is its first use; a link already used reports false until it would have expired,
// when it is forgotten. Two uses at once, on any instances, are told apart by the table's key:
// exactly one of them is first.
func (s *Store) UseSignInLink(ctx context.Context, tokenHash string, expires time.Time) (first bool, err error) {
	at := now()
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM used_sign_in_links WHERE expires_at <= ?`), at); err != nil {
			return fmt.Errorf("storage: forget expired sign-in links: %w", wrapConn(err))
		}
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO used_sign_in_links (token_hash, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING`),
			tokenHash, expires.UTC().Truncate(time.Microsecond))
		if err != nil {
			return fmt.Errorf("storage: use sign-in link: %w", wrapConn(err))
		}
		n, err := res.RowsAffected()
		first = n == 1
		return err
	})
	return first, err
}
