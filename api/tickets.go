package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
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

// ticketRequest is a new ticket as the client area submits it, through the JSON API or the form.
type ticketRequest struct {
	SubjectID      string
	Domain         *string // nil: "O produto não está associado a um domínio"
	Message        string
	Password       *string
	RelatedTicket  *string
	IdempotencyKey string
	Attachments    []string // upload ids of the customer
}

// Problems with a ticketRequest, by field; the API and the pages word them alike, in the
// customer's language (formProblems).
const (
	problemIdempotencyKeyTooLong = "idempotency_key_too_long"
	problemSubjectUnknown        = "subject_unknown"
	problemDomainNotOwned        = "domain_not_owned"
	problemMessageEmpty          = "message_empty"
	problemMessageTooLong        = "message_too_long"
	problemPasswordTooLong       = "password_too_long"
	problemRelatedUnknown        = "related_unknown"
)

// prepareTicket validates a customer's request and builds what storage creates. It returns the
// problems found by field (none when the ticket may be created), or a storage error.
func (s *Server) prepareTicket(ctx context.Context, cust storage.Customer, in ticketRequest) (storage.NewTicket, map[string]string, error) {
	problems := map[string]string{}
	key := in.IdempotencyKey
	if len(key) > 200 || strings.ContainsAny(key, "\r\n") || !storable(key) {
		problems["Idempotency-Key"] = problemIdempotencyKeyTooLong
	}
	if _, err := s.subject(ctx, in.SubjectID); errors.Is(err, storage.ErrNotFound) {
		problems["subject_id"] = problemSubjectUnknown
	} else if err != nil {
		return storage.NewTicket{}, nil, err
	}
	var domain *string
	if in.Domain != nil {
		d := strings.ToLower(strings.TrimSpace(*in.Domain))
		if !slices.Contains(cust.Domains, d) {
			problems["domain"] = problemDomainNotOwned
		}
		domain = &d
	}
	message := strings.TrimSpace(cleanText(in.Message))
	switch n := utf8.RuneCountInString(message); {
	case n == 0:
		problems["message"] = problemMessageEmpty
	case n > MaxMessageRunes:
		problems["message"] = problemMessageTooLong
	}
	var password secret.Password
	if in.Password != nil {
		password = secret.NewPassword(*in.Password)
		if password.Len() > secret.MaxPasswordBytes {
			problems["password"] = problemPasswordTooLong
		}
	}
	var related *string
	if in.RelatedTicket != nil && *in.RelatedTicket != "" {
		n := strings.TrimPrefix(strings.TrimSpace(*in.RelatedTicket), "#")
		if _, err := s.ticketOf(ctx, cust.ID, n); errors.Is(err, storage.ErrNotFound) {
			problems["related_ticket"] = problemRelatedUnknown
		} else if err != nil {
			return storage.NewTicket{}, nil, err
		}
		related = &n
	}
	filesProblem, err := s.checkAttachments(ctx, storage.OwnerCustomer, cust.ID, in.Attachments)
	if err != nil {
		return storage.NewTicket{}, nil, err
	}
	if filesProblem != "" && (key == "" || len(problems) > 0) {
		problems["attachments"] = filesProblem
	}
	if len(problems) > 0 {
		return storage.NewTicket{}, problems, nil
	}
	created := s.now().UTC().Truncate(time.Microsecond)
	nt := storage.NewTicket{CustomerID: cust.ID, SubjectID: in.SubjectID, Domain: domain, Message: message, RelatedTicket: related,
		IdempotencyKey: key, CreatedAt: created, Attach: s.attach(storage.OwnerCustomer, cust.ID, in.Attachments)}
	if key != "" && s.keys != nil {
		nt.RequestDigest = s.keys.Digest(canonicalRequest(nt, password))
	}
	if !password.Empty() {
		expires := created.Add(s.cfg.SecretTTL)
		nt.PasswordExpiresAt = &expires
		nt.Seal = func(id int64) (secret.Sealed, error) { return s.keys.Seal(password, storage.PasswordBinding(id)) }
	}
	if filesProblem != "" {
		// A request sent again under its key names the files its first sending attached: whether it
		// is the same request is for the key's digest to say (CreateTicket answers the first ticket,
		// or ErrIdempotencyMismatch). With no ticket under the key, the files are refused.
		c, err := s.store.Replay(ctx, nt)
		switch {
		case errors.Is(err, storage.ErrIdempotencyMismatch), err == nil && c.Replayed:
		case err != nil:
			return storage.NewTicket{}, nil, err
		default:
			return storage.NewTicket{}, map[string]string{"attachments": filesProblem}, nil
		}
	}
	return nt, nil, nil
}

