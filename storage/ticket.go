package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/sla"
	"github.com/assistd/assistd/tickets"
)

// Ticket is a support request with the names it is shown with.
type Ticket struct {
	ID                int64          `db:"id"`
	Number            string         `db:"number"`
	CustomerID        string         `db:"customer_id"`
	SubjectID         string         `db:"subject_id"`
	SubjectName       string         `db:"subject_name"`
	SubjectNameEn     string         `db:"subject_name_en"`
	DepartmentID      string         `db:"department_id"`
	DepartmentName    string         `db:"department_name"`
	DepartmentNameEn  string         `db:"department_name_en"`
	DepartmentEmail   string         `db:"department_email"`
	Domain            *string        `db:"domain"`
	Status            tickets.Status `db:"status"`
	RelatedTicket     *string        `db:"related_ticket"`
	CreatedAt         time.Time      `db:"created_at"`
	UpdatedAt         time.Time      `db:"updated_at"`
	ProcessedAt       *time.Time     `db:"processed_at"`
	PasswordExpiresAt *time.Time     `db:"password_expires_at"`
	PasswordPurgedAt  *time.Time     `db:"password_purged_at"`
	// PriorityRank is the priority as stored (tickets.Priority.Rank); Priority names it.
	PriorityRank int `db:"priority"`
	// AssigneeID is the member of staff who owns the ticket, nil for nobody.
	AssigneeID *string `db:"assignee"`
	ClockColumns
}

// Priority is the ticket's priority.
func (t Ticket) Priority() tickets.Priority { return tickets.PriorityOfRank(t.PriorityRank) }

// Password states shown to customers.
const (
	PasswordNone     = ""
	PasswordProvided = "provided"
)

// PasswordState is what a view may say about the ticket's password at a given time: none,
// "provided" while it is kept, or the obfuscated marker once expired (purged or not).
func (t Ticket) PasswordState(at time.Time) string {
	switch {
	case t.PasswordExpiresAt == nil:
		return PasswordNone
	case t.PasswordPurgedAt == nil && at.Before(*t.PasswordExpiresAt):
		return PasswordProvided
	default:
		return secret.Obfuscated
	}
}

// Subject returns the subject's name in a language.
func (t Ticket) SubjectLabel(lang string) string {
	if lang == "en" && t.SubjectNameEn != "" {
		return t.SubjectNameEn
	}
	return t.SubjectName
}

// DepartmentLabel returns the department's name in a language.
func (t Ticket) DepartmentLabel(lang string) string {
	if lang == "en" && t.DepartmentNameEn != "" {
		return t.DepartmentNameEn
	}
	return t.DepartmentName
}

// Every ticket is filed under a department when stored (migration 9 filed the older ones); one
// without would show its subject's.
const ticketColumns = `t.id, t.number, t.customer_id, t.subject_id, s.name AS subject_name, s.name_en AS subject_name_en,
	d.id AS department_id, d.name AS department_name, d.name_en AS department_name_en, d.email AS department_email,
	t.domain, t.status, t.related_ticket, t.created_at, t.updated_at, t.processed_at,
	p.expires_at AS password_expires_at, p.purged_at AS password_purged_at, t.priority, t.assignee` + clockColumns

const ticketFrom = ` FROM tickets t
	JOIN subjects s ON s.id = t.subject_id
	JOIN departments d ON d.id = COALESCE(t.department_id, s.department_id)
	LEFT JOIN ticket_passwords p ON p.ticket_id = t.id`

// NewTicket is a validated request from the client area.
type NewTicket struct {
	CustomerID     string
	SubjectID      string
	Domain         *string
	Message        string
	RelatedTicket  *string
	IdempotencyKey string
	// RequestDigest is a keyed digest of the request's canonical form, kept with the key: the
	// same key with another digest is ErrIdempotencyMismatch.
	RequestDigest string
	CreatedAt     time.Time
	// PasswordExpiresAt is set when a password was given; Seal is then called inside the
	// transaction with the new ticket's id, so the sealed value is bound to the ticket.
	PasswordExpiresAt *time.Time
	Seal              func(ticketID int64) (secret.Sealed, error)
	// Attach names the customer's uploads the first message carries (AttachTx).
	Attach Attach
}

