package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"

	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
)

// Uploads: a file arrives as the part "file" of a multipart body, is typed from its first bytes
// (never from its name or declared type), streamed through a SHA-256 (and, for a confidential
// file, the sealing) into a temporary file, checked against the size limit, and only then put in
// the object store: a refused file leaves nothing anywhere. The database keeps only what
// describes it.

// DefaultAttachmentMaxBytes is ASSISTD_ATTACHMENT_MAX_BYTES's default.
const DefaultAttachmentMaxBytes = 10 << 20

// AttachmentKinds are the kinds of file ASSISTD_ATTACHMENT_TYPES may allow, with the type each
// is served as; all are allowed by default.
var AttachmentKinds = map[string]string{
	"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
	"pdf": "application/pdf", "text": "text/plain; charset=utf-8", "zip": "application/zip",
}

// DefaultAttachmentTypes lists every kind.
const DefaultAttachmentTypes = "png,jpeg,gif,webp,pdf,text,zip"

// sniffBytes is how much of a file decides its type.
const sniffBytes = 3072

// kindOf decides a file's kind from its first bytes, or "" for anything not in AttachmentKinds.
// Text is text only when nothing more specific (HTML, SVG, XML, a script) is recognised in it:
// those are refused, as a browser could run them.
func kindOf(head []byte) string {
	mt := mimetype.Detect(head)
	switch {
	case mt.Is("image/png"):
		return "png"
	case mt.Is("image/jpeg"):
		return "jpeg"
	case mt.Is("image/gif"):
		return "gif"
	case mt.Is("image/webp"):
		return "webp"
	case mt.Is("application/pdf"):
		return "pdf"
	case mt.Is("application/zip"):
		return "zip"
	case mt.Is("text/plain"), mt.Is("text/csv"), mt.Is("text/tab-separated-values"), mt.Is("application/json"):
		return "text"
	}
	return ""
}

// maxNameRunes bounds a cleaned file name.
const maxNameRunes = 120

// cleanFileName keeps the last element of a client's file name, without control or format
// characters (which steer how text is shown), bounded in length; "" becomes "ficheiro".
func cleanFileName(name string) string {
	name = strings.ToValidUTF8(name, "")
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base("/" + name)
	var b strings.Builder
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '"' || r == '/' {
			continue
		}
		b.WriteRune(r)
	}
	name = strings.TrimSpace(b.String())
	if name == "." || name == ".." {
		name = ""
	}
	if utf8.RuneCountInString(name) > maxNameRunes {
		ext := path.Ext(name)
		if utf8.RuneCountInString(ext) > 16 {
			ext = ""
		}
		runes := []rune(strings.TrimSuffix(name, ext))
		name = string(runes[:maxNameRunes-utf8.RuneCountInString(ext)]) + ext
	}
	if name == "" {
		name = "ficheiro"
	}
	return name
}

// uploadError is why an upload was refused: its HTTP status, code, and the message key.
type uploadError struct {
	status int
	code   string
	key    string // pages_i18n.go, in the customer's language
	cause  error  // the read error behind attachment.unreadable
}

func (e *uploadError) Error() string { return e.code }

var (
	errTooLarge    = &uploadError{http.StatusRequestEntityTooLarge, "attachment_too_large", "attachment.too_large", nil}
	errTypeRefused = &uploadError{http.StatusUnsupportedMediaType, "attachment_type_refused", "attachment.type_refused", nil}
	errNoFile      = &uploadError{http.StatusBadRequest, "validation_failed", "attachment.no_file", nil}
	errConfLate    = &uploadError{http.StatusBadRequest, "validation_failed", "attachment.confidential_first", nil}
)