// canonicalRequest is the form of a prepared request that an Idempotency-Key is kept with: every
// field the customer chose, as it will be stored (a domain in lower case, a message trimmed), so
// that the same request sent again matches and any other does not. It holds the password: only
// its keyed digest is ever kept.
func canonicalRequest(nt storage.NewTicket, password secret.Password) []byte {
	var pw *string
	if !password.Empty() {
		p := password.Reveal()
		pw = &p
	}
	// The files are a set: their order does not make another request. Without files the form is
	// what it was before attachments existed, so keys kept then still match.
	files := append([]string(nil), nt.Attach.IDs...)
	slices.Sort(files)
	b, _ := json.Marshal(struct {
		Subject  string   `json:"subject_id"`
		Domain   *string  `json:"domain"`
		Message  string   `json:"message"`
		Password *string  `json:"password"`
		Related  *string  `json:"related_ticket"`
		Files    []string `json:"attachments,omitempty"`
	}{nt.SubjectID, nt.Domain, nt.Message, pw, nt.RelatedTicket, files})
	return b
}

// submitTicket stores a prepared ticket and queues its processing (the outbox relay queues it
// later when Redis is down).
func (s *Server) submitTicket(ctx context.Context, nt storage.NewTicket) (storage.Created, error) {
	res, err := s.store.CreateTicket(ctx, nt)
	if err != nil {
		return res, err
	}
	if !res.Replayed {
		metrics.TicketsCreated.Inc()
		s.enqueue(ctx, jobs.NewTicketCreateTask(res.TicketID))
		s.scheduleDestruction(ctx, nt.Attach)
	}
	return res, nil
}

