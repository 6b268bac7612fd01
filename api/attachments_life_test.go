package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/objects/objectstest"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/worker"
)

// later moves the tasks' clock on by d.
func later(s *systemtest.System, d time.Duration) {
	s.Deps.Now = func() time.Time { return time.Now().Add(d) }
}

func TestConfidentialAttachment(t *testing.T) {
	eachStore(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		s.PutCustomer(t, "ana", "pt-PT")
		key := []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n")
		code, up := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "id_rsa.txt", key, true)
		if code != http.StatusCreated || !up.Confidential {
			t.Fatalf("confidential upload: %d %+v", code, up)
		}
		// The store holds it sealed.
		a, _ := s.Store.Attachment(ctx, up.ID)
		rc, err := s.Deps.Objects.Open(ctx, a.ObjectKey)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(rc)
		rc.Close()
		if bytes.Contains(raw, []byte("OPENSSH")) || len(raw) == len(key) {
			t.Fatal("the store holds the confidential file in clear")
		}
		number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "A chave está anexada.",
			"attachments": []string{up.ID}})
		path := "/tickets/" + number + "/attachments/" + up.ID
		if code, _, body := download(t, s, "/api/v1/customers/ana"+path, systemtest.APIToken); code != http.StatusForbidden || !strings.Contains(string(body), "attachment_confidential") {
			t.Fatalf("customer opening a confidential file: %d %s", code, body)
		}
		if code, _, _ := download(t, s, "/api/v1/staff"+path, systemtest.StaffToken); code != http.StatusForbidden {
			t.Fatalf("staff naming nobody: %d", code)
		}
		code, h, got := download(t, s, "/api/v1/staff"+path, systemtest.StaffToken, "Assistd-Staff-Member", "joao")
		if code != 200 || !bytes.Equal(got, key) || h.Get("Cache-Control") != "private, no-store" {
			t.Fatalf("staff opening: %d %q", code, got)
		}
		tk, _ := s.Store.TicketByNumber(ctx, storage.ReachAll(), number)
		opens, err := s.Store.Openings(ctx, tk.ID)
		if err != nil || len(opens) != 1 || opens[0].Staff != "joao" || opens[0].AttachmentID != up.ID {
			t.Fatalf("audit: %+v %v", opens, err)
		}
		// The 72-hour rule: at its deadline the key and the object are destroyed.
		later(s, 71*time.Hour)
		if err := s.Deps.SweepAttachments(ctx); err != nil {
			t.Fatal(err)
		}
		if n := objectstest.BucketFiles(t, s.AttachmentsURL); n != 1 {
			t.Fatalf("destroyed before its time: %d objects", n)
		}
		later(s, 72*time.Hour+time.Minute)
		if err := s.Deps.SweepAttachments(ctx); err != nil {
			t.Fatal(err)
		}
		if n := objectstest.BucketFiles(t, s.AttachmentsURL); n != 0 {
			t.Fatalf("the store still holds %d objects after the deadline", n)
		}
		a, _ = s.Store.Attachment(ctx, up.ID)
		if a.DataKey != nil || !a.Removed() {
			t.Fatalf("after the deadline: key %v removed %v", a.DataKey != nil, a.Removed())
		}
		if code, _, _ := download(t, s, "/api/v1/staff"+path, systemtest.StaffToken, "Assistd-Staff-Member", "joao"); code != http.StatusGone {
			t.Fatalf("opening a destroyed file: %d", code)
		}
		var v threadView
		s.Do(t, "GET", "/api/v1/customers/ana/tickets/"+number, systemtest.APIToken, nil, &v)
		if f := v.Messages[0].Attachments; len(f) != 1 || !f[0].Removed {
			t.Fatalf("the thread does not show the file removed: %+v", f)
		}
	})
}

