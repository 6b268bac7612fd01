package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/objects/objectstest"
	"github.com/assistd/assistd/scan/clamdtest"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
)

// pngFile is a real PNG header followed by random bytes: typed by its content.
func pngFile(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	copy(b, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	return b
}

type uploaded struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Size         int64  `json:"size"`
	ContentType  string `json:"content_type"`
	SHA256       string `json:"sha256"`
	Scan         string `json:"scan"`
	Confidential bool   `json:"confidential"`
	Error        struct {
		Code   string            `json:"code"`
		Fields map[string]string `json:"fields"`
	} `json:"error"`
}

// upload posts one file as multipart: the part confidential first when set, then file.
func upload(t *testing.T, s *systemtest.System, path, token, name string, data []byte, confidential bool, headers ...string) (int, uploaded) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if confidential {
		_ = mw.WriteField("confidential", "true")
	}
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", s.HTTP.URL+path, &body)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out uploaded
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("upload answered %d %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// download fetches a file; a 302 (S3's signed URL) is followed, and the first status returned.
func download(t *testing.T, s *systemtest.System, path, token string, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.HTTP.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	code, h := resp.StatusCode, resp.Header
	if code == http.StatusFound {
		loc := resp.Header.Get("Location")
		r2, err := http.Get(loc)
		if err != nil {
			t.Fatal(err)
		}
		defer r2.Body.Close()
		data, _ := io.ReadAll(r2.Body)
		return code, r2.Header, data
	}
	data, _ := io.ReadAll(resp.Body)
	return code, h, data
}

// eachStore runs fn with both object stores on both databases.
func eachStore(t *testing.T, opts systemtest.Options, fn func(t *testing.T, s *systemtest.System)) {
	for _, kind := range []string{objectstest.KindFolder, objectstest.KindS3} {
		t.Run(kind, func(t *testing.T) {
			for _, b := range storagetest.Backends(t) {
				t.Run(b.Name, func(t *testing.T) {
					o := opts
					if kind == objectstest.KindS3 {
						_, o.AttachmentsURL = objectstest.S3(t)
					} else {
						_, o.AttachmentsURL = objectstest.Folder(t)
					}
					fn(t, systemtest.Start(t, b, o))
				})
			}
		})
	}
}

type threadView struct {
	Messages []struct {
		Author      string `json:"author"`
		Attachments []struct {
			ID, Name, ContentType, Scan string
			Size                        int64
			Removed                     bool
			Confidential                bool
		} `json:"attachments"`
	} `json:"messages"`
}

func TestAttachmentRoundTrip(t *testing.T) {
	eachStore(t, systemtest.Options{}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		shot := pngFile(300 << 10)
		code, up := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "../../etc/ecrã.png", shot, false)
		if code != http.StatusCreated || up.ContentType != "image/png" || up.Size != int64(len(shot)) || up.Scan != storage.ScanUnscanned || up.Name != "ecrã.png" {
			t.Fatalf("upload: %d %+v\n%s", code, up, s.Log.String())
		}
		number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": "example.pt",
			"message": "O Outlook mostra este erro.", "attachments": []string{up.ID}})
		var v threadView
		if code := s.Do(t, "GET", "/api/v1/customers/ana/tickets/"+number, systemtest.APIToken, nil, &v); code != 200 {
			t.Fatal(code)
		}
		if len(v.Messages) != 1 || len(v.Messages[0].Attachments) != 1 || v.Messages[0].Attachments[0].ID != up.ID {
			t.Fatalf("thread: %+v", v)
		}
		path := "/api/v1/customers/ana/tickets/" + number + "/attachments/" + up.ID
		code, h, got := download(t, s, path, systemtest.APIToken)
		if !bytes.Equal(got, shot) {
			t.Fatalf("customer download: %d, %d bytes back of %d", code, len(got), len(shot))
		}
		if strings.HasPrefix(s.AttachmentsURL, "file://") {
			if code != 200 || h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") ||
				h.Get("Content-Disposition") != `attachment; filename*=utf-8''ecr%C3%A3.png` {
				t.Fatalf("file:// download: %d %v", code, h)
			}
		} else if code != http.StatusFound {
			t.Fatalf("S3 download answered %d, want 302 to a signed URL", code)
		}
		// Staff: a log, on an answer; both sides read both files back.
		log := []byte(strings.Repeat("2026-12-07 10:00:01 smtp: 535 authentication failed\n", 2000))
		code, sup := upload(t, s, "/api/v1/staff/uploads", systemtest.StaffToken, "mail.log", log, false, "Assistd-Staff-Member", "joao")
		if code != http.StatusCreated || sup.ContentType != "text/plain; charset=utf-8" {
			t.Fatalf("staff upload: %d %+v", code, sup)
		}
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/messages", systemtest.StaffToken,
			map[string]any{"staff": "joao", "message": "Veja o registo.", "attachments": []string{sup.ID}}, nil); code != 201 {
			t.Fatalf("answer: %d", code)
		}
		for _, p := range []string{"/api/v1/staff/tickets/" + number + "/attachments/" + sup.ID, "/api/v1/staff/tickets/" + number + "/attachments/" + up.ID} {
			if _, _, got := download(t, s, p, systemtest.StaffToken, systemtest.AsJoao...); !bytes.Equal(got, log) && !bytes.Equal(got, shot) {
				t.Fatalf("staff download %s: %d bytes", p, len(got))
			}
		}
		if _, _, got := download(t, s, "/api/v1/customers/ana/tickets/"+number+"/attachments/"+sup.ID, systemtest.APIToken); !bytes.Equal(got, log) {
			t.Fatalf("customer download of staff's file: %d bytes", len(got))
		}
		if n := objectstest.BucketFiles(t, s.AttachmentsURL); n != 2 {
			t.Fatalf("store holds %d files, want 2", n)
		}
		// The reply reuses nothing: the customer's upload is used.
		var e uploaded
		if code := s.Do(t, "POST", "/api/v1/customers/ana/tickets/"+number+"/messages", systemtest.APIToken,
			map[string]any{"message": "De novo", "attachments": []string{up.ID}}, &e); code != 400 || e.Error.Fields["attachments"] == "" {
			t.Fatalf("reusing an upload: %d %+v", code, e)
		}
	})
}

