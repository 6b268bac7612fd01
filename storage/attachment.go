package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
)

// Scan states of an attachment.
const (
	ScanPending   = "pending"   // clamd is configured and has not judged it yet: not served
	ScanClean     = "clean"     // clamd found nothing
	ScanInfected  = "infected"  // quarantined: never served to anyone
	ScanUnscanned = "unscanned" // no clamd configured: served as it is
)

// Owners of uploads.
const (
	OwnerCustomer = "customer"
	OwnerStaff    = "staff"
)

// MaxAttachments is how many files one message may carry.
const MaxAttachments = 5

// Attachment is a file uploaded to the object store, as the database describes it; its bytes
// are under ObjectKey in the store.
type Attachment struct {
	ID            string     `db:"id"`
	OwnerKind     string     `db:"owner_kind"`
	OwnerID       string     `db:"owner_id"`
	TicketID      *int64     `db:"ticket_id"`
	MessageID     *int64     `db:"message_id"`
	Name          string     `db:"name"`
	Size          int64      `db:"size"`
	ContentType   string     `db:"content_type"`
	SHA256        string     `db:"sha256"`
	Scan          string     `db:"scan"`
	ScanSignature *string    `db:"scan_signature"`
	ObjectKey     string     `db:"object_key"`
	Confidential  bool       `db:"confidential"`
	DataKey       []byte     `db:"data_key_sealed"`
	ExpiresAt     *time.Time `db:"expires_at"`
	CreatedAt     time.Time  `db:"created_at"`
	RemovedAt     *time.Time `db:"removed_at"`
}

// Removed reports whether the file was destroyed (a confidential file past its time, an erased
// one): views show it as removed and nothing serves it.
func (a Attachment) Removed() bool { return a.RemovedAt != nil }

// AsAt is the attachment as a view at a time shows it: a confidential file past its deadline is
// removed, whether or not the sweep has destroyed it yet (the rule holds at read time, as the
// password's does).
func (a Attachment) AsAt(at time.Time) Attachment {
	if a.RemovedAt == nil && a.ExpiresAt != nil && !at.Before(*a.ExpiresAt) {
		e := *a.ExpiresAt
		a.RemovedAt = &e
	}
	return a
}

// AttachmentsAsAt applies AsAt to every file of a thread.
func AttachmentsAsAt(files map[int64][]Attachment, at time.Time) map[int64][]Attachment {
	for id, as := range files {
		for i := range as {
			as[i] = as[i].AsAt(at)
		}
		files[id] = as
	}
	return files
}

const attachmentColumns = `a.id, a.owner_kind, a.owner_id, a.ticket_id, a.message_id, a.name, a.size, a.content_type, a.sha256,
	a.scan, a.scan_signature, a.object_key, a.confidential, a.data_key_sealed, a.expires_at, a.created_at, a.removed_at`

// AttachmentBinding is what a confidential file's data key is bound to once attached: its ticket
// and itself, as a ticket's password is bound to its ticket.
func AttachmentBinding(ticketID int64, attachmentID string) string {
	return "ticket:" + strconv.FormatInt(ticketID, 10) + ":attachment:" + attachmentID
}

// UploadBinding is what a confidential upload's data key is bound to until it is attached.
func UploadBinding(attachmentID string) string { return "upload:" + attachmentID }

// InsertUpload records an upload whose object is already in the store.
func (s *Store) InsertUpload(ctx context.Context, a Attachment) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO attachments (id, owner_kind, owner_id, name, size, content_type, sha256, scan, object_key,
		confidential, data_key_sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		a.ID, a.OwnerKind, a.OwnerID, a.Name, a.Size, a.ContentType, a.SHA256, a.Scan, a.ObjectKey, a.Confidential, a.DataKey, a.CreatedAt)
	if err != nil {
		return fmt.Errorf("storage: insert upload: %w", wrapConn(err))
	}
	return nil
}

// Attach is what a new message carries: uploads of one owner, each used once.
type Attach struct {
	OwnerKind, OwnerID string
	IDs                []string
	// ConfidentialUntil is when the confidential files among them are destroyed.
	ConfidentialUntil time.Time
	// Rebind re-seals a confidential upload's data key from UploadBinding to AttachmentBinding.
	Rebind func(sealed []byte, from, to string) ([]byte, error)
}

// ErrUploadUnusable is returned when an upload named for a message is not the caller's, is
// already used, or is gone; nothing is stored.
var ErrUploadUnusable = errors.New("storage: upload is not the caller's to attach")

