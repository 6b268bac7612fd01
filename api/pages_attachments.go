package api

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/assistd/assistd/storage"
)

// Files on the pages: the new-request, reply and answer forms are multipart, their parts read as
// they arrive. The CSRF token is the form's first field and must be valid before any file is
// stored; each file goes to the object store as an upload of the signed-in person, and the
// handler attaches them. A form sent back with errors keeps the files already received, listed
// and carried in hidden fields ("kept"): nothing is lost and nothing must be chosen again.

// formFiles is what a multipart form brought: the uploads stored, and the first refusal.
type formFiles struct {
	stored  []storage.Attachment
	problem string // key of the refusal's wording, "" when none
}

// maxFormFiles bounds how many files one form may carry.
const maxFormFiles = storage.MaxAttachments

// isMultipart reports whether a request's body is multipart/form-data.
func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

// parseMultipartForm reads a multipart page form: text fields into PostForm, files into the
// object store once the CSRF token before them has been checked. It answers and returns false
// when the form cannot be read or the token is wrong.
func (s *Server) parseMultipartForm(q *request) bool {
	r := q.r
	r.Body = http.MaxBytesReader(q.w, r.Body, int64(maxFormFiles)*s.maxBytes()+maxFormBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		s.showMessage(q, http.StatusBadRequest, "error.form.title", "error.form.text")
		return false
	}
	r.PostForm, r.Form = url.Values{}, url.Values{}
	textLeft := int64(maxFormBytes)
	checked := false
	q.files = &formFiles{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return s.formUnreadable(q, err)
		}
		name := p.FormName()
		if p.FileName() == "" && name != "files" {
			v, err := io.ReadAll(io.LimitReader(p, textLeft+1))
			textLeft -= int64(len(v))
			if err != nil || textLeft < 0 {
				return s.formUnreadable(q, err)
			}
			r.PostForm.Add(name, string(v))
			r.Form.Add(name, string(v))
			continue
		}
		if !checked {
			if !s.validCSRF(r, q.session) {
				s.showMessage(q, http.StatusForbidden, "error.csrf.title", "error.csrf.text", pageLink{"nav.home", "/tickets"})
				return false
			}
			checked = true
		}
		if p.FileName() == "" || q.files.problem != "" {
			// No file chosen, or a file after a refusal: the form comes back anyway.
			_, _ = io.Copy(io.Discard, p)
			continue
		}
		if len(q.files.stored)+len(r.PostForm["kept"]) >= maxFormFiles {
			q.files.problem = "attachment.too_many"
			continue
		}
		ownerKind, ownerID := storage.OwnerCustomer, q.customer.ID
		if q.staff != "" {
			ownerKind, ownerID = storage.OwnerStaff, q.staff
		}
		a, err := s.receiveFile(q.ctx(), p, p.FileName(), r.PostForm.Get("confidential") == "true", ownerKind, ownerID)
		var ue *uploadError
		switch {
		case errors.As(err, &ue):
			q.files.problem = ue.key
		case err != nil:
			s.pageError(q, err)
			return false
		default:
			q.files.stored = append(q.files.stored, a)
		}
	}
	if !s.validCSRF(r, q.session) {
		s.showMessage(q, http.StatusForbidden, "error.csrf.title", "error.csrf.text", pageLink{"nav.home", "/tickets"})
		return false
	}
	return true
}

func (s *Server) formUnreadable(q *request, err error) bool {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.showMessage(q, http.StatusRequestEntityTooLarge, "error.form.title", "error.form.text")
		return false
	}
	s.showMessage(q, http.StatusBadRequest, "error.form.title", "error.form.text")
	return false
}

// formAttachments is what a form's message carries: the uploads kept from an earlier try and
// those just sent, as ids and as files to list again, and the wording of a refusal ("" none).
func (s *Server) formAttachments(q *request) (ids []string, files []storage.Attachment, problem string, err error) {
	ownerKind, ownerID := storage.OwnerCustomer, q.customer.ID
	if q.staff != "" {
		ownerKind, ownerID = storage.OwnerStaff, q.staff
	}
	for _, id := range q.r.PostForm["kept"] {
		if !storable(id) || len(id) > 64 {
			continue
		}
		a, err := s.store.Upload(q.ctx(), ownerKind, ownerID, id)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && (a.MessageID != nil || a.Removed())) {
			continue // not theirs, or already used: nothing of theirs is lost by leaving it out
		}
		if err != nil {
			return nil, nil, "", err
		}
		files = append(files, a)
	}
	if q.files != nil {
		files = append(files, q.files.stored...)
		problem = q.files.problem
	}
	for _, a := range files {
		ids = append(ids, a.ID)
	}
	if problem == "attachment.too_large" {
		problem = "attachment.too_large.form"
	}
	return ids, files, problem, nil
}

// fileList is a message's files as a thread shows them.
type fileList struct {
	V     *view
	Base  string // the ticket's page: /tickets/N or /staff/tickets/N
	Staff bool
	Files []storage.Attachment
}

// FileList is the argument of the template "files".
func (v *view) FileList(base string, files []storage.Attachment) fileList {
	return fileList{V: v, Base: base, Staff: v.Section == "staff", Files: files}
}

// uploadField is the argument of the template "upload": a form's file input.
type uploadField struct {
	V            *view
	ID           string
	Error        string
	Kept         []storage.Attachment
	Confidential bool // offer "contains credentials" (customers)
	Max          string
}

// UploadField is the file input of a form, with the files kept from an earlier try.
func (v *view) UploadField(id, problem string, kept []storage.Attachment, confidential bool) uploadField {
	return uploadField{V: v, ID: id, Error: problem, Kept: kept, Confidential: confidential, Max: v.maxUpload}
}

// Size words a file's size.
func (v *view) Size(n int64) string { return humanSize(n) }

// Image reports whether a content type may be previewed as an image.
func (v *view) Image(contentType string) bool { return previewable(contentType) }

// problemText words a refusal for a form in its language.
func (s *Server) problemText(v *view, key string) string {
	switch key {
	case "":
		return ""
	case "attachment.too_large.form":
		return v.T("attachment.too_large", humanSize(s.maxBytes()))
	}
	return v.T(key)
}

// threadFiles reads the files of a ticket's messages, as they stand now; a thread without any
// costs no query.
func (s *Server) threadFiles(ctx context.Context, ticketID int64, msgs []storage.Message) (map[int64][]storage.Attachment, error) {
	if !storage.ThreadHasFiles(msgs) {
		return nil, nil
	}
	files, err := s.store.MessageAttachments(ctx, ticketID)
	return storage.AttachmentsAsAt(files, s.now()), err
}
