package storage

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
)

// Reveal outcomes recorded in the audit.
const (
	RevealGranted = "revealed"
	RevealExpired = "expired"
	RevealFailed  = "failed"
)

// PasswordBinding is what a ticket's sealed password is bound to: the ticket's internal id.
func PasswordBinding(ticketID int64) string { return strconv.FormatInt(ticketID, 10) }

// SealedPassword is a ticket's stored password while it is kept.
type SealedPassword struct {
	TicketID  int64      `db:"ticket_id"`
	Password  []byte     `db:"password_sealed"`
	DataKey   []byte     `db:"data_key_sealed"`
	ExpiresAt time.Time  `db:"expires_at"`
	PurgedAt  *time.Time `db:"purged_at"`
}

// Live reports whether the password may still be revealed at a time. The rule holds at read
// time: past expires_at nothing opens it, purged or not.
func (p SealedPassword) Live(at time.Time) bool {
	return p.PurgedAt == nil && p.Password != nil && at.Before(p.ExpiresAt)
}

// Ways a member signed in, as the reveal audit records them.
const (
	ViaToken   = "token"   // the member's own API token
	ViaService = "service" // the service token, naming the member
	ViaLink    = "link"    // a signed staff link, in the console
	ViaOIDC    = "oidc"    // the identity provider, in the console
)

// Revealer is who reveals a password: the member, how they signed in, and why (optional).
type Revealer struct {
	MemberID string
	Via      string
	Reason   string
}

// RevealPassword reads a ticket's sealed password for a member and records the attempt, whatever
// its outcome, in the same transaction. A ticket out of the member's reach is ErrNotFound, as one
// without a password. open is called only while the password is live; its error is recorded as a
// failed reveal and returned.
func (s *Store) RevealPassword(ctx context.Context, reach Reach, ticketID int64, by Revealer, at time.Time, open func(SealedPassword) error) (SealedPassword, string, error) {
	var (
		p       SealedPassword
		outcome string
		openErr error
	)
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		in, args := reach.clause("t.department_id")
		err := tx.GetContext(ctx, &p, s.q(`SELECT p.ticket_id, p.password_sealed, p.data_key_sealed, p.expires_at, p.purged_at
			FROM ticket_passwords p JOIN tickets t ON t.id = p.ticket_id WHERE p.ticket_id = ? AND t.erasure_id IS NULL AND `+in),
			append([]any{ticketID}, args...)...)
		if err != nil {
			return notFound(err)
		}
		switch {
		case !p.Live(at):
			outcome = RevealExpired
		default:
			if openErr = open(p); openErr != nil {
				outcome = RevealFailed
			} else {
				outcome = RevealGranted
			}
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO password_reveals (ticket_id, staff, member_id, via, reason, legacy, outcome, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), ticketID, by.MemberID, by.MemberID, by.Via, nullable(by.Reason), false, outcome, at)
		return wrapConn(err)
	})
	if err != nil {
		return p, "", err
	}
	return p, outcome, openErr
}

// Reveal is one entry of a ticket's reveal audit. An entry written before staff were members
// (Legacy) has only the free-text name it was given, in Staff.
type Reveal struct {
	Staff     string    `db:"staff"`
	MemberID  *string   `db:"member_id"`
	Via       *string   `db:"via"`
	Reason    *string   `db:"reason"`
	Legacy    bool      `db:"legacy"`
	Outcome   string    `db:"outcome"`
	CreatedAt time.Time `db:"created_at"`
}

// SignedInVia is how the member signed in, "" for a legacy entry.
func (r Reveal) SignedInVia() string {
	if r.Via == nil {
		return ""
	}
	return *r.Via
}

// Reveals lists a ticket's reveal audit, oldest first.
func (s *Store) Reveals(ctx context.Context, ticketID int64) ([]Reveal, error) {
	var rs []Reveal
	err := s.db.SelectContext(ctx, &rs, s.q(`SELECT staff, member_id, via, reason, legacy, outcome, created_at FROM password_reveals
		WHERE ticket_id = ? ORDER BY id`), ticketID)
	return rs, wrapConn(err)
}

// PasswordViews lists when a ticket's password was revealed, oldest first: what the customer is
// told, without who.
func (s *Store) PasswordViews(ctx context.Context, ticketID int64) ([]time.Time, error) {
	var ts []time.Time
	err := s.db.SelectContext(ctx, &ts, s.q(`SELECT created_at FROM password_reveals WHERE ticket_id = ? AND outcome = ? ORDER BY id`),
		ticketID, RevealGranted)
	return ts, wrapConn(err)
}

