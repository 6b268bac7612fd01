package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/assistd/assistd/tickets"
)

// Outcomes of an inbound message, as the import log records them.
const (
	InboundAnsweredTicket   = "answered_ticket"
	InboundAnsweredClosed   = "answered_closed"
	InboundAnsweredNoTicket = "answered_no_ticket"
	InboundIgnoredAutomatic = "ignored_automatic"
	InboundNotAddressed     = "ignored_not_addressed"
	InboundBacklog          = "ignored_backlog"
	InboundRateLimited      = "rate_limited"
	InboundUnparseable      = "rejected_unparseable"
)

// Reasons RecordInbound gives to an answer it held back.
const (
	ReasonSenderLimit = "sender_limit"
	ReasonGlobalCap   = "global_cap"
)

// ErrInboundRace is returned when another poller recorded one of the batch's messages while the
// batch was being recorded: nothing was committed, and recording the batch again is safe.
var ErrInboundRace = errors.New("storage: inbound message recorded concurrently")

// MailboxCursor is how far the poller has recorded a mailbox.
type MailboxCursor struct {
	Mailbox     string    `db:"mailbox"`
	UIDValidity uint32    `db:"uidvalidity"`
	LastUID     uint32    `db:"last_uid"`
	UpdatedAt   time.Time `db:"updated_at"`
}

// MailboxCursor returns a mailbox's cursor, or ErrNotFound before its first connection.
func (s *Store) MailboxCursor(ctx context.Context, mailbox string) (MailboxCursor, error) {
	var c MailboxCursor
	err := s.db.GetContext(ctx, &c, s.q(`SELECT mailbox, uidvalidity, last_uid, updated_at FROM mailbox_cursors WHERE mailbox = ?`), mailbox)
	return c, notFound(err)
}

