// Package notify says which emails each change of a ticket sends, and to whom:
//
//	change                                  emails (outbox kind → recipient, language)
//	a new request, routed (ticket:create)   confirmation → customer, theirs; department → department, pt-PT
//	a customer's reply (API or page)        customer_reply → the assignee, else the department, pt-PT
//	a staff answer, a staff status change   update → customer, theirs
//	an internal note, a priority            none
//	a transfer to another department        transfer → the assignee (kept only if a member there), else the new department, pt-PT
//	an answered ticket closed for silence   autoclose → customer, theirs
//	a customer closes their ticket          none
//	a person's email reply (mail/inbound)   auto_answer → the reply's return path, the ticket's customer's
//	a service level's warning, its breach   sla_warning, sla_breach → the assignee, theirs, else the department, pt-PT (jobs' sla:moment)
//
// Staff mail is in Portuguese whatever the customer's language; customers read theirs. The
// functions run inside the transaction that makes the change (storage.Compose), so a change and
// its emails are stored together or not at all; mail renders them, and the outbox sends them.
// Nothing here reads the database or sends anything.
package notify

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/storage"
)

// Outbox kinds of the emails of ticket changes.
const (
	KindConfirmation  = "confirmation"
	KindDepartment    = "department"
	KindCustomerReply = "customer_reply"
	KindUpdate        = "update"
	KindAutoClose     = "autoclose"
	KindAutoAnswer    = "auto_answer"
	KindSLAWarning    = "sla_warning"
	KindSLABreach     = "sla_breach"
	KindTransfer      = "transfer"
)

// Emails renders the emails of ticket changes with a composer.
type Emails struct {
	Composer *mail.Composer
	Log      *slog.Logger // where an email left out for an unusable address is logged; nil for nowhere
}

// NewTicket is a new request's confirmation copy to the customer and its notification to the
// department it was routed to. Both have Message-IDs derived from the ticket, so rendering them
// again gives the same messages. One whose stored address no relay takes (mail.ErrInvalidAddress:
// a customer stored before the address rule, a department address changed by hand) is returned
// apart in unsendable, unrendered, to be recorded as failed: no retry can cure it, and the other
// email still goes.
func (e Emails) NewTicket(m storage.NewTicketMail) (emails, unsendable []storage.Email, err error) {
	tm := TicketMail(m.Ticket, m.Customer, m.Message)
	tm.Attachments = attached(m.Attachments)
	tm.MessageID = e.Composer.StableID(m.Ticket.Number, KindConfirmation)
	confirmation, err := e.Composer.Confirmation(tm)
	switch {
	case errors.Is(err, mail.ErrInvalidAddress):
		unsendable = append(unsendable, storage.Email{Kind: KindConfirmation, TicketID: &m.Ticket.ID, Recipient: m.Customer.Email, MessageID: tm.MessageID})
	case err != nil:
		return nil, nil, fmt.Errorf("compose confirmation: %w", err)
	default:
		emails = append(emails, outboxEmail(KindConfirmation, &m.Ticket.ID, confirmation))
	}
	tm.MessageID = e.Composer.StableID(m.Ticket.Number, KindDepartment)
	notification, err := e.Composer.DepartmentNotification(forStaff(tm, m.Ticket), m.Ticket.DepartmentEmail)
	switch {
	case errors.Is(err, mail.ErrInvalidAddress):
		unsendable = append(unsendable, storage.Email{Kind: KindDepartment, TicketID: &m.Ticket.ID, Recipient: m.Ticket.DepartmentEmail, MessageID: tm.MessageID})
	case err != nil:
		return nil, nil, fmt.Errorf("compose department notification: %w", err)
	default:
		emails = append(emails, outboxEmail(KindDepartment, &m.Ticket.ID, notification))
	}
	return emails, unsendable, nil
}

// CustomerReply tells the ticket's assignee, or its department when it has none, what the
// customer added.
func (e Emails) CustomerReply(m storage.ChangeMail) ([]storage.Email, error) {
	tm := forStaff(TicketMail(m.Ticket, m.Customer, m.Message), m.Ticket)
	tm.Attachments = attached(m.Attachments)
	o, err := e.Composer.CustomerReplyNotification(tm, staffAddress(m.Ticket, m.Assignee))
	if e.unusable(err, KindCustomerReply, m.Ticket.ID) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []storage.Email{outboxEmail(KindCustomerReply, &m.Ticket.ID, o)}, nil
}

// Update tells the customer that staff answered or changed the ticket's status.
func (e Emails) Update(m storage.ChangeMail) ([]storage.Email, error) {
	// Customers read "our team", never the name staff act under, as on the pages and in the API.
	tm := TicketMail(m.Ticket, m.Customer, m.Message)
	tm.Attachments = attached(m.Attachments)
	o, err := e.Composer.Update(tm)
	if e.unusable(err, KindUpdate, m.Ticket.ID) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []storage.Email{outboxEmail(KindUpdate, &m.Ticket.ID, o)}, nil
}