// Created is the outcome of CreateTicket.
type Created struct {
	TicketID int64
	Number   string
	Status   tickets.Status
	// Replayed is true when the idempotency key named an existing ticket: nothing was created.
	Replayed bool
}

// ErrIdempotencyMismatch is returned when an Idempotency-Key is reused for a different request.
var ErrIdempotencyMismatch = errors.New("storage: idempotency key already used for another request")

// TaskTicketCreate is the outbox task that processes a new ticket.
const TaskTicketCreate = "ticket:create"

// CreateTicket stores a ticket, its first message, its sealed password and the outbox row of
// its processing in one transaction.
func (s *Store) CreateTicket(ctx context.Context, nt NewTicket) (Created, error) {
	// A ticket with files takes the transaction: its first message's id links them.
	if s.postgres && len(nt.Attach.IDs) == 0 {
		return s.createTicketPostgres(ctx, nt)
	}
	var out Created
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		if nt.IdempotencyKey != "" {
			found, err := s.replay(ctx, tx, nt)
			if err != nil || found.Replayed {
				out = found
				return err
			}
		}
		var id int64
		for attempt := 0; ; attempt++ {
			number := s.drawNumber()
			var key, digest *string
			if nt.IdempotencyKey != "" {
				key, digest = &nt.IdempotencyKey, nullable(nt.RequestDigest)
			}
			// ON CONFLICT DO NOTHING covers both a number collision and a concurrent request
			// with the same idempotency key; which one it was is told apart below.
			err := tx.GetContext(ctx, &id, s.q(`INSERT INTO tickets (number, customer_id, subject_id, department_id, domain, status,
				related_ticket, idempotency_key, request_digest, created_at, updated_at)
				VALUES (?, ?, ?, (SELECT department_id FROM subjects WHERE id = ?), ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`),
				number, nt.CustomerID, nt.SubjectID, nt.SubjectID, nt.Domain, tickets.Open, nt.RelatedTicket, key, digest, nt.CreatedAt, nt.CreatedAt)
			if err == nil {
				out = Created{TicketID: id, Number: number, Status: tickets.Open}
				break
			}
			if notFound(err) != ErrNotFound {
				return fmt.Errorf("storage: insert ticket: %w", wrapConn(err))
			}
			if nt.IdempotencyKey != "" {
				if found, err := s.replay(ctx, tx, nt); err != nil || found.Replayed {
					out = found
					return err
				}
			}
			if attempt == 10 {
				return errors.New("storage: no free ticket number after 10 draws")
			}
		}
		var sealed secret.Sealed
		if nt.PasswordExpiresAt != nil {
			var err error
			if sealed, err = nt.Seal(id); err != nil {
				return err
			}
		}
		var msgID int64
		if err := tx.GetContext(ctx, &msgID, s.q(`INSERT INTO messages (ticket_id, author, body, created_at) VALUES (?, 'customer', ?, ?) RETURNING id`),
			id, nt.Message, nt.CreatedAt); err != nil {
			return fmt.Errorf("storage: insert message: %w", wrapConn(err))
		}
		if err := s.AttachTx(ctx, tx, nt.Attach, id, msgID, nt.CreatedAt); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO status_changes (ticket_id, from_status, to_status, actor, created_at) VALUES (?, NULL, ?, 'customer', ?)`),
			id, tickets.Open, nt.CreatedAt); err != nil {
			return fmt.Errorf("storage: insert status change: %w", wrapConn(err))
		}
		if nt.PasswordExpiresAt != nil {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO ticket_passwords (ticket_id, password_sealed, data_key_sealed, expires_at) VALUES (?, ?, ?, ?)`),
				id, sealed.Password, sealed.DataKey, *nt.PasswordExpiresAt); err != nil {
				return fmt.Errorf("storage: insert password: %w", wrapConn(err))
			}
		}
		if err := s.startClocks(ctx, tx, id, nt.SubjectID, nt.CreatedAt); err != nil {
			return err
		}
		_, err := s.insertOutbox(ctx, tx, OutboxRow{Task: TaskTicketCreate, TicketID: &id}, nt.CreatedAt)
		return err
	})
	return out, err
}