func TestAttachmentRefusals(t *testing.T) {
	eachStore(t, systemtest.Options{AttachmentMaxBytes: 256 << 10}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		s.PutCustomer(t, "rui", "en")
		exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"), make([]byte, 4096)...)
		code, e := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "foto.png", exe, false)
		if code != http.StatusUnsupportedMediaType || e.Error.Code != "attachment_type_refused" {
			t.Fatalf("executable named .png: %d %+v", code, e)
		}
		html := []byte("<!DOCTYPE html><html><script>alert(1)</script></html>")
		if code, _ := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "nota.txt", html, false); code != http.StatusUnsupportedMediaType {
			t.Fatalf("HTML named .txt: %d", code)
		}
		if code, e := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "big.png", pngFile(257<<10), false); code != http.StatusRequestEntityTooLarge || e.Error.Code != "attachment_too_large" {
			t.Fatalf("oversized: %d %+v", code, e)
		}
		if n := objectstest.BucketFiles(t, s.AttachmentsURL); n != 0 {
			t.Fatalf("refused files left %d objects", n)
		}
		var count int
		_ = s.Store.DB().Get(&count, `SELECT COUNT(*) FROM attachments`)
		if count != 0 {
			t.Fatalf("refused files left %d rows", count)
		}
		// Rui's upload is not Ana's to attach.
		_, rui := upload(t, s, "/api/v1/customers/rui/uploads", systemtest.APIToken, "a.png", pngFile(1000), false)
		var ve uploaded
		if code := s.Do(t, "POST", "/api/v1/customers/ana/tickets", systemtest.APIToken, map[string]any{"subject_id": "email-account-setup",
			"domain": nil, "message": "x", "attachments": []string{rui.ID}}, &ve); code != 400 || ve.Error.Code != "validation_failed" || ve.Error.Fields["attachments"] == "" {
			t.Fatalf("another's upload: %d %+v", code, ve)
		}
		six := []string{}
		for range 6 {
			_, u := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "a.png", pngFile(1000), false)
			six = append(six, u.ID)
		}
		if code := s.Do(t, "POST", "/api/v1/customers/ana/tickets", systemtest.APIToken, map[string]any{"subject_id": "email-account-setup",
			"domain": nil, "message": "x", "attachments": six}, nil); code != 400 {
			t.Fatalf("six files: %d", code)
		}
		number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "x", "attachments": six[:5]})
		// Another customer's download: 404, as a file that does not exist.
		for _, p := range []string{"/api/v1/customers/rui/tickets/" + number + "/attachments/" + six[0], "/api/v1/customers/ana/tickets/" + number + "/attachments/nope"} {
			if code, _, _ := download(t, s, p, systemtest.APIToken); code != 404 {
				t.Fatalf("%s: %d", p, code)
			}
		}
		// Another department's: out of reach, not found.
		if _, _, err := s.Store.StaffAttachment(context.Background(), storage.ReachOnly("faturacao"), number, six[0]); err != storage.ErrNotFound {
			t.Fatalf("another department's file: %v", err)
		}
		if _, _, err := s.Store.StaffAttachment(context.Background(), storage.ReachOnly("email"), number, six[0]); err != nil {
			t.Fatalf("own department's file: %v", err)
		}
	})
}