func (s *Server) createTicket(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cid := r.PathValue("cid")
	var in struct {
		SubjectID     string   `json:"subject_id"`
		Domain        *string  `json:"domain"` // null or missing: no domain
		Message       string   `json:"message"`
		Password      *string  `json:"password"`
		RelatedTicket *string  `json:"related_ticket"`
		Attachments   []string `json:"attachments"`
	}
	cust, err := s.customer(ctx, cid)
	if !s.found(w, r, err, "customer_not_found", "No such customer.") {
		return
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	nt, problems, err := s.prepareTicket(ctx, cust, ticketRequest{SubjectID: in.SubjectID, Domain: in.Domain, Message: in.Message,
		Password: in.Password, RelatedTicket: in.RelatedTicket, IdempotencyKey: r.Header.Get("Idempotency-Key"), Attachments: in.Attachments})
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	if len(problems) > 0 {
		fields := make(map[string]string, len(problems))
		for f, p := range problems {
			fields[f] = translate(cust.Language, formProblems[p])
		}
		customerValidationFailed(w, cust.Language, fields)
		return
	}
	res, err := s.submitTicket(ctx, nt)
	if errors.Is(err, storage.ErrUploadUnusable) {
		text := translate(cust.Language, "attachment.not_yours")
		customerValidationFailed(w, cust.Language, map[string]string{"attachments": text})
		return
	}
	if errors.Is(err, storage.ErrIdempotencyMismatch) {
		writeError(w, http.StatusConflict, "idempotency_key_reused", "This Idempotency-Key was already used for a different request.", nil)
		return
	}
	if err != nil {
		s.storeError(w, r, err)
		return
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
	cust, err := s.customer(ctx, cid)
	if !s.found(w, r, err, "customer_not_found", "No such customer.") {
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
	Author string  `json:"author"`
	Staff  *string `json:"staff,omitempty"`
	// Member and Internal are in staff views only: the member who wrote a staff message, and
	// whether it is an internal note (never in a customer's view).
	Member      *string          `json:"member,omitempty"`
	Internal    *bool            `json:"internal,omitempty"`
	Body        string           `json:"body"`
	CreatedAt   time.Time        `json:"created_at"`
	Attachments []attachmentJSON `json:"attachments"`
}

type ticketJSON struct {
	ticketSummaryJSON
	Domain        *string        `json:"domain"`
	Department    departmentJSON `json:"department"`
	RelatedTicket *string        `json:"related_ticket"`
	Password      *string        `json:"password"`
	URL           string         `json:"url"`
	Messages      []messageJSON  `json:"messages"`
	// ReplyExpectedBy is when the pending answer is due, null when no clock runs.
	ReplyExpectedBy *time.Time `json:"reply_expected_by"`
	// SLA is the service-level clocks, in staff views only.
	SLA *slaJSON `json:"sla,omitempty"`
	// Priority is in staff views only.
	Priority string `json:"priority,omitempty"`
	// Assignee is the member who owns the ticket, null for nobody, in staff views only.
	Assignee json.RawMessage `json:"assignee,omitempty"`
	// PasswordViews is when staff revealed the password, in customer views only: times, no names.
	PasswordViews *[]time.Time `json:"password_views,omitempty"`
}

func (s *Server) ticketView(r *http.Request, t storage.Ticket, lang string, staffView bool) (ticketJSON, error) {
	read := s.store.Messages
	if staffView {
		read = s.store.StaffMessages
	}
	msgs, err := read(r.Context(), t.ID)
	if err != nil {
		return ticketJSON{}, err
	}
	atts, err := s.threadFiles(r.Context(), t.ID, msgs)
	if err != nil {
		return ticketJSON{}, err
	}
	v := s.ticketJSON(t, msgs, atts, lang, staffView)
	if !staffView {
		views, err := s.passwordViews(r.Context(), t)
		if err != nil {
			return ticketJSON{}, err
		}
		utc := make([]time.Time, 0, len(views))
		for _, at := range views {
			utc = append(utc, at.UTC())
		}
		v.PasswordViews = &utc
	}
	return v, nil
}

func (s *Server) ticketJSON(t storage.Ticket, msgs []storage.Message, atts map[int64][]storage.Attachment, lang string, staffView bool) ticketJSON {
	v := ticketJSON{ticketSummaryJSON: summaryView(t, lang), Domain: t.Domain, RelatedTicket: t.RelatedTicket, URL: s.ticketURL(t.Number),
		Department: departmentJSON{ID: t.DepartmentID, Name: t.DepartmentLabel(lang)}, Messages: make([]messageJSON, 0, len(msgs))}
	if state := t.PasswordState(s.now()); state != storage.PasswordNone {
		v.Password = &state
	}
	v.ReplyExpectedBy = replyExpectedBy(t)
	if staffView {
		v.SLA = slaView(t, s.now())
		v.Priority = string(t.Priority())
		v.Assignee, _ = json.Marshal(t.AssigneeID)
	}
	for _, m := range msgs {
		if m.Internal && !staffView {
			continue // the customer's reads leave notes out already; a note must never reach them
		}
		mj := messageJSON{Author: m.Author, Body: m.Body, CreatedAt: m.CreatedAt.UTC(), Attachments: attachmentsView(atts[m.ID])}
		if staffView {
			internal := m.Internal
			mj.Staff, mj.Member, mj.Internal = m.Staff, m.Member, &internal
		}
		v.Messages = append(v.Messages, mj)
	}
	return v
}

func (s *Server) customerTicket(w http.ResponseWriter, r *http.Request) {
	cid := r.PathValue("cid")
	cust, err := s.customer(r.Context(), cid)
	if !s.found(w, r, err, "ticket_not_found", "No such ticket.") {
		return
	}
	t, err := s.ticketOf(r.Context(), cid, r.PathValue("number"))
	if !s.found(w, r, err, "ticket_not_found", "No such ticket.") {
		return
	}
	v, err := s.ticketView(r, t, cust.Language, false)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// customer returns a customer, or storage.ErrNotFound; an id no database could hold names none.
func (s *Server) customer(ctx context.Context, id string) (storage.Customer, error) {
	if !storable(id) {
		return storage.Customer{}, storage.ErrNotFound
	}
	return s.store.Customer(ctx, id)
}

// ticketOf returns one of a customer's tickets, or storage.ErrNotFound: another customer's
// ticket, and a customer id or number no database could hold, name none.
func (s *Server) ticketOf(ctx context.Context, customerID, number string) (storage.Ticket, error) {
	if !storable(customerID) || !storable(number) || customerID == storage.ErasedCustomer {
		return storage.Ticket{}, storage.ErrNotFound
	}
	return s.store.CustomerTicket(ctx, customerID, number)
}

// ticketByNumber returns a ticket within a staff caller's reach, or storage.ErrNotFound.
func (s *Server) ticketByNumber(ctx context.Context, reach storage.Reach, number string) (storage.Ticket, error) {
	if !storable(number) {
		return storage.Ticket{}, storage.ErrNotFound
	}
	return s.store.TicketByNumber(ctx, reach, number)
}

// ticketWithCustomer is ticketByNumber with the ticket's customer, in one statement.
func (s *Server) ticketWithCustomer(ctx context.Context, reach storage.Reach, number string) (storage.Ticket, storage.Customer, error) {
	if !storable(number) {
		return storage.Ticket{}, storage.Customer{}, storage.ErrNotFound
	}
	return s.store.TicketWithCustomer(ctx, reach, number)
}

// passwordViews lists when staff revealed a ticket's password; a ticket given no password has
// none, and costs no query.
func (s *Server) passwordViews(ctx context.Context, t storage.Ticket) ([]time.Time, error) {
	if t.PasswordExpiresAt == nil {
		return nil, nil
	}
	return s.store.PasswordViews(ctx, t.ID)
}

// reveals is a ticket's reveal audit; a ticket given no password has none, and costs no query.
func (s *Server) reveals(ctx context.Context, t storage.Ticket) ([]storage.Reveal, error) {
	if t.PasswordExpiresAt == nil {
		return nil, nil
	}
	return s.store.Reveals(ctx, t.ID)
}
