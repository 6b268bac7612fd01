package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"
)

// Roles of a member in a department. Admin is not a role but a flag of the member.
const (
	RoleAgent = "agent"
	RoleLead  = "lead"
	RoleAdmin = "admin"
)

// StaffMember is a person of staff: who acts in the console and the staff API, and whom the
// audit names. A member reaches the tickets of their departments; an admin reaches all.
type StaffMember struct {
	ID        string    `db:"id"`
	Name      string    `db:"name"`
	Email     string    `db:"email"`
	Language  string    `db:"language"`
	Active    bool      `db:"active"`
	Admin     bool      `db:"admin"`
	Away      bool      `db:"away"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
	// Departments maps each department of the member to their role there (RoleAgent, RoleLead).
	Departments map[string]string `db:"-"`
}

// Reach is the set of departments the member may reach.
func (m StaffMember) Reach() Reach {
	if m.Admin {
		return ReachAll()
	}
	ds := make([]string, 0, len(m.Departments))
	for d := range m.Departments {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	return ReachOnly(ds...)
}

// Role is the member's role in a department: RoleAdmin for an admin, RoleLead or RoleAgent, or
// "" when the department is out of their reach.
func (m StaffMember) Role(department string) string {
	if m.Admin {
		return RoleAdmin
	}
	return m.Departments[department]
}

// ErrUnknownDepartment is returned when a member is given a department that does not exist.
var ErrUnknownDepartment = errors.New("storage: unknown department")

// ErrEmailTaken is returned when a member is given the email of another member.
var ErrEmailTaken = errors.New("storage: email belongs to another member")

// PutStaffMember creates or replaces a member and their departments. Making a member inactive
// revokes every token of theirs and refuses every console session begun before now, in the same
// transaction: nothing they held works afterwards, even if they are made active again. Their
// open tickets, and those of a department they leave, are unassigned in it too.
func (s *Store) PutStaffMember(ctx context.Context, m StaffMember) (StaffMember, error) {
	at := now()
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		for d := range m.Departments {
			var n int
			if err := tx.GetContext(ctx, &n, s.q(`SELECT COUNT(*) FROM departments WHERE id = ?`), d); err != nil {
				return wrapConn(err)
			}
			if n == 0 {
				return fmt.Errorf("%w: %s", ErrUnknownDepartment, d)
			}
		}
		var taken int
		if err := tx.GetContext(ctx, &taken, s.q(`SELECT COUNT(*) FROM staff_members WHERE lower(email) = lower(?) AND id <> ?`), m.Email, m.ID); err != nil {
			return wrapConn(err)
		}
		if taken > 0 {
			return ErrEmailTaken
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO staff_members (id, name, email, language, active, admin, away, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, language = excluded.language,
			active = excluded.active, admin = excluded.admin, away = excluded.away, updated_at = excluded.updated_at`),
			m.ID, m.Name, m.Email, m.Language, m.Active, m.Admin, m.Away, at, at)
		if err != nil {
			if isUniqueViolation(err) {
				return ErrEmailTaken
			}
			return fmt.Errorf("storage: put staff member: %w", wrapConn(err))
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM staff_departments WHERE member_id = ?`), m.ID); err != nil {
			return wrapConn(err)
		}
		for d, role := range m.Departments {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO staff_departments (member_id, department_id, role) VALUES (?, ?, ?)`), m.ID, d, role); err != nil {
				return fmt.Errorf("storage: put staff department: %w", wrapConn(err))
			}
		}
		// Tickets still open that the member may no longer own (disabled, or out of the ticket's
		// department now) go back to their department's queue, unassigned.
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE tickets SET assignee = NULL WHERE assignee = ? AND status <> 'closed'
			AND NOT EXISTS (SELECT 1 FROM staff_members m WHERE m.id = tickets.assignee AND m.active
				AND (m.admin OR EXISTS (SELECT 1 FROM staff_departments sd WHERE sd.member_id = m.id AND sd.department_id = tickets.department_id)))`),
			m.ID); err != nil {
			return fmt.Errorf("storage: release tickets: %w", wrapConn(err))
		}
		if m.Active {
			return nil
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE staff_tokens SET revoked_at = ? WHERE member_id = ? AND revoked_at IS NULL`), at, m.ID); err != nil {
			return fmt.Errorf("storage: revoke staff tokens: %w", wrapConn(err))
		}
		return s.cutOffSessions(ctx, tx, "staff", m.ID, at, 0)
	})
	if err != nil {
		return StaffMember{}, err
	}
	return s.StaffMember(ctx, m.ID)
}