// newAttachmentID is a random id that names nothing else.
func newAttachmentID() string {
	b := make([]byte, 15)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// maxBytes is the size limit of one file.
func (s *Server) maxBytes() int64 {
	if s.cfg.AttachmentMaxBytes > 0 {
		return s.cfg.AttachmentMaxBytes
	}
	return DefaultAttachmentMaxBytes
}

func (s *Server) kindAllowed(kind string) bool {
	if kind == "" {
		return false
	}
	if len(s.cfg.AttachmentTypes) == 0 {
		return true
	}
	for _, k := range s.cfg.AttachmentTypes {
		if k == kind {
			return true
		}
	}
	return false
}

// receiveFile stores one uploaded file for an owner. It returns an *uploadError for a file it
// refuses (nothing is stored), or another error when the store or the database failed.
func (s *Server) receiveFile(ctx context.Context, part io.Reader, filename string, confidential bool, ownerKind, ownerID string) (storage.Attachment, error) {
	if s.objects == nil {
		return storage.Attachment{}, errors.New("api: no object store configured")
	}
	head := make([]byte, sniffBytes)
	n, err := io.ReadFull(part, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return storage.Attachment{}, bodyError(err)
	}
	head = head[:n]
	kind := kindOf(head)
	if !s.kindAllowed(kind) {
		return storage.Attachment{}, errTypeRefused
	}
	if n == 0 {
		return storage.Attachment{}, errNoFile
	}
	a := storage.Attachment{ID: newAttachmentID(), OwnerKind: ownerKind, OwnerID: ownerID, Name: cleanFileName(filename),
		ContentType: AttachmentKinds[kind], Confidential: confidential, CreatedAt: s.now().UTC()}
	a.ObjectKey = "a/" + a.ID[:2] + "/" + a.ID
	spool, err := os.CreateTemp(s.cfg.SpoolDir, "assistd-upload-")
	if err != nil {
		return a, fmt.Errorf("api: spool: %w", err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	var sink io.Writer = spool
	var sealer io.WriteCloser
	if confidential {
		key, sealed, err := s.keys.NewFileKey(storage.UploadBinding(a.ID))
		if err != nil {
			return a, err
		}
		if sealer, err = secret.SealFile(spool, key, a.ID); err != nil {
			return a, err
		}
		a.DataKey, sink = sealed, sealer
	}
	sum := sha256.New()
	limit := s.maxBytes()
	written, err := io.Copy(io.MultiWriter(sink, sum), io.LimitReader(io.MultiReader(bytesReader(head), part), limit+1))
	if err != nil {
		return a, bodyError(err)
	}
	if written > limit {
		return a, errTooLarge
	}
	if sealer != nil {
		if err := sealer.Close(); err != nil {
			return a, err
		}
	}
	a.Size, a.SHA256 = written, hex.EncodeToString(sum.Sum(nil))
	stored, err := spool.Seek(0, io.SeekEnd)
	if err != nil {
		return a, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return a, err
	}
	if err := s.objects.Put(ctx, a.ObjectKey, spool, stored); err != nil {
		return a, err
	}
	a.Scan = storage.ScanUnscanned
	if s.cfg.Scanning {
		a.Scan = storage.ScanPending
	}
	if err := s.store.InsertUpload(ctx, a); err != nil {
		_ = s.objects.Delete(context.WithoutCancel(ctx), a.ObjectKey)
		return a, err
	}
	metrics.AttachmentsUploaded.WithLabelValues(kind).Inc()
	if a.Scan == storage.ScanPending {
		s.enqueue(ctx, jobs.NewAttachmentScanTask(a.ID))
	}
	return a, nil
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b} }

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// bodyError turns a failure to read the request body into what the client is told: a body over
// the request limit is a file too large.
func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errTooLarge
	}
	return &uploadError{http.StatusBadRequest, "validation_failed", "attachment.unreadable", err}
}

// uploadJSON is an upload as the API shows it to its owner.
type uploadJSON struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Size         int64  `json:"size"`
	ContentType  string `json:"content_type"`
	SHA256       string `json:"sha256"`
	Scan         string `json:"scan"`
	Confidential bool   `json:"confidential"`
}