// UnusableUploads returns which of ids the owner may not attach (not theirs, used, removed).
func (s *Store) UnusableUploads(ctx context.Context, ownerKind, ownerID string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	q, args, err := sqlx.In(`SELECT id FROM attachments WHERE id IN (?) AND owner_kind = ? AND owner_id = ? AND message_id IS NULL AND removed_at IS NULL`,
		ids, ownerKind, ownerID)
	if err != nil {
		return nil, err
	}
	var ok []string
	if err := s.db.SelectContext(ctx, &ok, s.q(q), args...); err != nil {
		return nil, wrapConn(err)
	}
	usable := make(map[string]bool, len(ok))
	for _, id := range ok {
		usable[id] = true
	}
	var bad []string
	for _, id := range ids {
		if !usable[id] {
			bad = append(bad, id)
		}
	}
	return bad, nil
}

// AnyConfidential reports whether any of the uploads is confidential.
func (s *Store) AnyConfidential(ctx context.Context, ids []string) (bool, error) {
	if len(ids) == 0 {
		return false, nil
	}
	q, args, err := sqlx.In(`SELECT COUNT(*) FROM attachments WHERE id IN (?) AND confidential`, ids)
	if err != nil {
		return false, err
	}
	var n int
	err = s.db.GetContext(ctx, &n, s.q(q), args...)
	return n > 0, wrapConn(err)
}

// AttachTx attaches uploads to a message in the transaction that stores the message: every
// statement that inserts a message row (a ticket's first, a reply, an answer, a note) calls it
// with the new row's id. An upload that is not the owner's, is used, or is gone makes it return
// ErrUploadUnusable, and the transaction stores nothing.
func (s *Store) AttachTx(ctx context.Context, tx *sqlx.Tx, att Attach, ticketID, messageID int64, at time.Time) error {
	if len(att.IDs) == 0 {
		return nil
	}
	if len(att.IDs) > MaxAttachments {
		return ErrUploadUnusable
	}
	q, args, err := sqlx.In(`SELECT `+attachmentColumns+` FROM attachments a WHERE a.id IN (?) AND a.owner_kind = ? AND a.owner_id = ?
		AND a.message_id IS NULL AND a.removed_at IS NULL`+s.forUpdate(), att.IDs, att.OwnerKind, att.OwnerID)
	if err != nil {
		return err
	}
	var found []Attachment
	if err := tx.SelectContext(ctx, &found, s.q(q), args...); err != nil {
		return fmt.Errorf("storage: attach: %w", wrapConn(err))
	}
	if len(found) != len(uniq(att.IDs)) {
		return ErrUploadUnusable
	}
	for _, a := range found {
		var key []byte
		var expires *time.Time
		if a.Confidential {
			if att.Rebind == nil || a.DataKey == nil {
				return errors.New("storage: attach: a confidential upload needs its key rebound")
			}
			if key, err = att.Rebind(a.DataKey, UploadBinding(a.ID), AttachmentBinding(ticketID, a.ID)); err != nil {
				return err
			}
			e := att.ConfidentialUntil
			expires = &e
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE attachments SET ticket_id = ?, message_id = ?, attached_at = ?, data_key_sealed = ?, expires_at = ?
			WHERE id = ? AND message_id IS NULL`), ticketID, messageID, at, key, expires, a.ID)
		if err != nil {
			return fmt.Errorf("storage: attach: %w", wrapConn(err))
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrUploadUnusable
		}
	}
	return nil
}

func uniq(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// MessageAttachments returns the attachments of a ticket's messages by message id, in upload
// order.
func (s *Store) MessageAttachments(ctx context.Context, ticketID int64) (map[int64][]Attachment, error) {
	var as []Attachment
	if err := s.db.SelectContext(ctx, &as, s.q(`SELECT `+attachmentColumns+` FROM attachments a WHERE a.ticket_id = ? AND a.message_id IS NOT NULL
		ORDER BY a.created_at, a.id`), ticketID); err != nil {
		return nil, wrapConn(err)
	}
	out := make(map[int64][]Attachment)
	for _, a := range as {
		out[*a.MessageID] = append(out[*a.MessageID], a)
	}
	return out, nil
}

// Upload returns one of an owner's uploads, attached or not, or ErrNotFound.
func (s *Store) Upload(ctx context.Context, ownerKind, ownerID, id string) (Attachment, error) {
	var a Attachment
	err := s.db.GetContext(ctx, &a, s.q(`SELECT `+attachmentColumns+` FROM attachments a WHERE a.id = ? AND a.owner_kind = ? AND a.owner_id = ?`),
		id, ownerKind, ownerID)
	return a, notFound(err)
}

// Attachment returns any attachment by id, for the worker, or ErrNotFound.
func (s *Store) Attachment(ctx context.Context, id string) (Attachment, error) {
	var a Attachment
	err := s.db.GetContext(ctx, &a, s.q(`SELECT `+attachmentColumns+` FROM attachments a WHERE a.id = ?`), id)
	return a, notFound(err)
}

// CustomerAttachment returns an attachment of one of a customer's tickets, or ErrNotFound: the
// customer id is in the WHERE clause, as for every customer read.
func (s *Store) CustomerAttachment(ctx context.Context, customerID, number, id string) (Attachment, Ticket, error) {
	var a Attachment
	// A file of an internal note is staff's: the customer's thread does not show it, nor does this.
	err := s.db.GetContext(ctx, &a, s.q(`SELECT `+attachmentColumns+` FROM attachments a JOIN tickets t ON t.id = a.ticket_id
		JOIN messages m ON m.id = a.message_id
		WHERE t.customer_id = ? AND t.number = ? AND a.id = ? AND NOT m.internal`), customerID, number, id)
	if err != nil {
		return a, Ticket{}, notFound(err)
	}
	t, err := s.ticket(ctx, s.db, ` WHERE t.id = ?`, *a.TicketID)
	return a, t, err
}

// StaffAttachment returns an attachment of a ticket within a staff caller's reach, or
// ErrNotFound: the reach is in the WHERE clause.
func (s *Store) StaffAttachment(ctx context.Context, reach Reach, number, id string) (Attachment, Ticket, error) {
	cond, cargs := reach.clause("d.id")
	var a Attachment
	err := s.db.GetContext(ctx, &a, s.q(`SELECT `+attachmentColumns+` FROM attachments a JOIN tickets t ON t.id = a.ticket_id
		JOIN subjects s ON s.id = t.subject_id JOIN departments d ON d.id = COALESCE(t.department_id, s.department_id)
		WHERE t.number = ? AND a.id = ? AND a.message_id IS NOT NULL AND t.erasure_id IS NULL AND `+cond),
		append([]any{number, id}, cargs...)...)
	if err != nil {
		return a, Ticket{}, notFound(err)
	}
	t, err := s.ticket(ctx, s.db, ` WHERE t.id = ?`, *a.TicketID)
	return a, t, err
}

// Confidential file openings recorded in the audit.
const (
	OpenGranted = "opened"
	OpenRefused = "refused"
)

// RecordOpening audits one opening of a confidential file.
func (s *Store) RecordOpening(ctx context.Context, a Attachment, staff, outcome string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO attachment_opens (attachment_id, ticket_id, staff, outcome, created_at) VALUES (?, ?, ?, ?, ?)`),
		a.ID, *a.TicketID, staff, outcome, at)
	return wrapConn(err)
}