// PasswordExpiry returns when a ticket's password expires, or ErrNotFound when none was given.
func (s *Store) PasswordExpiry(ctx context.Context, ticketID int64) (time.Time, error) {
	var at time.Time
	err := s.db.GetContext(ctx, &at, s.q(`SELECT expires_at FROM ticket_passwords WHERE ticket_id = ?`), ticketID)
	return at, notFound(err)
}

// PurgePassword destroys a ticket's password if it has expired by the given time: both the
// sealed password and its sealed data key are set to NULL. It reports whether it purged.
func (s *Store) PurgePassword(ctx context.Context, ticketID int64, at time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE ticket_passwords SET password_sealed = NULL, data_key_sealed = NULL, purged_at = ?
		WHERE ticket_id = ? AND purged_at IS NULL AND expires_at <= ?`), at, ticketID, at)
	if err != nil {
		return false, wrapConn(err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// PurgeExpiredPasswords destroys every password overdue at a time, and returns how many. It is
// an idempotent sweep: any number of instances may run it at once.
func (s *Store) PurgeExpiredPasswords(ctx context.Context, at time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE ticket_passwords SET password_sealed = NULL, data_key_sealed = NULL, purged_at = ?
		WHERE purged_at IS NULL AND expires_at <= ?`), at, at)
	if err != nil {
		return 0, wrapConn(err)
	}
	return res.RowsAffected()
}

// ResealPasswords re-seals the data key of every live password with reseal (the key ring's
// active key), in batches, and returns how many changed. A password reseal cannot open (its data
// key tampered with, or sealed with a key no longer in the ring) keeps its old sealing and does
// not stop the others: they are all re-sealed, and then an *UnsealedError names the tickets left.
func (s *Store) ResealPasswords(ctx context.Context, at time.Time, reseal func(dataKey []byte, binding string) ([]byte, bool, error)) (int, error) {
	changed := 0
	var (
		after    int64
		unsealed UnsealedError
	)
	for {
		var batch []SealedPassword
		err := s.db.SelectContext(ctx, &batch, s.q(`SELECT ticket_id, data_key_sealed, expires_at FROM ticket_passwords
			WHERE purged_at IS NULL AND data_key_sealed IS NOT NULL AND ticket_id > ? ORDER BY ticket_id LIMIT 500`), after)
		if err != nil {
			return changed, wrapConn(err)
		}
		if len(batch) == 0 {
			if len(unsealed.TicketIDs) > 0 {
				return changed, &unsealed
			}
			return changed, nil
		}
		for _, p := range batch {
			after = p.TicketID
			if !at.Before(p.ExpiresAt) {
				continue // the sweep destroys it; never give an expired secret a new key
			}
			key, ok, err := reseal(p.DataKey, PasswordBinding(p.TicketID))
			if err != nil {
				unsealed.TicketIDs = append(unsealed.TicketIDs, p.TicketID)
				if unsealed.Err == nil {
					unsealed.Err = err
				}
				continue
			}
			if !ok {
				continue
			}
			res, err := s.db.ExecContext(ctx, s.q(`UPDATE ticket_passwords SET data_key_sealed = ? WHERE ticket_id = ? AND purged_at IS NULL AND data_key_sealed = ?`),
				key, p.TicketID, p.DataKey)
			if err != nil {
				return changed, wrapConn(err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				changed++
			}
		}
	}
}

// UnsealedError names the live passwords a re-sealing could not open. Each keeps its old
// sealing, and is destroyed at its deadline like any other.
type UnsealedError struct {
	TicketIDs []int64
	Err       error // why the first of them could not be opened
}

func (e *UnsealedError) Error() string {
	const shown = 20 // a key removed too early leaves them all
	ids := fmt.Sprint(e.TicketIDs)
	if len(e.TicketIDs) > shown {
		ids = fmt.Sprintf("%v and %d more", e.TicketIDs[:shown], len(e.TicketIDs)-shown)
	}
	return fmt.Sprintf("storage: %d live password(s) could not be opened to re-seal (ticket ids %s): %v", len(e.TicketIDs), ids, e.Err)
}

func (e *UnsealedError) Unwrap() error { return e.Err }