const staffMemberColumns = `id, name, email, language, active, admin, away, created_at, updated_at`

// StaffMember returns a member, active or not, with their departments; ErrNotFound when none has
// that id.
func (s *Store) StaffMember(ctx context.Context, id string) (StaffMember, error) {
	var m StaffMember
	if err := s.db.GetContext(ctx, &m, s.q(`SELECT `+staffMemberColumns+` FROM staff_members WHERE id = ?`), id); err != nil {
		return m, notFound(err)
	}
	return m, s.memberDepartments(ctx, &m)
}

// ActiveStaffMember returns a member who is active, or ErrNotFound. Every staff request asks the
// database afresh, in one statement: a member disabled on one instance is refused on every other
// at their next request.
func (s *Store) ActiveStaffMember(ctx context.Context, id string) (StaffMember, error) {
	m, _, _, err := s.memberWith(ctx, false, `m.id = ? AND m.active`, id)
	return m, err
}

// memberWith reads one member (m) and their departments in one statement, where a condition
// holds; byToken joins the member's tokens (t) too, and returns the token's id and last use. Every
// staff request pays for it, so its rows are scanned by hand: one per department of the member
// (none: NULLs).
func (s *Store) memberWith(ctx context.Context, byToken bool, where string, args ...any) (StaffMember, string, *time.Time, error) {
	cols, from := `'' AS token_id, NULL AS last_used_at`, ` FROM staff_members m`
	if byToken {
		cols, from = `t.id AS token_id, t.last_used_at`, ` FROM staff_tokens t JOIN staff_members m ON m.id = t.member_id`
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT m.id, m.name, m.email, m.language, m.active, m.admin, m.away, m.created_at, m.updated_at,
		sd.department_id, sd.role, `+cols+from+` LEFT JOIN staff_departments sd ON sd.member_id = m.id WHERE `+where), args...)
	if err != nil {
		return StaffMember{}, "", nil, wrapConn(err)
	}
	defer rows.Close()
	var (
		m        StaffMember
		tokenID  string
		lastUsed *time.Time
		found    bool
	)
	for rows.Next() {
		var (
			department, role sql.NullString
			used             sql.NullTime
		)
		if err := rows.Scan(&m.ID, &m.Name, &m.Email, &m.Language, &m.Active, &m.Admin, &m.Away, &m.CreatedAt, &m.UpdatedAt,
			&department, &role, &tokenID, &used); err != nil {
			return StaffMember{}, "", nil, wrapConn(err)
		}
		if !found {
			found, m.Departments = true, map[string]string{}
			if used.Valid {
				lastUsed = &used.Time
			}
		}
		if department.Valid && role.Valid {
			m.Departments[department.String] = role.String
		}
	}
	if err := rows.Err(); err != nil {
		return StaffMember{}, "", nil, wrapConn(err)
	}
	if !found {
		return StaffMember{}, "", nil, ErrNotFound
	}
	return m, tokenID, lastUsed, nil
}

// ActiveStaffMemberByEmail returns the active member with an email (compared without case), or
// ErrNotFound.
func (s *Store) ActiveStaffMemberByEmail(ctx context.Context, email string) (StaffMember, error) {
	var id string
	if err := s.db.GetContext(ctx, &id, s.q(`SELECT id FROM staff_members WHERE lower(email) = lower(?) AND active`), email); err != nil {
		return StaffMember{}, notFound(err)
	}
	return s.ActiveStaffMember(ctx, id)
}

// StaffMembers lists every member, by id.
func (s *Store) StaffMembers(ctx context.Context) ([]StaffMember, error) {
	var ms []StaffMember
	if err := s.db.SelectContext(ctx, &ms, s.q(`SELECT `+staffMemberColumns+` FROM staff_members ORDER BY id`)); err != nil {
		return nil, wrapConn(err)
	}
	var rows []struct {
		Member     string `db:"member_id"`
		Department string `db:"department_id"`
		Role       string `db:"role"`
	}
	if err := s.db.SelectContext(ctx, &rows, s.q(`SELECT member_id, department_id, role FROM staff_departments`)); err != nil {
		return nil, wrapConn(err)
	}
	byID := make(map[string]*StaffMember, len(ms))
	for i := range ms {
		ms[i].Departments = map[string]string{}
		byID[ms[i].ID] = &ms[i]
	}
	for _, r := range rows {
		if m := byID[r.Member]; m != nil {
			m.Departments[r.Department] = r.Role
		}
	}
	return ms, nil
}

func (s *Store) memberDepartments(ctx context.Context, m *StaffMember) error {
	var rows []struct {
		Department string `db:"department_id"`
		Role       string `db:"role"`
	}
	if err := s.db.SelectContext(ctx, &rows, s.q(`SELECT department_id, role FROM staff_departments WHERE member_id = ?`), m.ID); err != nil {
		return wrapConn(err)
	}
	m.Departments = make(map[string]string, len(rows))
	for _, r := range rows {
		m.Departments[r.Department] = r.Role
	}
	return nil
}

// StaffToken is a member's API token as stored: its hash only.
type StaffToken struct {
	ID         string     `db:"id"`
	MemberID   string     `db:"member_id"`
	Label      string     `db:"label"`
	CreatedAt  time.Time  `db:"created_at"`
	LastUsedAt *time.Time `db:"last_used_at"`
	RevokedAt  *time.Time `db:"revoked_at"`
}

// AddStaffToken stores a new token of an active member, by the SHA-256 hash of its text.
// ErrNotFound when the member does not exist or is not active.
func (s *Store) AddStaffToken(ctx context.Context, memberID, id, hash, label string) (StaffToken, error) {
	at := now()
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, s.q(`SELECT COUNT(*) FROM staff_members WHERE id = ? AND active`), memberID); err != nil {
			return wrapConn(err)
		}
		if n == 0 {
			return ErrNotFound
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO staff_tokens (id, member_id, token_hash, label, created_at) VALUES (?, ?, ?, ?, ?)`),
			id, memberID, hash, label, at)
		return wrapConn(err)
	})
	return StaffToken{ID: id, MemberID: memberID, Label: label, CreatedAt: at}, err
}