// drawNumber draws a ticket number; uniqueness is the unique index's job, and callers draw again
// on a collision.
func (s *Store) drawNumber() string {
	if s.newNumber != nil {
		return s.newNumber()
	}
	return tickets.NewNumber()
}

// ticketIDBlock is how many ticket ids a store draws from the sequence at once.
const ticketIDBlock = 64

// idBlock hands out ids drawn from a Postgres sequence a block at a time, saving a round trip per
// ticket. Ids left unused when the process stops are gaps, as a rolled-back insert leaves; with
// several API instances ids are unique but not in creation order, which nothing relies on
// (lists order by time).
type idBlock struct {
	mu  sync.Mutex
	ids []int64
}

func (b *idBlock) next(ctx context.Context, q sqlx.QueryerContext) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ids) == 0 {
		if err := sqlx.SelectContext(ctx, q, &b.ids, `SELECT nextval(pg_get_serial_sequence('tickets', 'id')) FROM generate_series(1, $1)`, ticketIDBlock); err != nil {
			return 0, fmt.Errorf("storage: new ticket ids: %w", wrapConn(err))
		}
		if len(b.ids) == 0 {
			return 0, errors.New("storage: new ticket ids: none drawn")
		}
	}
	id := b.ids[0]
	b.ids = b.ids[1:]
	return id, nil
}

// createTicketPostgres is CreateTicket in one round trip: it takes the ticket's id from the
// store's block of ids, seals the password to it, then writes the ticket, its first message, its
// first status change, its sealed password and the outbox row of its processing in one
// statement, which is its own transaction. Tickets submitted at the same moment share that
// statement (see coalescer); each is written or not on its own.
// A clash on the ticket number or on the idempotency key writes nothing; the first draws another
// number, the second is a replay.
func (s *Store) createTicketPostgres(ctx context.Context, nt NewTicket) (Created, error) {
	id, err := s.ticketIDs.next(ctx, s.db)
	if err != nil {
		return Created{}, err
	}
	var sealed secret.Sealed
	if nt.PasswordExpiresAt != nil {
		if sealed, err = nt.Seal(id); err != nil {
			return Created{}, err
		}
	}
	sp, err := s.subjectPolicy(ctx, nt.SubjectID)
	if err != nil {
		return Created{}, err
	}
	var clocks sla.Clocks
	clocks.Start(sp.policy, nt.CreatedAt)
	for attempt := 0; ; attempt++ {
		number := s.drawNumber()
		inserted, err := s.intake.do(ctx, intakeRow{id: id, number: number, ticket: &nt, sealed: sealed,
			slaDepartment: sp.departmentID, clocks: clocks, policy: sp.policy})
		if err != nil {
			return Created{}, err
		}
		if inserted {
			return Created{TicketID: id, Number: number, Status: tickets.Open}, nil
		}
		if nt.IdempotencyKey != "" {
			if found, err := s.replay(ctx, s.db, nt); err != nil || found.Replayed {
				return found, err
			}
		}
		if attempt == 10 {
			return Created{}, errors.New("storage: no free ticket number after 10 draws")
		}
	}
}

// intakeRow is one ticket of an intake statement.
type intakeRow struct {
	id     int64
	number string
	ticket *NewTicket
	sealed secret.Sealed
	// The clocks the ticket starts with, under the policy of the department its subject files to.
	slaDepartment string
	clocks        sla.Clocks
	policy        *sla.Policy
}

