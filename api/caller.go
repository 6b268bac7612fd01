package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/assistd/assistd/storage"
)

// Staff callers.
//
// Every staff request acts as one authenticated member, looked up in the database at each request
// (no cache outlives a member's disabling):
//   - a member's own token, Authorization: Bearer <member token>;
//   - the service token ASSISTD_STAFF_TOKEN with Assistd-Staff-Member: <sid> (a portal acting for
//     a member it signed in), or with "staff": "<sid>" in the JSON body (the older form);
//   - in the console, a session begun with a staff link or the identity provider.
//
// The service token naming nobody may manage members and their tokens, department settings and
// service levels, and read /metrics and the queue dashboard; ticket and queue routes answer it
// 403 staff_member_unknown.

// StaffMemberHeader names the member a service-token call acts as.
const StaffMemberHeader = "Assistd-Staff-Member"

// staffCaller is who makes a staff request.
type staffCaller struct {
	member  *storage.StaffMember // nil: the service token, naming nobody (yet)
	via     string               // storage.ViaToken, ViaService, ViaLink or ViaOIDC
	service bool                 // the service token
}

type callerKey struct{}

func withCaller(r *http.Request, c *staffCaller) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
}

func callerOf(r *http.Request) *staffCaller {
	c, _ := r.Context().Value(callerKey{}).(*staffCaller)
	if c == nil {
		return &staffCaller{}
	}
	return c
}

// member is the member a staff request acts as, or nil.
func (s *Server) member(r *http.Request) *storage.StaffMember { return callerOf(r).member }

// revealer is how the audit names the caller of a request.
func (s *Server) revealer(r *http.Request, reason string) storage.Revealer {
	c := callerOf(r)
	if c.member == nil {
		return storage.Revealer{}
	}
	return storage.Revealer{MemberID: c.member.ID, Via: c.via, Reason: reason}
}

// hashToken is how a member token is kept and looked up: its SHA-256, in hex.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// staffAccess is what a staff route asks of its caller.
type staffAccess int

const (
	// actsAsMember: ticket and queue routes. A member, or the service token naming one (in a
	// JSON body the handler checks with actAs).
	actsAsMember staffAccess = iota
	// manages: members, tokens, settings, service levels, the mail room. The service token
	// alone, or an admin member.
	manages
	// managesOwn: the service token alone, or any member, whom the handler holds to their role
	// in the department (saved replies: a lead's or an admin's to write, any member's to read).
	managesOwn
)

// staffAPI authenticates a staff API request and checks its access before h runs.
func (s *Server) staffAPI(access staffAccess) func(http.HandlerFunc) http.Handler {
	return func(h http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := s.authenticateStaff(w, r)
			if !ok {
				return
			}
			switch access {
			case manages:
				if c.member != nil && !c.member.Admin {
					writeError(w, http.StatusForbidden, "forbidden", "Only an admin member, or the service token, may do this.", nil)
					return
				}
			case actsAsMember:
				// A body may still name the member ("staff"); a request without one cannot.
				if c.member == nil && (r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodDelete) {
					memberUnknown(w)
					return
				}
			}
			h(w, withCaller(r, c))
		})
	}
}

func memberUnknown(w http.ResponseWriter) {
	writeError(w, http.StatusForbidden, "staff_member_unknown",
		"Staff calls act as an active member: send the member's own token, or name the member with the Assistd-Staff-Member header.", nil)
}

// authenticateStaff finds who makes a staff API request. When it fails it has answered: 401 for
// missing or wrong credentials (429 when this address failed too often), 403 for the client token
// or for a service token naming someone who is not an active member.
func (s *Server) authenticateStaff(w http.ResponseWriter, r *http.Request) (*staffCaller, bool) {
	token, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	named := r.Header.Get(StaffMemberHeader)
	switch {
	case bearer && tokenEqual(token, s.cfg.StaffToken):
		c := &staffCaller{service: true, via: storage.ViaService}
		if named == "" {
			return c, true
		}
		m, err := s.activeMember(r.Context(), named)
		if errors.Is(err, storage.ErrNotFound) {
			memberUnknown(w)
			return nil, false
		} else if err != nil {
			s.storeError(w, r, err)
			return nil, false
		}
		c.member = &m
		return c, true
	case bearer && tokenEqual(token, s.cfg.APIToken):
		writeError(w, http.StatusForbidden, "forbidden", "This token may not use this endpoint.", nil)
		return nil, false
	case bearer && token != "" && storable(token):
		m, _, err := s.store.StaffMemberByToken(r.Context(), hashToken(token))
		if err == nil {
			if named != "" && named != m.ID {
				memberUnknown(w)
				return nil, false
			}
			return &staffCaller{member: &m, via: storage.ViaToken}, true
		}
		if !errors.Is(err, storage.ErrNotFound) {
			s.storeError(w, r, err)
			return nil, false
		}
	}
	if bearer && token != "" {
		if s.authFailed(w, r, "staff_token") {
			return nil, false
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="assistd"`)
	writeError(w, http.StatusUnauthorized, "unauthorized", "Missing or wrong bearer token.", nil)
	return nil, false
}

// activeMember returns an active member by id, or storage.ErrNotFound.
func (s *Server) activeMember(ctx context.Context, id string) (storage.StaffMember, error) {
	if !storable(id) || id == "" {
		return storage.StaffMember{}, storage.ErrNotFound
	}
	return s.store.ActiveStaffMember(ctx, id)
}

// actAs settles who a staff request with a JSON body acts as, given the body's "staff" field (the
// older way of naming the member): a member caller may name only themselves; the service token
// naming nobody by header must name an active member here. When it fails it has answered 403.
func (s *Server) actAs(w http.ResponseWriter, r *http.Request, named string) bool {
	c := callerOf(r)
	named = strings.TrimSpace(named)
	if c.member != nil {
		if named != "" && named != c.member.ID {
			writeError(w, http.StatusForbidden, "staff_member_unknown", "The staff field must name the member making the call.", nil)
			return false
		}
		return true
	}
	if !c.service || named == "" {
		memberUnknown(w)
		return false
	}
	m, err := s.activeMember(r.Context(), named)
	if errors.Is(err, storage.ErrNotFound) {
		memberUnknown(w)
		return false
	} else if err != nil {
		s.storeError(w, r, err)
		return false
	}
	c.member = &m
	return true
}