// Opening is one entry of a confidential file's audit.
type Opening struct {
	AttachmentID string    `db:"attachment_id"`
	Staff        string    `db:"staff"`
	Outcome      string    `db:"outcome"`
	CreatedAt    time.Time `db:"created_at"`
}

// Openings lists the openings of a ticket's confidential files, oldest first.
func (s *Store) Openings(ctx context.Context, ticketID int64) ([]Opening, error) {
	var os []Opening
	err := s.db.SelectContext(ctx, &os, s.q(`SELECT attachment_id, staff, outcome, created_at FROM attachment_opens WHERE ticket_id = ? ORDER BY id`), ticketID)
	return os, wrapConn(err)
}

// SetScan records clamd's verdict on a pending file; a file judged already keeps its verdict.
func (s *Store) SetScan(ctx context.Context, id, state string, signature *string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE attachments SET scan = ?, scan_signature = ?, scanned_at = ? WHERE id = ? AND scan = ?`),
		state, signature, at, id, ScanPending)
	return wrapConn(err)
}

// PendingScans lists files still waiting for clamd, created before a time, oldest first.
func (s *Store) PendingScans(ctx context.Context, before time.Time, limit int) ([]string, error) {
	var ids []string
	err := s.db.SelectContext(ctx, &ids, s.q(`SELECT id FROM attachments WHERE scan = ? AND removed_at IS NULL AND created_at < ? ORDER BY created_at LIMIT ?`),
		ScanPending, before, limit)
	return ids, wrapConn(err)
}

// CountInfected counts the quarantined files, for the metric.
func (s *Store) CountInfected(ctx context.Context) (int, error) {
	var n int
	err := s.db.GetContext(ctx, &n, s.q(`SELECT COUNT(*) FROM attachments WHERE scan = ? AND removed_at IS NULL`), ScanInfected)
	return n, wrapConn(err)
}

// RemoveUnattached marks uploads never attached and created before a time as removed, so that
// their objects are deleted (ObjectsLeft), and returns how many.
func (s *Store) RemoveUnattached(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE attachments SET removed_at = ?, data_key_sealed = NULL
		WHERE message_id IS NULL AND removed_at IS NULL AND created_at < ?`), now(), before)
	if err != nil {
		return 0, wrapConn(err)
	}
	return res.RowsAffected()
}