// intakePostgres is the grouped intake: it only writes, from the arrays it is given.
const intakePostgres = `WITH v AS (
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
				$8::timestamptz[], $9::text[], $10::bytea[], $11::bytea[], $12::timestamptz[],
				$15::text[], $16::text[], $17::timestamptz[], $18::timestamptz[], $19::timestamptz[], $20::timestamptz[])
			AS v (id, number, customer_id, subject_id, domain, related_ticket, idempotency_key, created_at, body,
				password_sealed, data_key_sealed, expires_at, request_digest,
				sla_department_id, sla_first_response_due, sla_resolution_due, sla_due, sla_next_moment)),
		ticket AS (
			INSERT INTO tickets (id, number, customer_id, subject_id, department_id, domain, status, related_ticket, idempotency_key,
				request_digest, created_at, updated_at, sla_department_id, sla_first_response_due, sla_resolution_due, sla_due, sla_next_moment)
			OVERRIDING SYSTEM VALUE
			SELECT id, number, customer_id, subject_id, (SELECT department_id FROM subjects WHERE subjects.id = v.subject_id), domain, $13,
				related_ticket, idempotency_key, request_digest, created_at, created_at,
				sla_department_id, sla_first_response_due, sla_resolution_due, sla_due, sla_next_moment FROM v
			ON CONFLICT DO NOTHING RETURNING id),
		message AS (
			INSERT INTO messages (ticket_id, author, body, created_at) SELECT v.id, 'customer', v.body, v.created_at FROM v JOIN ticket USING (id)),
		status AS (
			INSERT INTO status_changes (ticket_id, from_status, to_status, actor, created_at)
			SELECT v.id, NULL, $13, 'customer', v.created_at FROM v JOIN ticket USING (id)),
		password AS (
			INSERT INTO ticket_passwords (ticket_id, password_sealed, data_key_sealed, expires_at)
			SELECT v.id, v.password_sealed, v.data_key_sealed, v.expires_at FROM v JOIN ticket USING (id) WHERE v.expires_at IS NOT NULL),
		work AS (
			INSERT INTO outbox (task, ticket_id, state, created_at, updated_at)
			SELECT $14, v.id, 'pending', v.created_at, v.created_at FROM v JOIN ticket USING (id))
		SELECT id FROM ticket`

// intakeStatement writes tickets, each with its first message, first status change, sealed
// password and outbox row, in one statement; inserted[i] is false for a ticket whose number or
// idempotency key was taken, for which nothing was written.
func (s *Store) intakeStatement(ctx context.Context, rows []intakeRow) ([]bool, error) {
	n := len(rows)
	var (
		ids                          = make([]int64, n)
		numbers, customers, subjects = make([]string, n), make([]string, n), make([]string, n)
		domains, related, keys       = make([]*string, n), make([]*string, n), make([]*string, n)
		digests                      = make([]*string, n)
		created                      = make([]time.Time, n)
		bodies                       = make([]string, n)
		passwords, dataKeys          = make([][]byte, n), make([][]byte, n)
		expires                      = make([]*time.Time, n)
		slaDepts                     = make([]string, n)
		firstDues, resolutionDues    = make([]*time.Time, n), make([]*time.Time, n)
		dues, moments                = make([]time.Time, n), make([]*time.Time, n)
	)
	for i, r := range rows {
		nt := r.ticket
		ids[i], numbers[i], customers[i], subjects[i] = r.id, r.number, nt.CustomerID, nt.SubjectID
		domains[i], related[i] = nt.Domain, nt.RelatedTicket
		if nt.IdempotencyKey != "" {
			keys[i], digests[i] = &nt.IdempotencyKey, nullable(nt.RequestDigest)
		}
		created[i], bodies[i] = nt.CreatedAt, nt.Message
		if nt.PasswordExpiresAt != nil {
			passwords[i], dataKeys[i], expires[i] = r.sealed.Password, r.sealed.DataKey, nt.PasswordExpiresAt
		}
		slaDepts[i], firstDues[i], resolutionDues[i], moments[i] = r.slaDepartment, r.clocks.FirstResponseDue, r.clocks.ResolutionDue, r.clocks.NextMoment(r.policy)
		dues[i] = NoDue
		if d := r.clocks.Due(); d != nil {
			dues[i] = *d
		}
	}
	var got []int64
	err := s.grouped.SelectContext(ctx, &got, intakePostgres,
		ids, numbers, customers, subjects, domains, related, keys, created, bodies, passwords, dataKeys, expires,
		string(tickets.Open), TaskTicketCreate, digests, slaDepts, firstDues, resolutionDues, dues, moments)
	if err != nil {
		return nil, fmt.Errorf("storage: insert ticket: %w", wrapConn(err))
	}
	inserted := make(map[int64]bool, len(got))
	for _, id := range got {
		inserted[id] = true
	}
	out := make([]bool, n)
	for i, r := range rows {
		out[i] = inserted[r.id]
	}
	return out, nil
}