// SetMailboxCursor sets a mailbox's cursor, for a first connection or a changed UIDVALIDITY.
func (s *Store) SetMailboxCursor(ctx context.Context, c MailboxCursor) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO mailbox_cursors (mailbox, uidvalidity, last_uid, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid, updated_at = excluded.updated_at`),
		c.Mailbox, c.UIDValidity, c.LastUID, now())
	return wrapConn(err)
}

// InboundRecord is one message of a batch, classified by the poller.
type InboundRecord struct {
	DedupeKey string
	UID       uint32
	From      string // sanitised sender address
	Subject   string // sanitised subject
	Outcome   string
	Reason    string
	TicketID  *int64
	// Answer is the automatic answer to queue when Outcome is an answer; it is queued only if
	// the limits allow, else the message is recorded as rate_limited.
	Answer *Email
	// LimitKey names what the answer counts against: sender and ticket number.
	LimitKey string
	// Customer says the mail is known to come from a customer: its answer counts against the
	// customers' hourly allowance, which strangers cannot use up.
	Customer bool
	// Bounce, for a delivery report, names our emails it reports on.
	Bounce *InboundBounce
}

// InboundBounce is what a delivery report says about emails we sent.
type InboundBounce struct {
	MessageIDs []string // Message-IDs of ours that it quotes (already verified as ours)
	Permanent  bool     // a 5.x.x status: the address does not work
	Status     string   // e.g. "5.1.1", kept as the outbox row's last error
}

// AnswerLimits bound the automatic answers.
type AnswerLimits struct {
	PerKey time.Duration // one answer per sender and ticket in this window
	// PerHour caps the answers of the last hour to mail not known to be from a customer, all
	// such senders together; CustomerPerHour caps those to customers' mail apart from it.
	PerHour, CustomerPerHour int
}

// InboundBatch is what one fetch of the poller turned into.
type InboundBatch struct {
	Mailbox     string
	UIDValidity uint32
	LastUID     uint32 // the cursor moves to this UID (never backwards) in the same transaction
	Records     []InboundRecord
	Limits      AnswerLimits
}

// InboundResult says what RecordInbound did with each record of a batch.
type InboundResult struct {
	OutboxIDs []int64  // the automatic answers queued, to enqueue
	Outcomes  []string // the final outcome of each record; "" for one recorded before
	Reasons   []string // the final reason of each record
	Linked    []bool   // whether a record's bounce named one of our outbox rows
}

// RecordInbound records a batch in one transaction: the import-log rows (a message recorded
// before is skipped), the bounces, the automatic answers the limits allow with their outbox
// rows, and the mailbox cursor.
func (s *Store) RecordInbound(ctx context.Context, b InboundBatch) (InboundResult, error) {
	res := InboundResult{Outcomes: make([]string, len(b.Records)), Reasons: make([]string, len(b.Records)), Linked: make([]bool, len(b.Records))}
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		res.OutboxIDs = nil
		at := now()
		recs := make([]InboundRecord, len(b.Records))
		copy(recs, b.Records)

		fresh, err := s.freshInbound(ctx, tx, b.Mailbox, recs)
		if err != nil {
			return err
		}
		outboxIDs := make([]*int64, len(recs))
		for i := range recs {
			if fresh[i] && recs[i].Bounce != nil {
				if outboxIDs[i], err = s.recordBounce(ctx, tx, *recs[i].Bounce, at); err != nil {
					return err
				}
				res.Linked[i] = outboxIDs[i] != nil
			}
		}
		answers, err := s.claimAnswers(ctx, tx, recs, fresh, b.Limits, at)
		if err != nil {
			return err
		}
		if len(answers) > 0 {
			emails := make([]Email, len(answers))
			for j, i := range answers {
				emails[j] = *recs[i].Answer
			}
			ids, err := s.insertEmails(ctx, tx, emails, nil, at)
			if err != nil {
				return err
			}
			for j, i := range answers {
				outboxIDs[i] = &ids[j]
			}
			res.OutboxIDs = ids
		}
		if err := s.insertInbound(ctx, tx, b, recs, fresh, outboxIDs, at); err != nil {
			return err
		}
		for i := range recs {
			if fresh[i] {
				res.Outcomes[i] = recs[i].Outcome
			}
			res.Reasons[i] = recs[i].Reason
		}
		return s.advanceCursor(ctx, tx, b, at)
	})
	if err != nil {
		return InboundResult{}, err
	}
	return res, nil
}

// freshInbound tells which records were never recorded (and are not repeated in the batch).
func (s *Store) freshInbound(ctx context.Context, tx *sqlx.Tx, mailbox string, recs []InboundRecord) ([]bool, error) {
	fresh := make([]bool, len(recs))
	if len(recs) == 0 {
		return fresh, nil
	}
	keys := make([]string, len(recs))
	for i, r := range recs {
		keys[i] = r.DedupeKey
	}
	query, args, err := sqlx.In(`SELECT dedupe_key FROM inbound_messages WHERE mailbox = ? AND dedupe_key IN (?)`, mailbox, keys)
	if err != nil {
		return nil, err
	}
	var known []string
	if err := tx.SelectContext(ctx, &known, s.q(query), s.planned(args)...); err != nil {
		return nil, fmt.Errorf("storage: inbound keys: %w", wrapConn(err))
	}
	seen := make(map[string]bool, len(recs)+len(known))
	for _, k := range known {
		seen[k] = true
	}
	for i, r := range recs {
		fresh[i] = !seen[r.DedupeKey]
		seen[r.DedupeKey] = true
	}
	return fresh, nil
}

// claimAnswers decides which records get their answer, updates the limits, and turns the rest
// into rate_limited. It returns the indexes of the records to answer.
func (s *Store) claimAnswers(ctx context.Context, tx *sqlx.Tx, recs []InboundRecord, fresh []bool, lim AnswerLimits, at time.Time) ([]int, error) {
	var candidates []int
	inBatch := make(map[string]bool)
	for i, r := range recs {
		if !fresh[i] || r.Answer == nil {
			continue
		}
		if inBatch[r.LimitKey] {
			recs[i].Outcome, recs[i].Reason, recs[i].Answer = InboundRateLimited, ReasonSenderLimit, nil
			continue
		}
		inBatch[r.LimitKey] = true
		candidates = append(candidates, i)
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	if s.postgres {
		// The hourly cap is a count and then an insert: two pollers (two mailboxes, or a lease
		// taken over mid-batch) must not both count before either inserts. The lock, held until
		// the batch commits, waits for other writers of the table (other batches only) and for
		// no reader; an SQLite transaction already holds the database's write lock.
		if _, err := tx.ExecContext(ctx, `LOCK TABLE auto_answer_limits IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return nil, fmt.Errorf("storage: lock answer limits: %w", wrapConn(err))
		}
	}
	// Rows are kept for the cap's hour even when the window per key is shorter.
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM auto_answer_limits WHERE answered_at <= ?`), at.Add(-max(lim.PerKey, time.Hour))); err != nil {
		return nil, fmt.Errorf("storage: prune answer limits: %w", wrapConn(err))
	}
	// Keys answered within the window are held back before the cap counts them.
	keys := make([]string, len(candidates))
	for j, i := range candidates {
		keys[j] = recs[i].LimitKey
	}
	query, args, err := sqlx.In(`SELECT limit_key FROM auto_answer_limits WHERE answered_at > ? AND limit_key IN (?)`, at.Add(-lim.PerKey), keys)
	if err != nil {
		return nil, err
	}
	var recent []string
	if err := tx.SelectContext(ctx, &recent, s.q(query), s.planned(args)...); err != nil {
		return nil, fmt.Errorf("storage: answer limits: %w", wrapConn(err))
	}
	if len(recent) > 0 {
		held := make(map[string]bool, len(recent))
		for _, k := range recent {
			held[k] = true
		}
		open := candidates[:0]
		for _, i := range candidates {
			if held[recs[i].LimitKey] {
				recs[i].Outcome, recs[i].Reason, recs[i].Answer = InboundRateLimited, ReasonSenderLimit, nil
			} else {
				open = append(open, i)
			}
		}
		candidates = open
	}
	// Each class has its own hourly allowance: strangers cannot use up the customers'.
	allowed := make(map[bool]int, 2)
	for customer, most := range map[bool]int{false: lim.PerHour, true: lim.CustomerPerHour} {
		var lastHour int
		if err := tx.GetContext(ctx, &lastHour, s.q(`SELECT COUNT(*) FROM auto_answer_limits WHERE answered_at > ? AND customer = ?`),
			at.Add(-time.Hour), customer); err != nil {
			return nil, fmt.Errorf("storage: count answers: %w", wrapConn(err))
		}
		allowed[customer] = max(most-lastHour, 0)
	}
	open := candidates[:0]
	for _, i := range candidates {
		if allowed[recs[i].Customer] == 0 {
			recs[i].Outcome, recs[i].Reason, recs[i].Answer = InboundRateLimited, ReasonGlobalCap, nil
			continue
		}
		allowed[recs[i].Customer]--
		open = append(open, i)
	}
	candidates = open
	if len(candidates) == 0 {
		return nil, nil
	}
	// The upsert claims a key only if its last answer is out of the window: atomic even with
	// two pollers, since the second waits on the first's row and then sees its time.
	var q strings.Builder
	args = make([]any, 0, 3*len(candidates)+1)
	q.WriteString(`INSERT INTO auto_answer_limits (limit_key, answered_at, customer) VALUES `)
	for j, i := range candidates {
		if j > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?)")
		args = append(args, recs[i].LimitKey, at, recs[i].Customer)
	}
	q.WriteString(` ON CONFLICT (limit_key) DO UPDATE SET answered_at = excluded.answered_at, customer = excluded.customer WHERE auto_answer_limits.answered_at <= ? RETURNING limit_key`)
	args = append(args, at.Add(-lim.PerKey))
	var claimed []string
	if err := tx.SelectContext(ctx, &claimed, s.q(q.String()), s.planned(args)...); err != nil {
		return nil, fmt.Errorf("storage: claim answer limits: %w", wrapConn(err))
	}
	got := make(map[string]bool, len(claimed))
	for _, k := range claimed {
		got[k] = true
	}
	answers := candidates[:0]
	for _, i := range candidates {
		if got[recs[i].LimitKey] {
			answers = append(answers, i)
		} else {
			recs[i].Outcome, recs[i].Reason, recs[i].Answer = InboundRateLimited, ReasonSenderLimit, nil
		}
	}
	return answers, nil
}

// recordBounce marks our emails a delivery report names as bounced and, for a permanent
// failure of an email to a ticket's customer, flags the customer's address. It returns the
// first outbox row it marked.
func (s *Store) recordBounce(ctx context.Context, tx *sqlx.Tx, b InboundBounce, at time.Time) (*int64, error) {
	if len(b.MessageIDs) == 0 {
		return nil, nil
	}
	query, args, err := sqlx.In(`UPDATE outbox SET state = 'bounced', last_error = ?, updated_at = ?
		WHERE task = ? AND message_id IN (?) AND state <> 'bounced' RETURNING id, ticket_id, recipient`,
		storableText("bounced: "+b.Status, 500), at, TaskEmailSend, b.MessageIDs)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ID        int64   `db:"id"`
		TicketID  *int64  `db:"ticket_id"`
		Recipient *string `db:"recipient"`
	}
	if err := tx.SelectContext(ctx, &rows, s.q(query), s.planned(args)...); err != nil {
		return nil, fmt.Errorf("storage: mark bounced: %w", wrapConn(err))
	}
	var first *int64
	for _, r := range rows {
		if first == nil || r.ID < *first {
			id := r.ID
			first = &id
		}
		if !b.Permanent || r.TicketID == nil || r.Recipient == nil {
			continue
		}
		// Only the customer's own address: a department's notification bouncing says nothing
		// about the customer.
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE customers SET email_undeliverable_at = ?
			WHERE id = (SELECT customer_id FROM tickets WHERE id = ?) AND lower(email) = lower(?) AND email_undeliverable_at IS NULL`),
			at, *r.TicketID, *r.Recipient); err != nil {
			return nil, fmt.Errorf("storage: mark undeliverable: %w", wrapConn(err))
		}
	}
	return first, nil
}

