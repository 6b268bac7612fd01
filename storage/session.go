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

// SessionRevoked reports whether a session was signed out.
func (s *Store) SessionRevoked(ctx context.Context, nonceHash string) (bool, error) {
	var n int
	err := s.db.GetContext(ctx, &n, s.q(`SELECT COUNT(*) FROM revoked_sessions WHERE nonce_hash = ?`), nonceHash)
	if err != nil {
		return false, wrapConn(err)
	}
	return n > 0, nil
}
