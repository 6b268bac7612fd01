package api

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
)

// attachmentJSON is a file of a message as every view shows it.
type attachmentJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	Scan        string `json:"scan"`
	// Confidential files open for the department's staff only; Removed ones were destroyed
	// (a confidential file past its time) and are listed as such.
	Confidential bool `json:"confidential,omitempty"`
	Removed      bool `json:"removed,omitempty"`
}

func attachmentsView(as []storage.Attachment) []attachmentJSON {
	out := make([]attachmentJSON, 0, len(as))
	for _, a := range as {
		out = append(out, attachmentJSON{ID: a.ID, Name: a.Name, Size: a.Size, ContentType: a.ContentType, Scan: a.Scan,
			Confidential: a.Confidential, Removed: a.Removed()})
	}
	return out
}

// checkAttachments says what is wrong with the upload ids a message names, if anything, as the
// key of its wording (pages_i18n.go): more than storage.MaxAttachments, or one that is not the
// owner's to use.
func (s *Server) checkAttachments(ctx context.Context, ownerKind, ownerID string, ids []string) (string, error) {
	if len(ids) == 0 {
		return "", nil
	}
	if len(ids) > storage.MaxAttachments {
		return "attachment.too_many", nil
	}
	for _, id := range ids {
		if !storable(id) || len(id) > 64 {
			return "attachment.not_yours", nil
		}
	}
	bad, err := s.store.UnusableUploads(ctx, ownerKind, ownerID, ids)
	if err != nil {
		return "", err
	}
	if len(bad) > 0 || hasRepeats(ids) {
		return "attachment.not_yours", nil
	}
	return "", nil
}

func langOr(lang string) string {
	if lang == "" {
		return "pt-PT"
	}
	return lang
}

func hasRepeats(ids []string) bool {
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			return true
		}
		seen[id] = true
	}
	return false
}

// attach is what a message of an owner carries, with the sealing rebound to the ticket.
func (s *Server) attach(ownerKind, ownerID string, ids []string) storage.Attach {
	if len(ids) == 0 {
		return storage.Attach{}
	}
	return storage.Attach{OwnerKind: ownerKind, OwnerID: ownerID, IDs: ids, ConfidentialUntil: s.now().UTC().Add(s.cfg.SecretTTL),
		Rebind: s.keys.RebindFileKey}
}

// scheduleDestruction queues, for a message that carried confidential files, the task that
// destroys them at their deadline (the passwords' secret:expire, which does both); the sweep
// destroys them should Redis lose it.
func (s *Server) scheduleDestruction(ctx context.Context, att storage.Attach) {
	if len(att.IDs) == 0 {
		return
	}
	conf, err := s.store.AnyConfidential(ctx, att.IDs)
	if err != nil {
		s.log.Warn("confidential files left to the sweep", "err", err)
		return
	}
	if conf {
		s.enqueue(ctx, jobs.NewSecretExpireTask(att.ConfidentialUntil))
	}
}

// attachmentsInvalid is the validation error of the field attachments, worded by key.
func attachmentsInvalid(key string) *ValidationError {
	return &ValidationError{Fields: map[string]string{"attachments": translate("en", key)}, Keys: map[string]string{"attachments": key}}
}

// attachmentProblem turns storage.ErrUploadUnusable (an upload used by a concurrent message) into
// the validation error of the field attachments.
func attachmentProblem(err error) error {
	if errors.Is(err, storage.ErrUploadUnusable) {
		return attachmentsInvalid("attachment.not_yours")
	}
	return err
}

// Downloads.

// sandboxCSP is the policy of a served file: nothing in it runs, loads or frames anything.
const sandboxCSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"

// signedURLTTL is how long an S3 store's signed URL serves a file.
const signedURLTTL = 2 * time.Minute

// previewable reports whether a file may be shown inline (images only).
func previewable(contentType string) bool { return strings.HasPrefix(contentType, "image/") }

// disposition is the Content-Disposition of a file: RFC 6266, the name encoded by
// mime.FormatMediaType (RFC 2231 for anything not plain ASCII), so no name can break the header.
func disposition(kind, name string) string {
	d := mime.FormatMediaType(kind, map[string]string{"filename": name})
	if d == "" {
		d = kind
	}
	return d
}

// withheld says why a file is not served to its caller (staff is "" for the customer): the
// status, error code and wording key, or status 0 when it may be served.
func withheld(a storage.Attachment, staff string) (int, string, string) {
	switch {
	case a.Removed():
		return http.StatusGone, "attachment_removed", "attachment.removed"
	case a.Scan == storage.ScanInfected:
		return http.StatusForbidden, "attachment_quarantined", "attachment.quarantined"
	case a.Scan == storage.ScanPending:
		return http.StatusConflict, "attachment_not_scanned", "attachment.not_scanned"
	case a.Confidential && staff == "":
		return http.StatusForbidden, "attachment_confidential", "attachment.confidential"
	}
	return 0, "", ""
}

