package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/tickets"
)

// Staff members and their API tokens, managed by the portal (service token) or an admin.

type memberJSON struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Email       string            `json:"email"`
	Language    string            `json:"language"`
	Departments map[string]string `json:"departments"`
	Admin       bool              `json:"admin"`
	Away        bool              `json:"away"`
	Active      bool              `json:"active"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

func memberView(m storage.StaffMember) memberJSON {
	d := m.Departments
	if d == nil {
		d = map[string]string{}
	}
	return memberJSON{ID: m.ID, Name: m.Name, Email: m.Email, Language: m.Language, Departments: d, Admin: m.Admin, Away: m.Away,
		Active: m.Active, CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC()}
}

// MemberInput is a member as the portal, an admin or the command line describes them.
type MemberInput struct {
	Name        string            `json:"name"`
	Email       string            `json:"email"`
	Language    string            `json:"language"`
	Departments map[string]string `json:"departments"`
	Admin       bool              `json:"admin"`
	Away        bool              `json:"away"`
	Active      *bool             `json:"active"` // absent: active
}

// PutMember validates and stores a member (create or replace). Bad values, an unknown department
// or role, and an email another member has are a *ValidationError. Making a member inactive ends
// every token and session of theirs at once.
func (s *Server) PutMember(ctx context.Context, id string, in MemberInput) (storage.StaffMember, error) {
	fields := map[string]string{}
	if !idPattern.MatchString(id) {
		fields["id"] = "member ids are 1 to 100 letters, digits, dots, dashes or underscores"
	}
	in.Name = strings.TrimSpace(in.Name)
	if !validStaffName(in.Name) {
		fields["name"] = "a name of 1 to 100 characters on one line is required"
	}
	email, err := mail.CanonicalAddress(strings.TrimSpace(in.Email))
	if err != nil {
		fields["email"] = "a single valid email address is required"
	}
	if in.Language == "" {
		in.Language = tickets.Languages[0]
	}
	if !slices.Contains(tickets.Languages, in.Language) {
		fields["language"] = "language must be pt-PT or en"
	}
	for d, role := range in.Departments {
		if !storable(d) || (role != storage.RoleAgent && role != storage.RoleLead) {
			fields["departments"] = "each department id maps to a role, agent or lead"
		}
	}
	if len(fields) > 0 {
		return storage.StaffMember{}, &ValidationError{Fields: fields}
	}
	active := in.Active == nil || *in.Active
	m, err := s.store.PutStaffMember(ctx, storage.StaffMember{ID: id, Name: in.Name, Email: email, Language: in.Language, Active: active,
		Admin: in.Admin, Away: in.Away, Departments: in.Departments})
	switch {
	case errors.Is(err, storage.ErrUnknownDepartment):
		return m, &ValidationError{Fields: map[string]string{"departments": "unknown department: " + strings.TrimPrefix(err.Error(), storage.ErrUnknownDepartment.Error()+": ")}}
	case errors.Is(err, storage.ErrEmailTaken):
		return m, &ValidationError{Fields: map[string]string{"email": "another member has this email"}}
	case err != nil:
		return m, err
	}
	s.log.Info("staff member stored", "member", id, "active", active, "admin", in.Admin)
	return m, nil
}

func (s *Server) putMember(w http.ResponseWriter, r *http.Request) {
	var in MemberInput
	if !decodeJSON(w, r, &in) {
		return
	}
	m, err := s.PutMember(r.Context(), r.PathValue("sid"), in)
	var ve *ValidationError
	if errors.As(err, &ve) {
		validationFailed(w, ve.Fields)
		return
	} else if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, memberView(m))
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) {
	ms, err := s.store.StaffMembers(r.Context())
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := make([]memberJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, memberView(m))
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
}

// memberByID returns a member, active or not, or storage.ErrNotFound.
func (s *Server) memberByID(ctx context.Context, id string) (storage.StaffMember, error) {
	if !storable(id) || id == "" {
		return storage.StaffMember{}, storage.ErrNotFound
	}
	return s.store.StaffMember(ctx, id)
}

func (s *Server) getMember(w http.ResponseWriter, r *http.Request) {
	m, err := s.memberByID(r.Context(), r.PathValue("sid"))
	if !s.found(w, r, err, "staff_member_not_found", "No such staff member.") {
		return
	}
	writeJSON(w, http.StatusOK, memberView(m))
}

type tokenJSON struct {
	ID         string     `json:"id"`
	Label      string     `json:"label"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// MemberTokenPrefix starts every member token, so that one found in a file or a log is known
// for what it is.
const MemberTokenPrefix = "asm_"

// NewMemberToken makes an API token for an active member and stores its hash; the token's text
// is returned here only. storage.ErrNotFound when the member is unknown or inactive; a bad label
// is a *ValidationError.
func (s *Server) NewMemberToken(ctx context.Context, memberID, label string) (storage.StaffToken, string, error) {
	label = strings.TrimSpace(label)
	if utf8.RuneCountInString(label) > 100 || !storable(label) || strings.ContainsAny(label, "\r\n") {
		return storage.StaffToken{}, "", &ValidationError{Fields: map[string]string{"label": "a label of at most 100 characters on one line"}}
	}
	if !storable(memberID) || memberID == "" {
		return storage.StaffToken{}, "", storage.ErrNotFound
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	token := MemberTokenPrefix + base64.RawURLEncoding.EncodeToString(secret)
	t, err := s.store.AddStaffToken(ctx, memberID, hex.EncodeToString(id), hashToken(token), label)
	if err != nil {
		return t, "", err
	}
	s.log.Info("staff token made", "member", memberID, "token_id", t.ID)
	return t, token, nil
}

func (s *Server) addMemberToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Label string `json:"label"`
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	t, token, err := s.NewMemberToken(r.Context(), r.PathValue("sid"), in.Label)
	var ve *ValidationError
	if errors.As(err, &ve) {
		validationFailed(w, ve.Fields)
		return
	}
	if !s.found(w, r, err, "staff_member_not_found", "No such active staff member.") {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, map[string]any{"id": t.ID, "token": token, "label": t.Label, "created_at": t.CreatedAt.UTC()})
}

func (s *Server) listMemberTokens(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	if _, err := s.memberByID(r.Context(), sid); !s.found(w, r, err, "staff_member_not_found", "No such staff member.") {
		return
	}
	ts, err := s.store.StaffTokens(r.Context(), sid)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := make([]tokenJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenJSON{ID: t.ID, Label: t.Label, CreatedAt: t.CreatedAt.UTC(), LastUsedAt: utcPtr(t.LastUsedAt), RevokedAt: utcPtr(t.RevokedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

func (s *Server) revokeMemberToken(w http.ResponseWriter, r *http.Request) {
	sid, id := r.PathValue("sid"), r.PathValue("id")
	err := storage.ErrNotFound
	if storable(sid) && storable(id) {
		err = s.store.RevokeStaffToken(r.Context(), sid, id)
	}
	if !s.found(w, r, err, "token_not_found", "No such token of this member.") {
		return
	}
	s.log.Info("staff token revoked", "member", sid, "token_id", id)
	w.WriteHeader(http.StatusNoContent)
}