const inboundColumns = 12

func (s *Store) insertInbound(ctx context.Context, tx *sqlx.Tx, b InboundBatch, recs []InboundRecord, fresh []bool, outboxIDs []*int64, at time.Time) error {
	var q strings.Builder
	args := make([]any, 0, inboundColumns*len(recs))
	want := 0
	q.WriteString(`INSERT INTO inbound_messages (mailbox, dedupe_key, uidvalidity, uid, from_addr, subject, outcome, reason,
		ticket_id, outbox_id, created_at) VALUES `)
	for i, r := range recs {
		if !fresh[i] {
			continue
		}
		if want > 0 {
			q.WriteString(", ")
		}
		want++
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, b.Mailbox, r.DedupeKey, b.UIDValidity, r.UID, storableText(r.From, 254), storableText(r.Subject, 200),
			r.Outcome, storableText(r.Reason, 100), r.TicketID, outboxIDs[i], at)
	}
	if want == 0 {
		return nil
	}
	q.WriteString(` ON CONFLICT (mailbox, dedupe_key) DO NOTHING RETURNING id`)
	var ids []int64
	if err := tx.SelectContext(ctx, &ids, s.q(q.String()), s.planned(args)...); err != nil {
		return fmt.Errorf("storage: insert inbound: %w", wrapConn(err))
	}
	if len(ids) != want {
		return ErrInboundRace
	}
	return nil
}

