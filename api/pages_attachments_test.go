package api_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/assistd/assistd/storage"
)

type formFile struct {
	name string
	data []byte
}

// postFiles posts a multipart form: the CSRF token first, then the fields, then the files.
func (v *visitor) postFiles(path string, form url.Values, files ...formFile) response {
	v.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("csrf", form.Get("csrf"))
	for k, vals := range form {
		if k == "csrf" {
			continue
		}
		for _, val := range vals {
			_ = mw.WriteField(k, val)
		}
	}
	for _, f := range files {
		fw, _ := mw.CreateFormFile("files", f.name)
		_, _ = fw.Write(f.data)
	}
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, v.env.Web.URL+path, &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return v.do(req)
}

var keptField = regexp.MustCompile(`name="kept" value="([^"]+)"`)

func TestTheFormsTakeFilesAndARefusedOneLosesNothing(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	ana := env.customer(t, "ana")
	page := ana.get("/tickets/new?subject_id=email-account-setup").body
	if !strings.Contains(page, `enctype="multipart/form-data"`) || !strings.Contains(page, `type="file" id="f-attachments" name="files" multiple`) {
		t.Fatal("the new-request form has no file input")
	}
	shot := pngFile(20 << 10)
	exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00"), make([]byte, 2000)...)
	form := url.Values{"csrf": {ana.csrf("/tickets")}, "subject_id": {"email-account-setup"}, "idempotency_key": {"k1"},
		"message": {"O Outlook mostra o erro do ecrã."}, "domain": {"example.pt"}}
	r := ana.postFiles("/tickets/new", form, formFile{"ecra.png", shot}, formFile{"foto.png", exe})
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Este tipo de ficheiro não é aceite") {
		t.Fatalf("a refused file: %d\n%s", r.code, r.body)
	}
	checkPage(t, "request form with a refused file", r.body)
	kept := keptField.FindStringSubmatch(r.body)
	if kept == nil || !strings.Contains(r.body, "ecra.png") || !strings.Contains(r.body, "O Outlook mostra o erro do ecrã.</textarea>") {
		t.Fatalf("the form lost the message or the accepted file:\n%s", r.body)
	}
	// Sent again with the kept file only.
	form.Set("kept", kept[1])
	r = ana.postFiles("/tickets/new", form)
	if r.code != http.StatusSeeOther {
		t.Fatalf("the form with its kept file: %d\n%s", r.code, r.body)
	}
	number := strings.TrimSuffix(strings.TrimPrefix(r.header.Get("Location"), "/tickets/"), "/confirmation")
	page = ana.get("/tickets/" + number).body
	checkPage(t, "ticket with a file", page)
	link := "/tickets/" + number + "/attachments/" + kept[1]
	if !strings.Contains(page, `href="`+link+`"`) || !strings.Contains(page, `src="`+link+`?preview=1"`) {
		t.Fatalf("the thread does not link and preview the file:\n%s", page)
	}
	got := ana.get(link)
	if got.code != 200 || got.body != string(shot) || !strings.HasPrefix(got.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("the page's download: %d %d bytes", got.code, len(got.body))
	}
	if p := ana.get(link + "?preview=1"); p.code != 200 || !strings.HasPrefix(p.header.Get("Content-Disposition"), "inline") {
		t.Fatalf("preview: %d %s", p.code, p.header.Get("Content-Disposition"))
	}
	// A confidential file is listed to its customer, who cannot open it: a page says so.
	conf := ana.postFiles("/tickets/"+number+"/reply", url.Values{"csrf": {ana.csrf("/tickets")}, "message": {"A configuração."}, "confidential": {"true"}},
		formFile{"wp-config.txt", []byte("DB_PASSWORD=segredo\n")})
	if conf.code != http.StatusSeeOther {
		t.Fatalf("reply with a confidential file: %d\n%s", conf.code, conf.body)
	}
	var confID string
	_ = env.Store.DB().Get(&confID, `SELECT id FROM attachments WHERE confidential`)
	if r := ana.get("/tickets/" + number + "/attachments/" + confID); r.code != http.StatusForbidden || !strings.Contains(r.body, "Ficheiro indisponível") ||
		strings.Contains(r.body, "segredo") {
		t.Fatalf("the customer opening their confidential file: %d\n%s", r.code, r.body)
	}
	if page := ana.get("/tickets/" + number).body; !strings.Contains(page, "wp-config.txt") || strings.Contains(page, `href="/tickets/`+number+`/attachments/`+confID) {
		t.Fatal("the thread does not list the confidential file, or links it for the customer")
	}
	// Another customer's session does not reach it.
	env.PutCustomer(t, "rui", "en")
	if r := env.customer(t, "rui").get(link); r.code != http.StatusNotFound {
		t.Fatalf("another customer's download through the pages: %d", r.code)
	}

	// A reply with a file; staff answer with one and open the customer's.
	r = ana.postFiles("/tickets/"+number+"/reply", url.Values{"csrf": {ana.csrf("/tickets")}, "message": {"Segue o registo."}},
		formFile{"outlook.log", []byte("erro 0x800CCC0E\n")})
	if r.code != http.StatusSeeOther {
		t.Fatalf("reply with a file: %d\n%s", r.code, r.body)
	}
	joao := env.staff(t, "joao")
	staffPage := joao.get("/staff/tickets/" + number).body
	checkPage(t, "staff ticket with files", staffPage)
	if !strings.Contains(staffPage, "outlook.log") || !strings.Contains(staffPage, "não verificado") {
		t.Fatalf("the console does not list the files, or does not say they are unscanned:\n%s", staffPage)
	}
	if got := joao.get("/staff/tickets/" + number + "/attachments/" + kept[1]); got.body != string(shot) {
		t.Fatalf("staff opening the screenshot: %d", got.code)
	}
	r = joao.postFiles("/staff/tickets/"+number+"/answer", url.Values{"csrf": {joao.csrf("/staff")}, "message": {"Veja o guia."}, "status": {"answered"}},
		formFile{"guia.pdf", []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n")})
	if r.code != http.StatusSeeOther {
		t.Fatalf("answer with a file: %d\n%s", r.code, r.body)
	}
	tk, _ := env.Store.TicketByNumber(context.Background(), storage.ReachAll(), number)
	files, _ := env.Store.MessageAttachments(context.Background(), tk.ID)
	n := 0
	for _, fs := range files {
		n += len(fs)
	}
	if n != 4 {
		t.Fatalf("%d files attached, want 4", n)
	}
	var owners []string
	_ = env.Store.DB().Select(&owners, `SELECT owner_kind || ':' || owner_id FROM attachments ORDER BY created_at`)
	if len(owners) != 4 || owners[3] != storage.OwnerStaff+":joao" {
		t.Fatalf("owners: %v", owners)
	}
}