// Transferred tells the department a ticket was moved to (m.Ticket's), or its assignee when one
// stayed, naming the department it came from and the member who moved it.
func (e Emails) Transferred(m storage.ChangeMail) ([]storage.Email, error) {
	tm := forStaff(TicketMail(m.Ticket, m.Customer, ""), m.Ticket)
	o, err := e.Composer.Transfer(tm, m.FromDepartment.Name, m.Staff, staffAddress(m.Ticket, m.Assignee))
	if e.unusable(err, KindTransfer, m.Ticket.ID) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []storage.Email{outboxEmail(KindTransfer, &m.Ticket.ID, o)}, nil
}

// unusable reports whether an email could not be composed because its stored address is one no
// relay takes. The change it belongs to goes through without it, rather than answer 500 for an
// address: `assistd check addresses` lists such addresses.
func (e Emails) unusable(err error, kind string, ticketID int64) bool {
	if !errors.Is(err, mail.ErrInvalidAddress) {
		return false
	}
	if e.Log != nil {
		e.Log.Warn("email not sent: the stored address is unusable", "kind", kind, "ticket_id", ticketID)
	}
	return true
}

// AutoClosed tells the customer that an answered ticket was closed for lack of activity.
func (e Emails) AutoClosed(m storage.ChangeMail) ([]storage.Email, error) {
	o, err := e.Composer.AutoClosed(TicketMail(m.Ticket, m.Customer, ""))
	if err != nil {
		return nil, fmt.Errorf("compose auto-close notice: %w", err)
	}
	return []storage.Email{outboxEmail(KindAutoClose, &m.Ticket.ID, o)}, nil
}

// AutoAnswer is the automatic answer to an email reply, when mail/inbound's rules (RFC 3834, a
// limit per sender and ticket) say one is due; ticketID is nil when the reply names no ticket of
// ours. A bad return path is mail.ErrInvalidAddress.
func (e Emails) AutoAnswer(a mail.AutoAnswer, ticketID *int64) (storage.Email, error) {
	o, err := e.Composer.AutoAnswer(a)
	if err != nil {
		return storage.Email{}, err
	}
	return outboxEmail(KindAutoAnswer, ticketID, o), nil
}

// Alert is a service level's warning or breach, to the ticket's assignee in their language, or
// to its department in Portuguese when it has none, its due time shown in the policy's time
// zone. Its Message-ID is derived from the ticket and the moment, so rendering it again gives the
// same message.
func (e Emails) Alert(a storage.Alert) ([]storage.Email, error) {
	t := a.Ticket
	lang := mail.LangPT
	if a.Assignee != nil && a.Assignee.Language == mail.LangEN {
		lang = mail.LangEN
	}
	o, err := e.Composer.ServiceLevelAlert(mail.ServiceLevelAlert{
		Number: t.Number, SubjectName: t.SubjectLabel(lang), DepartmentName: t.DepartmentLabel(lang),
		Target: a.Moment.Target, Kind: a.Moment.Kind, Due: a.Moment.Due, Location: a.Policy.Location(),
		Language: lang, To: staffAddress(t, a.Assignee), MessageID: e.Composer.StableID(t.Number, "sla-"+a.Moment.Key()),
	})
	if err != nil {
		return nil, fmt.Errorf("compose service-level %s: %w", a.Moment.Kind, err)
	}
	kind := KindSLAWarning
	if a.Moment.Kind == mail.AlertBreach {
		kind = KindSLABreach
	}
	return []storage.Email{outboxEmail(kind, &t.ID, o)}, nil
}

// staffAddress is where staff mail about a ticket goes: its assignee, else its department.
func staffAddress(t storage.Ticket, a *storage.Assignee) string {
	if a != nil {
		return a.Email
	}
	return t.DepartmentEmail
}

// TicketMail gathers what the composer shows of a ticket, in the customer's language.
func TicketMail(t storage.Ticket, c storage.Customer, message string) mail.TicketMail {
	tm := mail.TicketMail{
		Number: t.Number, SubjectName: t.SubjectLabel(c.Language), DepartmentName: t.DepartmentLabel(c.Language),
		CreatedAt: t.CreatedAt, Message: message, PasswordProvided: t.PasswordExpiresAt != nil,
		Language: c.Language, CustomerID: c.ID, CustomerName: c.Name, CustomerEmail: c.Email, Status: string(t.Status),
	}
	if t.Domain != nil {
		tm.Domain = *t.Domain
	}
	if t.RelatedTicket != nil {
		tm.RelatedTicket = *t.RelatedTicket
	}
	return tm
}

// forStaff names the ticket's subject and department in Portuguese: staff mail is in Portuguese
// whatever the customer's language.
func forStaff(tm mail.TicketMail, t storage.Ticket) mail.TicketMail {
	tm.SubjectName, tm.DepartmentName = t.SubjectLabel(mail.LangPT), t.DepartmentLabel(mail.LangPT)
	return tm
}

// outboxEmail is the outbox row of a rendered email.
func outboxEmail(kind string, ticketID *int64, o mail.Outgoing) storage.Email {
	return storage.Email{Kind: kind, TicketID: ticketID, EnvelopeFrom: o.EnvelopeFrom, Recipient: o.To, MessageID: o.MessageID, Raw: o.Raw}
}

// attached lists files by name and size for an email.
func attached(refs []storage.AttachmentRef) []mail.Attached {
	var out []mail.Attached
	for _, r := range refs {
		out = append(out, mail.Attached{Name: r.Name, Size: r.Size})
	}
	return out
}