func uploadView(a storage.Attachment) uploadJSON {
	return uploadJSON{ID: a.ID, Name: a.Name, Size: a.Size, ContentType: a.ContentType, SHA256: a.SHA256, Scan: a.Scan, Confidential: a.Confidential}
}

// multipartUpload reads an API upload: the part "file", and before it optionally "confidential"
// (and, for staff, "staff"). Parts after the file are not read.
func (s *Server) multipartUpload(w http.ResponseWriter, r *http.Request, ownerKind, ownerID string) (storage.Attachment, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "multipart/form-data" {
		return storage.Attachment{}, &uploadError{http.StatusUnsupportedMediaType, "unsupported_media_type", "attachment.multipart", nil}
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.maxBytes()+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		return storage.Attachment{}, errNoFile
	}
	confidential := false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return storage.Attachment{}, errNoFile
		}
		if err != nil {
			return storage.Attachment{}, bodyError(err)
		}
		switch p.FormName() {
		case "confidential":
			v, _ := io.ReadAll(io.LimitReader(p, 16))
			confidential = strings.EqualFold(strings.TrimSpace(string(v)), "true") || strings.TrimSpace(string(v)) == "on"
		case "staff":
			v, _ := io.ReadAll(io.LimitReader(p, 256))
			if ownerKind == storage.OwnerStaff && ownerID == "" {
				ownerID = strings.TrimSpace(string(v))
			}
		case "file":
			if ownerKind == storage.OwnerStaff {
				name, problem := checkStaff(ownerID)
				if problem != "" {
					return storage.Attachment{}, &uploadError{http.StatusBadRequest, "validation_failed", "attachment.staff", nil}
				}
				ownerID = name
			}
			return s.receiveFile(r.Context(), p, p.FileName(), confidential, ownerKind, ownerID)
		}
		p.Close()
	}
}

func (s *Server) uploadFailed(w http.ResponseWriter, r *http.Request, err error, lang string) {
	var ue *uploadError
	if !errors.As(err, &ue) {
		s.storeError(w, r, err)
		return
	}
	if ue.cause != nil {
		s.log.Info("upload not read whole", "route", r.Pattern, "err", ue.cause)
	}
	message := translate(lang, ue.key)
	if ue == errTooLarge {
		message = translate(lang, ue.key, humanSize(s.maxBytes()))
	}
	if ue.code == "validation_failed" {
		field := "file"
		if ue.key == "attachment.staff" {
			field = "staff"
		}
		writeError(w, ue.status, ue.code, message, map[string]string{field: message})
		return
	}
	writeError(w, ue.status, ue.code, message, nil)
}

func (s *Server) postCustomerUpload(w http.ResponseWriter, r *http.Request) {
	cust, err := s.customer(r.Context(), r.PathValue("cid"))
	if !s.found(w, r, err, "customer_not_found", "No such customer.") {
		return
	}
	a, err := s.multipartUpload(w, r, storage.OwnerCustomer, cust.ID)
	if err != nil {
		s.uploadFailed(w, r, err, cust.Language)
		return
	}
	writeJSON(w, http.StatusCreated, uploadView(a))
}

// postStaffUpload keeps a file for the member making the call: a multipart body has no "staff"
// field, so the service token names the member with the Assistd-Staff-Member header.
func (s *Server) postStaffUpload(w http.ResponseWriter, r *http.Request) {
	m := s.member(r)
	if m == nil {
		memberUnknown(w)
		return
	}
	a, err := s.multipartUpload(w, r, storage.OwnerStaff, m.ID)
	if err != nil {
		s.uploadFailed(w, r, err, "pt-PT")
		return
	}
	writeJSON(w, http.StatusCreated, uploadView(a))
}

// humanSize words a size limit: "10 MB", "512 KB".
func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.3g MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.3g KB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}