func (s *Store) advanceCursor(ctx context.Context, tx *sqlx.Tx, b InboundBatch, at time.Time) error {
	greatest := "MAX"
	if s.postgres {
		greatest = "GREATEST"
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO mailbox_cursors (mailbox, uidvalidity, last_uid, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (mailbox) DO UPDATE SET
		last_uid = CASE WHEN mailbox_cursors.uidvalidity = excluded.uidvalidity THEN `+greatest+`(mailbox_cursors.last_uid, excluded.last_uid) ELSE excluded.last_uid END,
		uidvalidity = excluded.uidvalidity, updated_at = excluded.updated_at`),
		b.Mailbox, b.UIDValidity, b.LastUID, at)
	if err != nil {
		return fmt.Errorf("storage: advance cursor: %w", wrapConn(err))
	}
	return nil
}

// InboundMessage is one row of the import log, for staff.
type InboundMessage struct {
	ID          int64     `db:"id"`
	Mailbox     string    `db:"mailbox"`
	DedupeKey   string    `db:"dedupe_key"`
	UIDValidity uint32    `db:"uidvalidity"`
	UID         uint32    `db:"uid"`
	From        string    `db:"from_addr"`
	Subject     string    `db:"subject"`
	Outcome     string    `db:"outcome"`
	Reason      string    `db:"reason"`
	TicketID    *int64    `db:"ticket_id"`
	Ticket      *string   `db:"ticket_number"` // the number of TicketID
	OutboxID    *int64    `db:"outbox_id"`
	CreatedAt   time.Time `db:"created_at"`
}

// InboundMessages lists the import log, newest first; outcome "" lists every outcome.
func (s *Store) InboundMessages(ctx context.Context, limit int, outcome string) ([]InboundMessage, error) {
	// Mail about an erased ticket is not shown while its erasure removes it.
	where, args := ` WHERE (t.id IS NULL OR t.erasure_id IS NULL)`, []any{}
	if outcome != "" {
		where, args = where+` AND m.outcome = ?`, append(args, outcome)
	}
	var ms []InboundMessage
	err := s.db.SelectContext(ctx, &ms, s.q(`SELECT m.id, m.mailbox, m.dedupe_key, m.uidvalidity, m.uid, m.from_addr, m.subject, m.outcome, m.reason,
		m.ticket_id, t.number AS ticket_number, m.outbox_id, m.created_at
		FROM inbound_messages m LEFT JOIN tickets t ON t.id = m.ticket_id`+where+` ORDER BY m.created_at DESC, m.id DESC LIMIT ?`), append(args, limit)...)
	return ms, wrapConn(err)
}

// InboundTicket is what classifying a reply needs to know about the ticket it names.
type InboundTicket struct {
	ID            int64          `db:"id"`
	Number        string         `db:"number"`
	Status        tickets.Status `db:"status"`
	CustomerEmail string         `db:"email"`
	Language      string         `db:"language"`
}

// InboundTickets looks up tickets by number, in one query, for a batch of inbound messages.
// Numbers that name no ticket are absent from the map.
func (s *Store) InboundTickets(ctx context.Context, numbers []string) (map[string]InboundTicket, error) {
	out := make(map[string]InboundTicket, len(numbers))
	if len(numbers) == 0 {
		return out, nil
	}
	query, args, err := sqlx.In(`SELECT t.id, t.number, t.status, c.email, c.language FROM tickets t
		JOIN customers c ON c.id = t.customer_id WHERE t.number IN (?) AND t.erasure_id IS NULL`, numbers)
	if err != nil {
		return nil, err
	}
	var ts []InboundTicket
	if err := s.db.SelectContext(ctx, &ts, s.q(query), s.planned(args)...); err != nil {
		return nil, fmt.Errorf("storage: inbound tickets: %w", wrapConn(err))
	}
	for _, t := range ts {
		out[t.Number] = t
	}
	return out, nil
}

// KnownCustomerEmails returns, lower case, those of the addresses that are a customer's email.
func (s *Store) KnownCustomerEmails(ctx context.Context, addrs []string) (map[string]bool, error) {
	out := make(map[string]bool, len(addrs))
	if len(addrs) == 0 {
		return out, nil
	}
	lower := make([]string, len(addrs))
	for i, a := range addrs {
		lower[i] = strings.ToLower(a)
	}
	query, args, err := sqlx.In(`SELECT DISTINCT lower(email) FROM customers WHERE lower(email) IN (?)`, lower)
	if err != nil {
		return nil, err
	}
	var known []string
	if err := s.db.SelectContext(ctx, &known, s.q(query), s.planned(args)...); err != nil {
		return nil, fmt.Errorf("storage: known customers: %w", wrapConn(err))
	}
	for _, a := range known {
		out[a] = true
	}
	return out, nil
}