func TestUnattachedUploadsSwept(t *testing.T) {
	eachStore(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		s.PutCustomer(t, "ana", "pt-PT")
		_, kept := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "a.png", pngFile(2000), false)
		_, left := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "b.png", pngFile(2000), false)
		createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "x", "attachments": []string{kept.ID}})
		later(s, 23*time.Hour)
		if err := s.Deps.SweepAttachments(ctx); err != nil {
			t.Fatal(err)
		}
		if n := objectstest.BucketFiles(t, s.AttachmentsURL); n != 2 {
			t.Fatalf("swept before 24 h: %d objects left", n)
		}
		later(s, jobs.UnattachedTTL+time.Minute)
		if err := s.Deps.SweepAttachments(ctx); err != nil {
			t.Fatal(err)
		}
		if n := objectstest.BucketFiles(t, s.AttachmentsURL); n != 1 {
			t.Fatalf("after 24 h the store holds %d objects, want the attached one", n)
		}
		if _, err := s.Store.Attachment(ctx, left.ID); err != storage.ErrNotFound {
			t.Fatalf("the unused upload's row: %v", err)
		}
		if _, err := s.Store.Attachment(ctx, kept.ID); err != nil {
			t.Fatalf("the attached file: %v", err)
		}
	})
}

func TestAttachmentEmailsListNamesOnly(t *testing.T) {
	systemtest.Each(t, systemtest.Options{}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		shot := pngFile(40 << 10)
		_, up := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "erro-outlook.png", shot, false)
		createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "x", "attachments": []string{up.ID}})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		mails, err := s.Sink.Wait(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mails {
			decoded, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(m.Data)))
			text := string(decoded)
			if !strings.Contains(text, "erro-outlook.png (40 KB)") {
				t.Errorf("an email to %v does not list the file:\n%s", m.To, text)
			}
			if strings.Contains(text, "filename=") || strings.Contains(text, "image/png") || len(m.Data) > 40<<10 {
				t.Errorf("an email to %v carries a file", m.To)
			}
		}
	})
}

func TestAttachmentsExportedAndErased(t *testing.T) {
	eachStore(t, systemtest.Options{}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		_, up := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "erro.png", pngFile(3000), false)
		_, conf := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "wp-config.txt", []byte("DB_PASSWORD=segredo\n"), true)
		upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "never-used.png", pngFile(3000), false)
		number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "x",
			"attachments": []string{up.ID, conf.ID}})
		code, data := systemtest.Request(systemtest.APIToken, "GET", s.HTTP.URL+"/api/v1/customers/ana/export", nil)
		var export struct {
			Tickets []struct {
				Attachments []struct{ ID, Name, SHA256, URL string } `json:"attachments"`
			} `json:"tickets"`
		}
		if err := json.Unmarshal(data, &export); code != 200 || err != nil || len(export.Tickets) != 1 || len(export.Tickets[0].Attachments) != 2 {
			t.Fatalf("export: %d %v %s", code, err, data)
		}
		f := export.Tickets[0].Attachments[0]
		if f.ID != up.ID || f.SHA256 != up.SHA256 || f.URL != systemtest.PublicURL+"/tickets/"+number+"/attachments/"+up.ID {
			t.Fatalf("exported file: %+v", f)
		}
		if n := objectstest.BucketFiles(t, s.AttachmentsURL); n != 3 {
			t.Fatalf("before the erasure the store holds %d objects", n)
		}
		var erased struct{ Erased storage.Erased }
		if code := s.Do(t, "DELETE", "/api/v1/customers/ana", systemtest.APIToken, nil, &erased); code != 200 || erased.Erased.Attachments != 2 {
			t.Fatalf("erase: %d %+v", code, erased)
		}
		systemtest.Eventually(t, 20*time.Second, "the erasure to empty the store", func() bool {
			return objectstest.BucketFiles(t, s.AttachmentsURL) == 0
		})
		systemtest.Eventually(t, 20*time.Second, "the erasure to complete", func() bool {
			var left int
			_ = s.Store.DB().Get(&left, `SELECT COUNT(*) FROM erasures WHERE completed_at IS NULL`)
			return left == 0
		})
		var rows int
		_ = s.Store.DB().Get(&rows, `SELECT COUNT(*) FROM attachments`)
		if rows != 0 {
			t.Fatalf("%d attachment rows left after the erasure", rows)
		}
	})
}

