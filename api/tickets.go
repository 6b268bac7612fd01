package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/tickets"
)

// MaxMessageRunes bounds a message's length.
const MaxMessageRunes = 20000

// optionalString tells a JSON null or a missing field apart from a string.
type optionalString struct {
	Set   bool
	Value *string
}

func (o *optionalString) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := jsonUnmarshal(b, &s); err != nil {
		return err
	}
	o.Value = &s
	return nil
}

func (s *Server) createTicket(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cid := r.PathValue("cid")
	var in struct {
		SubjectID     string         `json:"subject_id"`
		Domain        optionalString `json:"domain"`
		Message       string         `json:"message"`
		Password      *string        `json:"password"`
		RelatedTicket *string        `json:"related_ticket"`
	}
	key := r.Header.Get("Idempotency-Key")
	cust, err := s.store.Customer(ctx, cid)
	if errors.Is(err, storage.ErrNotFound) {
		writeError(w, http.StatusNotFound, "customer_not_found", "No such customer.", nil)
		return
	} else if err != nil {
		s.storeError(w, r, err)
		return
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	fields := map[string]string{}
	if len(key) > 200 || strings.ContainsAny(key, "\r\n") {
		fields["Idempotency-Key"] = "the Idempotency-Key header is limited to 200 characters"
	}
	if _, err := s.store.SubjectByID(ctx, in.SubjectID); errors.Is(err, storage.ErrNotFound) {
		fields["subject_id"] = "unknown subject; choose one from GET /api/v1/subjects"
	} else if err != nil {
		s.storeError(w, r, err)
		return
	}
	var domain *string
	if in.Domain.Value != nil {
		d := strings.ToLower(strings.TrimSpace(*in.Domain.Value))
		owned := false
		for _, cd := range cust.Domains {
			owned = owned || cd == d
		}
		if !owned {
			fields["domain"] = "choose one of the customer's domains, or null when the product is not associated with a domain"
		}
		domain = &d
	}
	message := strings.TrimSpace(in.Message)
	switch n := utf8.RuneCountInString(message); {
	case n == 0:
		fields["message"] = "describe the question; the message cannot be empty"
	case n > MaxMessageRunes:
		fields["message"] = "the message is limited to " + strconv.Itoa(MaxMessageRunes) + " characters"
	}
	var password secret.Password
	if in.Password != nil {
		password = secret.NewPassword(*in.Password)
		if password.Len() > secret.MaxPasswordBytes {
			fields["password"] = "the password is limited to 1024 bytes"
		}
	}
	var related *string
	if in.RelatedTicket != nil && *in.RelatedTicket != "" {
		n := strings.TrimPrefix(strings.TrimSpace(*in.RelatedTicket), "#")
		if _, err := s.store.CustomerTicket(ctx, cid, n); errors.Is(err, storage.ErrNotFound) {
			fields["related_ticket"] = "not one of this customer's tickets"
		} else if err != nil {
			s.storeError(w, r, err)
			return
		}
		related = &n
	}
	if len(fields) > 0 {
		validationFailed(w, fields)
		return
	}

	created := s.now().UTC().Truncate(time.Microsecond)
	nt := storage.NewTicket{CustomerID: cid, SubjectID: in.SubjectID, Domain: domain, Message: message, RelatedTicket: related,
		IdempotencyKey: key, CreatedAt: created}
	if !password.Empty() {
		expires := created.Add(s.cfg.SecretTTL)
		nt.PasswordExpiresAt = &expires
		nt.Seal = func(id int64) (secret.Sealed, error) { return s.keys.Seal(password, storage.PasswordBinding(id)) }
	}
	res, err := s.store.CreateTicket(ctx, nt)
	if errors.Is(err, storage.ErrIdempotencyMismatch) {
		writeError(w, http.StatusConflict, "idempotency_key_reused", "This Idempotency-Key was already used for a different request.", nil)
		return
	}
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	if !res.Replayed {
		metrics.TicketsCreated.Inc()
		s.enqueue(ctx, jobs.NewTicketCreateTask(res.TicketID))
	}
	writeJSON(w, http.StatusAccepted, map[string]string{
		"number": res.Number, "status": string(res.Status), "contact_email": cust.Email, "url": s.ticketURL(res.Number),
	})
}

func (s *Server) ticketURL(number string) string { return s.cfg.PublicURL + "/tickets/" + number }

type ticketSummaryJSON struct {
	Number      string     `json:"number"`
	Subject     subjectRef `json:"subject"`
	CreatedAt   time.Time  `json:"created_at"`
	Status      string     `json:"status"`
	StatusLabel string     `json:"status_label"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

type subjectRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cid := r.PathValue("cid")
	q := r.URL.Query()
	fields := map[string]string{}
	hq := storage.HistoryQuery{CustomerID: cid, Page: 1, PerPage: 20}
	if st := q.Get("status"); st != "" {
		if !tickets.Status(st).Valid() {
			fields["status"] = "unknown status"
		}
		hq.Status = tickets.Status(st)
	}
	if p := q.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 100000 {
			fields["page"] = "page is a number from 1"
		}
		hq.Page = n
	}
	if p := q.Get("per_page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 100 {
			fields["per_page"] = "per_page is a number from 1 to 100"
		}
		hq.PerPage = n
	}
	if len(fields) > 0 {
		validationFailed(w, fields)
		return
	}
	cust, err := s.store.Customer(ctx, cid)
	if errors.Is(err, storage.ErrNotFound) {
		writeError(w, http.StatusNotFound, "customer_not_found", "No such customer.", nil)
		return
	} else if err != nil {
		s.storeError(w, r, err)
		return
	}
	list, total, err := s.store.History(ctx, hq)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := make([]ticketSummaryJSON, 0, len(list))
	for _, t := range list {
		out = append(out, summaryView(t, cust.Language))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tickets": out, "page": hq.Page, "per_page": hq.PerPage, "total": total})
}

func summaryView(t storage.Ticket, lang string) ticketSummaryJSON {
	return ticketSummaryJSON{Number: t.Number, Subject: subjectRef{ID: t.SubjectID, Name: t.SubjectLabel(lang)},
		CreatedAt: t.CreatedAt.UTC(), Status: string(t.Status), StatusLabel: t.Status.Label(lang), UpdatedAt: t.UpdatedAt.UTC()}
}

type messageJSON struct {
	Author    string    `json:"author"`
	Staff     *string   `json:"staff,omitempty"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

type ticketJSON struct {
	ticketSummaryJSON
	Domain        *string        `json:"domain"`
	Department    departmentJSON `json:"department"`
	RelatedTicket *string        `json:"related_ticket"`
	Password      *string        `json:"password"`
	URL           string         `json:"url"`
	Messages      []messageJSON  `json:"messages"`
}

func (s *Server) ticketView(r *http.Request, t storage.Ticket, lang string, staffView bool) (ticketJSON, error) {
	msgs, err := s.store.Messages(r.Context(), t.ID)
	if err != nil {
		return ticketJSON{}, err
	}
	v := ticketJSON{ticketSummaryJSON: summaryView(t, lang), Domain: t.Domain, RelatedTicket: t.RelatedTicket, URL: s.ticketURL(t.Number),
		Department: departmentJSON{ID: t.DepartmentID, Name: t.DepartmentLabel(lang)}, Messages: make([]messageJSON, 0, len(msgs))}
	if state := t.PasswordState(s.now()); state != storage.PasswordNone {
		v.Password = &state
	}
	for _, m := range msgs {
		mj := messageJSON{Author: m.Author, Body: m.Body, CreatedAt: m.CreatedAt.UTC()}
		if staffView {
			mj.Staff = m.Staff
		}
		v.Messages = append(v.Messages, mj)
	}
	return v, nil
}

func (s *Server) customerTicket(w http.ResponseWriter, r *http.Request) {
	cid := r.PathValue("cid")
	cust, err := s.store.Customer(r.Context(), cid)
	if errors.Is(err, storage.ErrNotFound) {
		writeError(w, http.StatusNotFound, "ticket_not_found", "No such ticket.", nil)
		return
	} else if err != nil {
		s.storeError(w, r, err)
		return
	}
	t, err := s.store.CustomerTicket(r.Context(), cid, r.PathValue("number"))
	if errors.Is(err, storage.ErrNotFound) {
		writeError(w, http.StatusNotFound, "ticket_not_found", "No such ticket.", nil)
		return
	} else if err != nil {
		s.storeError(w, r, err)
		return
	}
	v, err := s.ticketView(r, t, cust.Language, false)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