// Replay finds the ticket a customer created earlier under nt's Idempotency-Key: Created with
// Replayed set when nt is the same request, ErrIdempotencyMismatch when it is another one, and a
// zero Created when no ticket has that key.
func (s *Store) Replay(ctx context.Context, nt NewTicket) (Created, error) {
	if nt.IdempotencyKey == "" {
		return Created{}, nil
	}
	return s.replay(ctx, s.db, nt)
}

func (s *Store) replay(ctx context.Context, q sqlx.QueryerContext, nt NewTicket) (Created, error) {
	var row struct {
		ID        int64          `db:"id"`
		Number    string         `db:"number"`
		Status    tickets.Status `db:"status"`
		SubjectID string         `db:"subject_id"`
		Digest    *string        `db:"request_digest"`
	}
	err := sqlx.GetContext(ctx, q, &row, s.q(`SELECT id, number, status, subject_id, request_digest FROM tickets WHERE customer_id = ? AND idempotency_key = ?`),
		nt.CustomerID, nt.IdempotencyKey)
	if err != nil {
		if err = notFound(err); err == ErrNotFound {
			return Created{}, nil
		}
		return Created{}, err
	}
	// The whole request is compared where both sides have a digest; a ticket stored before digests
	// were kept is compared by its subject.
	if row.Digest != nil && nt.RequestDigest != "" {
		if *row.Digest != nt.RequestDigest {
			return Created{}, ErrIdempotencyMismatch
		}
	} else if row.SubjectID != nt.SubjectID {
		return Created{}, ErrIdempotencyMismatch
	}
	return Created{TicketID: row.ID, Number: row.Number, Status: row.Status, Replayed: true}, nil
}

// CustomerTicket returns one of a customer's tickets by number; another customer's ticket is
// ErrNotFound, exactly like a ticket that does not exist.
func (s *Store) CustomerTicket(ctx context.Context, customerID, number string) (Ticket, error) {
	return s.ticket(ctx, s.db, ` WHERE t.customer_id = ? AND t.number = ?`, customerID, number)
}

// TicketByNumber returns a ticket for a staff caller who reaches it; a ticket out of reach is
// ErrNotFound, exactly like a ticket that does not exist.
func (s *Store) TicketByNumber(ctx context.Context, reach Reach, number string) (Ticket, error) {
	in, args := reach.clause("t.department_id")
	return s.ticket(ctx, s.db, ` WHERE t.number = ? AND t.erasure_id IS NULL AND `+in, append([]any{number}, args...)...)
}

// TicketWithCustomer is TicketByNumber with the ticket's customer and their domains, in one
// statement: a ticket's page for staff shows both.
func (s *Store) TicketWithCustomer(ctx context.Context, reach Reach, number string) (Ticket, Customer, error) {
	in, args := reach.clause("t.department_id")
	var rows []struct {
		Ticket
		Customer Customer `db:"c"`
		Domain   *string  `db:"c_domain"`
	}
	err := s.db.SelectContext(ctx, &rows, s.q(`SELECT `+ticketColumns+`, c.id AS "c.id", c.name AS "c.name", c.email AS "c.email",
		c.language AS "c.language", c.email_undeliverable_at AS "c.email_undeliverable_at", c.created_at AS "c.created_at",
		c.updated_at AS "c.updated_at", cd.domain AS c_domain`+
		ticketFrom+` JOIN customers c ON c.id = t.customer_id LEFT JOIN customer_domains cd ON cd.customer_id = c.id
		WHERE t.number = ? AND t.erasure_id IS NULL AND `+in+` ORDER BY cd.domain`), append([]any{number}, args...)...)
	if err != nil {
		return Ticket{}, Customer{}, wrapConn(err)
	}
	if len(rows) == 0 {
		return Ticket{}, Customer{}, ErrNotFound
	}
	c := rows[0].Customer
	for _, r := range rows {
		if r.Domain != nil {
			c.Domains = append(c.Domains, *r.Domain)
		}
	}
	return rows[0].Ticket, c, nil
}