// At a confidential file's deadline its task destroys it, key and object, without waiting for the
// minute's sweep (left out here).
func TestConfidentialAttachmentDestroyedAtItsSecond(t *testing.T) {
	var periods []jobs.Period
	for _, p := range worker.DefaultPeriods() {
		if p.Type != jobs.TypeAttachmentSweep && p.Type != jobs.TypeSecretSweep {
			periods = append(periods, p)
		}
	}
	eachStore(t, systemtest.Options{SecretTTL: 2 * time.Second, Periods: periods}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		_, up := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "chave.txt", []byte("segredo\n"), true)
		createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "x", "attachments": []string{up.ID}})
		systemtest.Eventually(t, 15*time.Second, "the object to be gone", func() bool { return objectstest.BucketFiles(t, s.AttachmentsURL) == 0 })
		if a, _ := s.Store.Attachment(context.Background(), up.ID); a.DataKey != nil || !a.Removed() {
			t.Fatal("the key outlived the object")
		}
	})
}

// A note carries files like an answer; they are staff's: no customer view lists them and the
// customer's download does not reach them. Another department's member reaches no file of the
// ticket.
func TestNoteFilesAndDepartmentsReach(t *testing.T) {
	eachStore(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		s.PutMember(t, "rita", false, map[string]string{"faturacao": "agent"})
		s.PutMember(t, "rui", false, map[string]string{"email": "agent"})
		_, shot := upload(t, s, "/api/v1/customers/ana/uploads", systemtest.APIToken, "erro.png", pngFile(3000), false)
		number := createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "x", "attachments": []string{shot.ID}})
		note := []byte("registo interno do servidor\n")
		_, up := upload(t, s, "/api/v1/staff/uploads", systemtest.StaffToken, "servidor.log", note, false, "Assistd-Staff-Member", "rui")
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/notes", systemtest.StaffToken,
			map[string]any{"message": "Ver o registo.", "attachments": []string{up.ID}}, nil, "Assistd-Staff-Member", "rui"); code != http.StatusCreated {
			t.Fatalf("note with a file: %d", code)
		}
		var staffView, customerView threadView
		s.Do(t, "GET", "/api/v1/staff/tickets/"+number, systemtest.StaffToken, nil, &staffView, "Assistd-Staff-Member", "rui")
		s.Do(t, "GET", "/api/v1/customers/ana/tickets/"+number, systemtest.APIToken, nil, &customerView)
		if n := len(staffView.Messages); n != 2 || len(staffView.Messages[1].Attachments) != 1 || staffView.Messages[1].Attachments[0].ID != up.ID {
			t.Fatalf("staff view: %+v", staffView)
		}
		for _, m := range customerView.Messages {
			for _, a := range m.Attachments {
				if a.ID == up.ID {
					t.Fatal("the customer's view lists a note's file")
				}
			}
		}
		if code, _, _ := download(t, s, "/api/v1/customers/ana/tickets/"+number+"/attachments/"+up.ID, systemtest.APIToken); code != http.StatusNotFound {
			t.Fatalf("the customer downloading a note's file: %d", code)
		}
		if code, _, got := download(t, s, "/api/v1/staff/tickets/"+number+"/attachments/"+up.ID, systemtest.StaffToken, "Assistd-Staff-Member", "rui"); (code != 200 && code != http.StatusFound) || !bytes.Equal(got, note) {
			t.Fatalf("staff downloading the note's file: %d", code)
		}
		for _, id := range []string{up.ID, shot.ID} {
			if code, _, _ := download(t, s, "/api/v1/staff/tickets/"+number+"/attachments/"+id, systemtest.StaffToken, "Assistd-Staff-Member", "rita"); code != http.StatusNotFound {
				t.Fatalf("another department's member downloading %s: %d", id, code)
			}
		}
	})
}
