package api_test

import (
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage/storagetest"
)

// objectNames lists every file of a folder object store, with its content.
func objectFiles(t *testing.T, s *systemtest.System) map[string]string {
	t.Helper()
	root := strings.TrimPrefix(s.AttachmentsURL, "file://")
	out := map[string]string{}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			out[p] = string(b)
		}
		return nil
	})
	return out
}

// TestTheWorkflowsWordsAboutAnErasedCustomerAreGoneAndNeverReachedThem seeds, for a customer with
// a hostile name, what the staff workflow adds (a note with a file, an answer from a saved reply
// filled with their name, a transfer, a priority) and checks that no customer view or email
// carries a note, then that the erasure leaves none of their words in the database, its search
// tables or the object store.
func TestTheWorkflowsWordsAboutAnErasedCustomerAreGoneAndNeverReachedThem(t *testing.T) {
	systemtest.Each(t, systemtest.Options{}, func(t *testing.T, s *systemtest.System) {
		st := systemtest.StaffToken
		const (
			cid      = "hostil"
			name     = "Quirino Xavante <script>alert(1)</script>"
			noteWord = "notapapagaiosecreto"
			noteFile = "ficheiro-interno-lagartixa.png"
			ansFile  = "resposta-borboleta.png"
			custWord = "tartarugaazulada"
		)
		s.PutMember(t, "rita", false, map[string]string{"email": "lead"})
		if code := s.Do(t, "PUT", "/api/v1/customers/"+cid, systemtest.APIToken, map[string]any{"name": name, "email": "quirino@xavante-loja.pt",
			"language": "pt-PT", "domains": []string{"xavante-loja.pt"}}, nil); code != http.StatusOK {
			t.Fatalf("put: %d", code)
		}
		kept.seed(t, s)
		number := createTicket(t, s, cid, map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Ajuda " + custWord})
		waitRouted(t, s, number)
		if code := s.Do(t, "PUT", "/api/v1/staff/departments/email/replies/ola", st, map[string]string{"title": "Olá", "body": "Caro {customer_name}, o pedido #{ticket_number} está no departamento {department}."}, nil); code != 200 {
			t.Fatalf("reply: %d", code)
		}
		var filled struct {
			Replies []struct{ ID, Body string } `json:"replies"`
		}
		s.Do(t, "GET", "/api/v1/staff/tickets/"+number+"/replies", st, nil, &filled, asMember("rita")...)
		if len(filled.Replies) != 1 || !strings.Contains(filled.Replies[0].Body, name) {
			t.Fatalf("filled reply: %+v", filled)
		}
		_, nf := upload(t, s, "/api/v1/staff/uploads", st, noteFile, pngFile(80), false, asMember("rita")...)
		_, af := upload(t, s, "/api/v1/staff/uploads", st, ansFile, pngFile(80), false, asMember("rita")...)
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/notes", st, map[string]any{"message": "Sobre " + name + ": " + noteWord, "attachments": []string{nf.ID}}, nil, asMember("rita")...); code != 201 {
			t.Fatalf("note: %d", code)
		}
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/messages", st, map[string]any{"message": filled.Replies[0].Body, "attachments": []string{af.ID}}, nil, asMember("rita")...); code != 201 {
			t.Fatalf("answer: %d", code)
		}
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/priority", st, map[string]any{"priority": "urgent"}, nil, asMember("rita")...); code != 200 {
			t.Fatalf("priority: %d", code)
		}
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/department", st, map[string]any{"department": "faturacao"}, nil, asMember("rita")...); code != 200 {
			t.Fatalf("transfer: %d", code)
		}
		systemtest.Eventually(t, 15*time.Second, "the emails sent", func() bool {
			var pending int
			_ = s.Store.DB().Get(&pending, `SELECT COUNT(*) FROM outbox WHERE state = 'pending'`)
			return pending == 0
		})
		// Customer views: never the note, its file or its name.
		for _, path := range []string{"/api/v1/customers/" + cid + "/tickets/" + number, "/api/v1/customers/" + cid + "/tickets", "/api/v1/customers/" + cid + "/export"} {
			code, body := systemtest.Request(systemtest.APIToken, "GET", s.HTTP.URL+path, nil)
			if code != 200 || strings.Contains(string(body), noteWord) || strings.Contains(string(body), noteFile) || strings.Contains(string(body), nf.ID) {
				t.Errorf("%s: %d holds the note\n%s", path, code, body)
			}
			// Customers read "our team", never who of staff acted (answer, priority, transfer).
			if strings.Contains(string(body), "rita") {
				t.Errorf("%s names the member", path)
			}
			if strings.Contains(string(body), kept.words[0]) || strings.Contains(string(body), kept.name) {
				t.Errorf("%s holds another customer's words", path)
			}
		}
		if code := s.Do(t, "GET", "/api/v1/customers/"+cid+"/tickets/"+number+"/attachments/"+nf.ID, systemtest.APIToken, nil, nil); code != 404 {
			t.Errorf("the customer downloads the note's file: %d", code)
		}
		if code := s.Do(t, "GET", "/api/v1/staff/search?q="+url.QueryEscape(noteWord), systemtest.APIToken, nil, nil); code != 403 {
			t.Errorf("the client token searches: %d", code)
		}
		for _, m := range s.Sink.Mails() {
			raw := string(m.Data)
			if strings.Contains(raw, noteWord) || strings.Contains(raw, noteFile) {
				t.Errorf("a mail to %v holds the note:\n%s", m.To, raw)
			}
		}
		// The erasure.
		if code := s.Do(t, "DELETE", "/api/v1/customers/"+cid, systemtest.APIToken, nil, nil); code != 200 {
			t.Fatalf("erase: %d", code)
		}
		systemtest.Eventually(t, 15*time.Second, "the erasure carried out", func() bool { return erasureDone(s) })
		dump := strings.ToLower(storagetest.Dump(t, s.Store))
		for _, w := range []string{"quirino", "xavante", noteWord, noteFile, ansFile, custWord, "borboleta", "lagartixa"} {
			if strings.Contains(dump, strings.ToLower(w)) {
				i := strings.Index(dump, strings.ToLower(w))
				t.Errorf("the database still holds %q: …%s…", w, dump[max(0, i-200):min(len(dump), i+100)])
			}
		}
		if !strings.Contains(dump, kept.words[0]) {
			t.Error("the other customer's words are gone")
		}
		var res struct {
			Results []struct{ Number string } `json:"results"`
		}
		s.Do(t, "GET", "/api/v1/staff/search?q="+noteWord, st, nil, &res, systemtest.AsJoao...)
		if len(res.Results) != 0 {
			t.Errorf("search still finds the note: %+v", res)
		}
		systemtest.Eventually(t, 15*time.Second, "the erased files removed", func() bool {
			for _, content := range objectFiles(t, s) {
				for _, w := range []string{"quirino", noteWord, noteFile, ansFile} {
					if strings.Contains(strings.ToLower(content), w) {
						return false
					}
				}
			}
			return true
		})
	})
}