// DestroyConfidential destroys the confidential files due by a time: their sealed data keys are
// set to NULL at once (nothing opens them from then on) and their objects are left to
// ObjectsLeft. It returns how many.
func (s *Store) DestroyConfidential(ctx context.Context, at time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE attachments SET removed_at = ?, data_key_sealed = NULL
		WHERE expires_at IS NOT NULL AND expires_at <= ? AND removed_at IS NULL`), at, at)
	if err != nil {
		return 0, wrapConn(err)
	}
	return res.RowsAffected()
}

// LeftObject is a removed file whose object is still in the store.
type LeftObject struct {
	ID        string  `db:"id"`
	ObjectKey string  `db:"object_key"`
	MessageID *int64  `db:"message_id"`
	Erasure   *int64  `db:"erasure_id"`
	Name      string  `db:"name"`
	Sig       *string `db:"scan_signature"`
}

// ObjectsLeft lists removed files whose objects are still in the store (of one erasure when
// erasureID is not 0).
func (s *Store) ObjectsLeft(ctx context.Context, erasureID int64, limit int) ([]LeftObject, error) {
	where, args := ``, []any{}
	if erasureID != 0 {
		where, args = ` AND erasure_id = ?`, append(args, erasureID)
	}
	var out []LeftObject
	err := s.db.SelectContext(ctx, &out, s.q(`SELECT id, object_key, message_id, erasure_id, name, scan_signature FROM attachments
		WHERE removed_at IS NOT NULL AND object_deleted_at IS NULL`+where+` ORDER BY removed_at, id LIMIT ?`), append(args, limit)...)
	return out, wrapConn(err)
}

// ObjectDeleted records that a removed file's object is gone from the store. A file that was
// never attached, or that an erasure destroys, leaves no row (nor audit); a confidential file past
// its time keeps its row, so that views show it as removed.
func (s *Store) ObjectDeleted(ctx context.Context, o LeftObject, at time.Time) error {
	if o.MessageID != nil && o.Erasure == nil {
		_, err := s.db.ExecContext(ctx, s.q(`UPDATE attachments SET object_deleted_at = ? WHERE id = ?`), at, o.ID)
		return wrapConn(err)
	}
	return s.tx(ctx, func(tx *sqlx.Tx) error {
		for _, q := range []string{`DELETE FROM attachment_opens WHERE attachment_id = ?`, `DELETE FROM attachments WHERE id = ?`} {
			if _, err := tx.ExecContext(ctx, s.q(q), o.ID); err != nil {
				return fmt.Errorf("storage: delete attachment: %w", wrapConn(err))
			}
		}
		return nil
	})
}

// AttachmentRef is what an email says of an attached file: its name and size, never its bytes.
type AttachmentRef struct {
	Name string `db:"name"`
	Size int64  `db:"size"`
}

// attachmentRefs lists the files of a message.
func (s *Store) attachmentRefs(ctx context.Context, q sqlx.QueryerContext, messageID int64) ([]AttachmentRef, error) {
	var out []AttachmentRef
	err := sqlx.SelectContext(ctx, q, &out, s.q(`SELECT name, size FROM attachments WHERE message_id = ? ORDER BY created_at, id`), messageID)
	return out, wrapConn(err)
}

// firstMessageAttachments lists the files of a ticket's first message.
func (s *Store) firstMessageAttachments(ctx context.Context, ticketID int64) ([]AttachmentRef, error) {
	var out []AttachmentRef
	err := s.db.SelectContext(ctx, &out, s.q(`SELECT name, size FROM attachments WHERE ticket_id = ?
		AND message_id = (SELECT MIN(id) FROM messages WHERE ticket_id = ?) ORDER BY created_at, id`), ticketID, ticketID)
	return out, wrapConn(err)
}