// TicketByID returns a ticket by its internal id.
func (s *Store) TicketByID(ctx context.Context, id int64) (Ticket, error) {
	return s.ticket(ctx, s.db, ` WHERE t.id = ?`, id)
}

func (s *Store) ticket(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) (Ticket, error) {
	var t Ticket
	err := sqlx.GetContext(ctx, q, &t, s.q(`SELECT `+ticketColumns+ticketFrom+where), args...)
	return t, notFound(err)
}

// HistoryQuery selects a page of a customer's history.
type HistoryQuery struct {
	CustomerID string
	Status     tickets.Status // "" for all
	Page       int            // from 1
	PerPage    int
}

// History returns a page of a customer's tickets, newest first, and how many there are in all.
func (s *Store) History(ctx context.Context, hq HistoryQuery) ([]Ticket, int, error) {
	where, args := ` WHERE t.customer_id = ?`, []any{hq.CustomerID}
	if hq.Status != "" {
		where += ` AND t.status = ?`
		args = append(args, hq.Status)
	}
	var total int
	if err := s.db.GetContext(ctx, &total, s.q(`SELECT COUNT(*) FROM tickets t`+where), args...); err != nil {
		return nil, 0, wrapConn(err)
	}
	// A deferred join: the offset walks the narrow (customer_id, created_at, id) index, and only
	// the page's rows are joined, so a deep page of a large customer stays cheap.
	var ts []Ticket
	err := s.db.SelectContext(ctx, &ts, s.q(`SELECT `+ticketColumns+ticketFrom+` WHERE t.id IN (SELECT t.id FROM tickets t`+where+
		` ORDER BY t.created_at DESC, t.id DESC LIMIT ? OFFSET ?) ORDER BY t.created_at DESC, t.id DESC`),
		append(args, hq.PerPage, (hq.Page-1)*hq.PerPage)...)
	return ts, total, wrapConn(err)
}

// Message is one entry of a ticket's thread.
type Message struct {
	ID     int64   `db:"id"`
	Author string  `db:"author"` // "customer" or "staff"
	Staff  *string `db:"staff"`
	// Member is the member of staff who wrote a staff message, nil for a customer's (and for
	// staff messages written before members were recorded).
	Member *string `db:"member"`
	// Internal marks a note: staff wrote it for staff, and no customer ever sees it.
	Internal  bool      `db:"internal"`
	Body      string    `db:"body"`
	CreatedAt time.Time `db:"created_at"`
	// Files tells whether files are attached to the message: a thread without any costs no read
	// of attachments.
	Files bool `db:"files"`
}

const messageColumns = `SELECT id, author, staff, member, internal, body, created_at,
	EXISTS (SELECT 1 FROM attachments a WHERE a.message_id = messages.id) AS files FROM messages`

// ThreadHasFiles tells whether any message of a thread has files attached.
func ThreadHasFiles(ms []Message) bool {
	return slices.ContainsFunc(ms, func(m Message) bool { return m.Files })
}

// Messages returns a ticket's thread as its customer sees it, oldest first: internal notes are
// not part of it.
func (s *Store) Messages(ctx context.Context, ticketID int64) ([]Message, error) {
	var ms []Message
	err := s.db.SelectContext(ctx, &ms, s.q(messageColumns+` WHERE ticket_id = ? AND NOT internal ORDER BY id`), ticketID)
	return ms, wrapConn(err)
}

// StaffMessages returns a ticket's whole thread for staff, internal notes included, oldest
// first.
func (s *Store) StaffMessages(ctx context.Context, ticketID int64) ([]Message, error) {
	var ms []Message
	err := s.db.SelectContext(ctx, &ms, s.q(messageColumns+` WHERE ticket_id = ? ORDER BY id`), ticketID)
	return ms, wrapConn(err)
}

// nullable is s, or NULL when s is empty.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
