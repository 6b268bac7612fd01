package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/storage"
)

// A customer's data rights: the export of everything assistd holds about them, and its erasure.

// exportCustomerJSON is the record part of an export.
type exportCustomerJSON struct {
	customerJSON
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type exportTicketJSON struct {
	ticketJSON
	PasswordViews []time.Time         `json:"password_views"`
	StatusHistory []statusChangeJSON  `json:"status_history"`
	Emails        []exportedEmailJSON `json:"emails"`
	EmailReplies  []emailReplyJSON    `json:"email_replies"`
	Attachments   []exportedFileJSON  `json:"attachments"`
}

// exportedFileJSON is one file of an export: what it is, and where the customer fetches it.
type exportedFileJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	ContentType string    `json:"content_type"`
	UploadedAt  time.Time `json:"uploaded_at"`
	Removed     bool      `json:"removed,omitempty"`
	URL         string    `json:"url,omitempty"`
}

type exportedEmailJSON struct {
	Kind      string     `json:"kind"`
	To        *string    `json:"to"`
	State     string     `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	SentAt    *time.Time `json:"sent_at"`
}

type emailReplyJSON struct {
	From       string     `json:"from"`
	Subject    string     `json:"subject"`
	ReceivedAt time.Time  `json:"received_at"`
	Outcome    string     `json:"outcome"`
	AnsweredAt *time.Time `json:"automatic_answer_sent_at"`
	AnswerTo   *string    `json:"automatic_answer_to"`
}

// exportCustomer streams one JSON document: the customer record, then each ticket as it is read
// (a page of tickets at a time, so memory does not grow with their number), then the mail about
// no ticket. An error after the first byte aborts the response, so that a cut document never
// passes for a whole one.
func (s *Server) exportCustomer(w http.ResponseWriter, r *http.Request) {
	cust, err := s.customer(r.Context(), r.PathValue("cid"))
	if !s.found(w, r, err, "customer_not_found", "No such customer.") {
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="assistd-export.json"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := s.writeExport(r.Context(), w, cust); err != nil {
		s.log.Error("export cut short", "route", r.Pattern, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// Export writes a customer's export to w (assistd customer export); an unknown customer is
// storage.ErrNotFound.
func (s *Server) Export(ctx context.Context, w io.Writer, customerID string) error {
	cust, err := s.customer(ctx, customerID)
	if err != nil {
		return err
	}
	return s.writeExport(ctx, w, cust)
}

func (s *Server) writeExport(ctx context.Context, w io.Writer, cust storage.Customer) error {
	enc := json.NewEncoder(w)
	head, err := json.Marshal(struct {
		ExportedAt time.Time          `json:"exported_at"`
		Customer   exportCustomerJSON `json:"customer"`
	}{s.now().UTC(), exportCustomerJSON{customerView(cust), cust.CreatedAt.UTC(), cust.UpdatedAt.UTC()}})
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, string(head[:len(head)-1])+`,"tickets":[`); err != nil {
		return err
	}
	first := true
	err = s.store.ExportTickets(ctx, cust.ID, func(t storage.ExportedTicket) error {
		if !first {
			if _, err := io.WriteString(w, ","); err != nil {
				return err
			}
		}
		first = false
		return enc.Encode(s.exportedTicket(t, cust.Language))
	})
	if err != nil {
		return err
	}
	replies, emails, err := s.store.ExportMail(ctx, cust.Email)
	if err != nil {
		return err
	}
	tail, err := json.Marshal(struct {
		Replies []emailReplyJSON    `json:"email_replies_without_ticket"`
		Emails  []exportedEmailJSON `json:"emails_without_ticket"`
	}{repliesView(replies), emailsView(emails)})
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, "],"+string(tail[1:])+"\n")
	return err
}

func (s *Server) exportedTicket(t storage.ExportedTicket, lang string) exportTicketJSON {
	v := exportTicketJSON{ticketJSON: s.ticketJSON(t.Ticket, t.Messages, t.Attachments, lang, false),
		PasswordViews: t.PasswordViews, StatusHistory: statusChangesView(t.Statuses, lang, false),
		Emails: emailsView(t.Emails), EmailReplies: repliesView(t.Replies), Attachments: []exportedFileJSON{}}
	for _, m := range t.Messages {
		for _, a := range t.Attachments[m.ID] {
			a = a.AsAt(s.now())
			f := exportedFileJSON{ID: a.ID, Name: a.Name, Size: a.Size, SHA256: a.SHA256, ContentType: a.ContentType, UploadedAt: a.CreatedAt.UTC(), Removed: a.Removed()}
			if !a.Removed() {
				f.URL = s.ticketURL(t.Ticket.Number) + "/attachments/" + a.ID
			}
			v.Attachments = append(v.Attachments, f)
		}
	}
	if v.PasswordViews == nil {
		v.PasswordViews = []time.Time{}
	}
	return v
}

func emailsView(es []storage.ExportedEmail) []exportedEmailJSON {
	out := make([]exportedEmailJSON, 0, len(es))
	for _, e := range es {
		out = append(out, exportedEmailJSON{Kind: e.Kind, To: e.Recipient, State: e.State, CreatedAt: e.CreatedAt.UTC(), SentAt: utcPtr(e.DoneAt)})
	}
	return out
}

func repliesView(rs []storage.ExportedReply) []emailReplyJSON {
	out := make([]emailReplyJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, emailReplyJSON{From: r.From, Subject: r.Subject, ReceivedAt: r.ReceivedAt.UTC(), Outcome: r.Outcome,
			AnsweredAt: utcPtr(r.AnsweredAt), AnswerTo: r.AnswerTo})
	}
	return out
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// eraseCustomer records a customer's erasure and queues its completion: from the answer on
// nothing of theirs is served, and the customer is unknown.
func (s *Server) eraseCustomer(w http.ResponseWriter, r *http.Request) {
	cid := r.PathValue("cid")
	if _, err := s.customer(r.Context(), cid); !s.found(w, r, err, "customer_not_found", "No such customer.") {
		return
	}
	e, err := s.store.EraseCustomer(r.Context(), cid)
	if errors.Is(err, storage.ErrNotFound) {
		writeError(w, http.StatusNotFound, "customer_not_found", "No such customer.", nil)
		return
	}
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	// Redis down: sweep:erasures carries it out within a minute of Redis being back.
	s.enqueue(r.Context(), jobs.NewEraseTask(e.ID))
	s.log.Info("customer erasure recorded", "erasure_id", e.ID, "tickets", e.Tickets)
	writeJSON(w, http.StatusOK, map[string]storage.Erased{"erased": e})
}