// RevokeStaffToken refuses one of a member's tokens from now on; ErrNotFound when the member has
// no such token. Revoking a revoked token changes nothing.
func (s *Store) RevokeStaffToken(ctx context.Context, memberID, id string) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE staff_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE member_id = ? AND id = ?`), now(), memberID, id)
	if err != nil {
		return wrapConn(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// StaffTokens lists a member's tokens, oldest first, revoked ones included.
func (s *Store) StaffTokens(ctx context.Context, memberID string) ([]StaffToken, error) {
	var ts []StaffToken
	err := s.db.SelectContext(ctx, &ts, s.q(`SELECT id, member_id, label, created_at, last_used_at, revoked_at FROM staff_tokens
		WHERE member_id = ? ORDER BY created_at, id`), memberID)
	return ts, wrapConn(err)
}

// tokenUseResolution is how precisely a token's last use is kept: a token used all day costs one
// write a minute, not one per request.
const tokenUseResolution = time.Minute

// StaffMemberByToken returns the active member a token (by its hash) belongs to, and the token's
// id; ErrNotFound when no live token of an active member has that hash. It notes the use.
func (s *Store) StaffMemberByToken(ctx context.Context, hash string) (StaffMember, string, error) {
	m, tokenID, lastUsed, err := s.memberWith(ctx, true, `t.token_hash = ? AND t.revoked_at IS NULL AND m.active`, hash)
	if err != nil {
		return StaffMember{}, "", err
	}
	at := now()
	if lastUsed == nil || at.Sub(*lastUsed) >= tokenUseResolution {
		if _, err := s.db.ExecContext(ctx, s.q(`UPDATE staff_tokens SET last_used_at = ? WHERE id = ?`), at, tokenID); err != nil {
			return StaffMember{}, "", wrapConn(err)
		}
	}
	return m, tokenID, nil
}