// serveAttachment answers a download of a file its caller may reach; staff is the member
// opening it ("" for the customer).
func (s *Server) serveAttachment(w http.ResponseWriter, r *http.Request, a storage.Attachment, staff string, lang string) {
	ctx := r.Context()
	a = a.AsAt(s.now())
	if status, code, key := withheld(a, staff); status != 0 {
		writeError(w, status, code, translate(lang, key), nil)
		return
	}
	inline := r.URL.Query().Get("preview") == "1" && previewable(a.ContentType) && !a.Confidential
	kind := "attachment"
	if inline {
		kind = "inline"
	}
	cd := disposition(kind, a.Name)
	if !a.Confidential && !inline {
		u, ok, err := s.objects.SignedURL(ctx, a.ObjectKey, cd, a.ContentType, signedURLTTL)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		if ok {
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, u, http.StatusFound)
			return
		}
	}
	if a.Confidential {
		if err := s.store.RecordOpening(ctx, a, staff, storage.OpenGranted, s.now().UTC()); err != nil {
			s.storeError(w, r, err)
			return
		}
	}
	rc, err := jobs.OpenAttachment(ctx, s.objects, s.keys, a)
	if errors.Is(err, secret.ErrOpen) {
		s.log.Error("confidential attachment cannot be opened", "attachment", a.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "attachment_unreadable", "The stored file cannot be opened.", nil)
		return
	}
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", a.ContentType)
	h.Set("Content-Disposition", cd)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", sandboxCSP)
	h.Set("Content-Length", strconv.FormatInt(a.Size, 10))
	h.Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Warn("attachment download cut short", "attachment", a.ID, "err", err)
	}
}

func (s *Server) attachmentLookupFailed(w http.ResponseWriter, r *http.Request, err error) {
	s.found(w, r, err, "attachment_not_found", "No such attachment.")
}

func (s *Server) customerDownload(w http.ResponseWriter, r *http.Request) {
	cid, number, aid := r.PathValue("cid"), r.PathValue("number"), r.PathValue("aid")
	if !storable(cid) || !storable(number) || !storable(aid) || cid == storage.ErasedCustomer {
		writeError(w, http.StatusNotFound, "attachment_not_found", "No such attachment.", nil)
		return
	}
	lang, err := s.customerLanguage(r.Context(), cid)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	a, _, err := s.store.CustomerAttachment(r.Context(), cid, number, aid)
	if err != nil {
		s.attachmentLookupFailed(w, r, err)
		return
	}
	s.serveAttachment(w, r, a, "", lang)
}

func (s *Server) staffDownload(w http.ResponseWriter, r *http.Request) {
	number, aid := r.PathValue("number"), r.PathValue("aid")
	if !storable(number) || !storable(aid) {
		writeError(w, http.StatusNotFound, "attachment_not_found", "No such attachment.", nil)
		return
	}
	a, _, err := s.store.StaffAttachment(r.Context(), s.reach(r), number, aid)
	if err != nil {
		s.attachmentLookupFailed(w, r, err)
		return
	}
	// The route acts as a member (caller.go): the file is served, and a confidential one
	// recorded, under their id.
	s.serveAttachment(w, r, a, s.member(r).ID, "pt-PT")
}

// customerDownloadPage serves a file of the signed-in customer's ticket (the thread's links and
// previews).
func (s *Server) customerDownloadPage(q *request) {
	a, _, err := s.store.CustomerAttachment(q.ctx(), q.customer.ID, q.r.PathValue("number"), q.r.PathValue("aid"))
	s.servePage(q, a, err, "")
}

// staffDownloadPage serves a file of a ticket within the signed-in member's reach.
func (s *Server) staffDownloadPage(q *request) {
	a, _, err := s.store.StaffAttachment(q.ctx(), s.reach(q.r), q.r.PathValue("number"), q.r.PathValue("aid"))
	s.servePage(q, a, err, q.staff)
}

func (s *Server) servePage(q *request, a storage.Attachment, err error, staff string) {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.pageNotFound(q.w, q.r)
	case err != nil:
		s.pageError(q, err)
	default:
		// The pages word a file withheld as a page, with the way back to its ticket.
		if status, _, key := withheld(a.AsAt(s.now()), staff); status != 0 {
			back := "/tickets/" + q.r.PathValue("number")
			if staff != "" {
				back = "/staff" + back
			}
			s.showMessage(q, status, "attachment.withheld.title", key, pageLink{"attachment.back", back})
			return
		}
		s.serveAttachment(q.w, q.r, a, staff, q.lang)
	}
}
