package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
)

// revealJSON is an entry of the reveal audit. Legacy entries, from before staff were members, have
// only the free-text name they were given.
type revealJSON struct {
	Staff     string    `json:"staff"`
	Member    *string   `json:"member"`
	Via       *string   `json:"via"`
	Reason    *string   `json:"reason"`
	Legacy    bool      `json:"legacy"`
	Outcome   string    `json:"outcome"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *Server) staffTicket(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	t, cust, err := s.ticketWithCustomer(ctx, s.reach(r), r.PathValue("number"))
	if !s.found(w, r, err, "ticket_not_found", "No such ticket.") {
		return
	}
	v, err := s.ticketView(r, t, "pt-PT", true)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	reveals, err := s.reveals(ctx, t)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	history, err := s.statusHistoryView(ctx, t.ID)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	audit := make([]revealJSON, 0, len(reveals))
	for _, rv := range reveals {
		audit = append(audit, revealJSON{Staff: rv.Staff, Member: rv.MemberID, Via: rv.Via, Reason: rv.Reason, Legacy: rv.Legacy,
			Outcome: rv.Outcome, CreatedAt: rv.CreatedAt.UTC()})
	}
	var expires *time.Time
	if t.PasswordExpiresAt != nil {
		e := t.PasswordExpiresAt.UTC()
		expires = &e
	}
	writeJSON(w, http.StatusOK, struct {
		ticketJSON
		Customer          customerJSON       `json:"customer"`
		PasswordExpiresAt *time.Time         `json:"password_expires_at"`
		PasswordReveals   []revealJSON       `json:"password_reveals"`
		StatusHistory     []statusChangeJSON `json:"status_history"`
	}{v, customerView(cust), expires, audit, history})
}

func (s *Server) revealPassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var in struct {
		Staff  string `json:"staff"`
		Reason string `json:"reason"`
	}
	if !decodeJSON(w, r, &in) || !s.actAs(w, r, in.Staff) {
		return
	}
	reason, problem := checkReason(in.Reason)
	if problem != "" {
		validationFailed(w, map[string]string{"reason": problem})
		return
	}
	t, err := s.ticketByNumber(ctx, s.reach(r), r.PathValue("number"))
	if !s.found(w, r, err, "ticket_not_found", "No such ticket.") {
		return
	}
	rv, err := s.revealTicketPassword(ctx, s.reach(r), t, s.revealer(r, reason))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, "no_password", "No password was given with this ticket.", nil)
	case errors.Is(err, secret.ErrOpen):
		writeError(w, http.StatusInternalServerError, "password_unreadable",
			"The stored password cannot be opened (it was altered, or its key is no longer configured). Nothing was revealed; the attempt was recorded.", nil)
	case err != nil:
		s.storeError(w, r, err)
	case rv.Outcome == storage.RevealExpired:
		writeJSON(w, http.StatusGone, struct {
			errorBody
			Password string `json:"password"`
		}{errorBody{apiError{Code: "password_expired", Message: "The password was kept for its time and then destroyed."}}, secret.Obfuscated})
	default:
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, map[string]any{"password": rv.Password.Reveal(), "expires_at": rv.ExpiresAt.UTC()})
	}
}

// revealed is the outcome of an audited reveal.
type revealed struct {
	Outcome   string          // storage.RevealGranted, RevealExpired or RevealFailed
	Password  secret.Password // set when granted
	ExpiresAt time.Time
}

// maxReason is the longest reason a reveal may give, in characters.
const maxReason = 500

// checkReason cleans a reveal's optional reason and says what is wrong with it, if anything.
func checkReason(reason string) (string, string) {
	reason = strings.TrimSpace(cleanText(reason))
	if utf8.RuneCountInString(reason) > maxReason {
		return "", "the reason is limited to " + strconv.Itoa(maxReason) + " characters"
	}
	return reason, ""
}

// revealTicketPassword opens the password of a ticket within reach for a member and records the
// attempt, whatever its outcome. It returns storage.ErrNotFound when no password was given (or
// the ticket is out of reach), and an error matching secret.ErrOpen when the stored value cannot
// be opened (the failure is audited too).
func (s *Server) revealTicketPassword(ctx context.Context, reach storage.Reach, t storage.Ticket, by storage.Revealer) (revealed, error) {
	if by.MemberID == "" {
		return revealed{}, storage.ErrNotFound
	}
	var pw secret.Password
	p, outcome, err := s.store.RevealPassword(ctx, reach, t.ID, by, s.now().UTC(), func(p storage.SealedPassword) (err error) {
		pw, err = s.keys.Open(secret.Sealed{Password: p.Password, DataKey: p.DataKey}, storage.PasswordBinding(p.TicketID))
		return err
	})
	if outcome != "" {
		metrics.PasswordReveals.WithLabelValues(outcome).Inc()
	}
	if errors.Is(err, secret.ErrOpen) {
		// ErrOpen carries no key or plaintext; the log names only the ticket and the member.
		s.log.Error("stored password cannot be opened", "ticket", t.Number, "member", by.MemberID)
	}
	rv := revealed{Outcome: outcome, ExpiresAt: p.ExpiresAt}
	if err == nil && outcome == storage.RevealGranted {
		rv.Password = pw
	}
	return rv, err
}