func TestAttachmentScanning(t *testing.T) {
	addr := clamdtest.Addr(t)
	systemtest.Each(t, systemtest.Options{ClamdAddr: addr}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		_, virus := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "eicar.txt", []byte(clamdtest.EICAR), false)
		_, clean := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "ok.png", pngFile(5000), false)
		if virus.Scan != storage.ScanPending || clean.Scan != storage.ScanPending {
			t.Fatalf("uploads not pending: %+v %+v", virus, clean)
		}
		number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "x",
			"attachments": []string{virus.ID, clean.ID}})
		waitScan(t, s, virus.ID, storage.ScanInfected)
		waitScan(t, s, clean.ID, storage.ScanClean)
		for _, c := range []struct{ path, token string }{
			{"/api/v1/customers/ana/tickets/" + number + "/attachments/" + virus.ID, systemtest.APIToken},
			{"/api/v1/staff/tickets/" + number + "/attachments/" + virus.ID, systemtest.StaffToken},
		} {
			if code, _, body := download(t, s, c.path, c.token, systemtest.AsJoao...); code != http.StatusForbidden || !strings.Contains(string(body), "attachment_quarantined") {
				t.Fatalf("infected %s: %d %s", c.path, code, body)
			}
		}
		if code, _, _ := download(t, s, "/api/v1/customers/ana/tickets/"+number+"/attachments/"+clean.ID, systemtest.APIToken); code != 200 {
			t.Fatalf("clean file: %d", code)
		}
		a, _ := s.Store.Attachment(context.Background(), virus.ID)
		if a.ScanSignature == nil || *a.ScanSignature != clamdtest.Signature {
			t.Fatalf("signature recorded: %v", a.ScanSignature)
		}
	})
}

func TestAttachmentClamdDown(t *testing.T) {
	systemtest.Each(t, systemtest.Options{ClamdAddr: clamdtest.DeadAddr(t)}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		_, up := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "ok.png", pngFile(5000), false)
		number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "x",
			"attachments": []string{up.ID}})
		// The scan task runs and fails; the file stays pending and is not served.
		systemtest.Eventually(t, 10*time.Second, "a failed scan", func() bool { return strings.Contains(s.Log.String(), "clamd unavailable") })
		if code, _, body := download(t, s, "/api/v1/customers/ana/tickets/"+number+"/attachments/"+up.ID, systemtest.APIToken); code != http.StatusConflict ||
			!strings.Contains(string(body), "attachment_not_scanned") {
			t.Fatalf("pending file: %d %s", code, body)
		}
		// The sweep queues it again (its task is still retrying: the same id, no second task).
		if err := s.Deps.SweepAttachments(context.Background()); err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Store.Attachment(context.Background(), up.ID); a.Scan != storage.ScanPending {
			t.Fatalf("scan state with clamd down: %s", a.Scan)
		}
	})
}

func waitScan(t *testing.T, s *systemtest.System, id, want string) {
	t.Helper()
	systemtest.Eventually(t, 20*time.Second, "scan "+want, func() bool {
		a, err := s.Store.Attachment(context.Background(), id)
		return err == nil && a.Scan == want
	})
}

func TestCleanFileName(t *testing.T) {
	for in, want := range map[string]string{
		"../../etc/passwd":                "passwd",
		`C:\Users\ana\Desktop\erro.png`:   "erro.png",
		"rel\u202eatório\x00\x1b[31m.txt": "relatório[31m.txt",
		"":                                "ficheiro",
		"..":                              "ficheiro",
		`a"b.png`:                         "ab.png",
		strings.Repeat("x", 300) + ".log": strings.Repeat("x", 116) + ".log",
		"ecrã\r\nContent-Type: text.png":  "ecrãContent-Type: text.png",
	} {
		if got := api.CleanFileName(in); got != want {
			t.Errorf("CleanFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

// A confidential file is scanned like any other: the worker opens its sealing to stream it to
// clamd.
func TestConfidentialAttachmentScanned(t *testing.T) {
	addr := clamdtest.Addr(t)
	systemtest.Each(t, systemtest.Options{ClamdAddr: addr}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		_, virus := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "config.txt", []byte(clamdtest.EICAR), true)
		_, clean := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "wp-config.txt", []byte("DB_PASSWORD=segredo\n"), true)
		number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "x",
			"attachments": []string{virus.ID, clean.ID}})
		waitScan(t, s, virus.ID, storage.ScanInfected)
		waitScan(t, s, clean.ID, storage.ScanClean)
		if code, _, _ := download(t, s, "/api/v1/staff/tickets/"+number+"/attachments/"+virus.ID, systemtest.StaffToken, "Assistd-Staff-Member", "joao"); code != http.StatusForbidden {
			t.Fatalf("an infected confidential file: %d", code)
		}
		if code, _, got := download(t, s, "/api/v1/staff/tickets/"+number+"/attachments/"+clean.ID, systemtest.StaffToken, "Assistd-Staff-Member", "joao"); code != 200 || string(got) != "DB_PASSWORD=segredo\n" {
			t.Fatalf("a clean confidential file: %d %q", code, got)
		}
		if strings.Contains(s.Log.String(), "segredo") {
			t.Fatal("the confidential file's content is in the logs")
		}
	})
}
