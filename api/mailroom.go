package api

import (
	"net/http"
	"strconv"
	"time"
)

func limitParam(r *http.Request, w http.ResponseWriter) (int, bool) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			validationFailed(w, map[string]string{"limit": "limit is a number from 1 to 1000"})
			return 0, false
		}
		limit = n
	}
	return limit, true
}

type inboundJSON struct {
	Mailbox   string    `json:"mailbox"`
	UID       uint32    `json:"uid"`
	From      string    `json:"from"`
	Subject   string    `json:"subject"`
	Outcome   string    `json:"outcome"`
	Reason    string    `json:"reason"`
	Ticket    *string   `json:"ticket"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *Server) inbound(w http.ResponseWriter, r *http.Request) {
	limit, ok := limitParam(r, w)
	if !ok {
		return
	}
	outcome := r.URL.Query().Get("outcome")
	if !storable(outcome) {
		validationFailed(w, map[string]string{"outcome": "outcome is one of the outcomes the log lists, such as answered_ticket"})
		return
	}
	ms, err := s.store.InboundMessages(r.Context(), limit, outcome)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := make([]inboundJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, inboundJSON{Mailbox: m.Mailbox, UID: m.UID, From: m.From, Subject: m.Subject, Outcome: m.Outcome, Reason: m.Reason,
			Ticket: m.Ticket, CreatedAt: m.CreatedAt.UTC()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out})
}

type failedEmailJSON struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	Recipient string    `json:"recipient"`
	MessageID string    `json:"message_id"`
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (s *Server) failedEmails(w http.ResponseWriter, r *http.Request) {
	limit, ok := limitParam(r, w)
	if !ok {
		return
	}
	rows, err := s.store.FailedEmails(r.Context(), limit)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := make([]failedEmailJSON, 0, len(rows))
	for _, row := range rows {
		out = append(out, failedEmailJSON{ID: row.ID, Kind: row.Kind, Recipient: deref(row.Recipient), MessageID: deref(row.MessageID),
			State: row.State, Attempts: row.Attempts, LastError: deref(row.LastError), UpdatedAt: row.UpdatedAt.UTC()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"emails": out})
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
