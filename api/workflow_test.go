package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
)

// asMember is the header with which a service-token call acts as a member.
func asMember(id string) []string { return []string{api.StaffMemberHeader, id} }

// staffView is a ticket as the staff API shows it, with what the workflow adds.
type staffView struct {
	Number     string `json:"number"`
	Status     string `json:"status"`
	Priority   string `json:"priority"`
	Department struct {
		ID string `json:"id"`
	} `json:"department"`
	Messages []struct {
		Author   string  `json:"author"`
		Staff    *string `json:"staff"`
		Member   *string `json:"member"`
		Internal *bool   `json:"internal"`
		Body     string  `json:"body"`
	} `json:"messages"`
	SLA struct {
		FirstResponseDue *time.Time `json:"first_response_due"`
	} `json:"sla"`
	StatusHistory []struct {
		From           *string `json:"from"`
		To             string  `json:"to"`
		Staff          string  `json:"staff"`
		FromDepartment string  `json:"from_department"`
		ToDepartment   string  `json:"to_department"`
	} `json:"status_history"`
}

// workflowEach starts a system with the pages on every backend, a customer "ana" and one ticket
// of hers routed to the Email department (its confirmation and department mails sent). Besides
// the admins joao and maria, rita leads Email, pedro is an agent of Email and sofia an agent of
// Faturação.
func workflowEach(t *testing.T, fn func(t *testing.T, env *webEnv, number string)) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			env := startWebOn(t, b, false, nil)
			env.PutMember(t, "rita", false, map[string]string{"email": "lead"})
			env.PutMember(t, "pedro", false, map[string]string{"email": "agent"})
			env.PutMember(t, "sofia", false, map[string]string{"faturacao": "agent"})
			env.PutCustomer(t, "ana", "pt-PT")
			number := createTicket(t, env.System, "ana", map[string]any{"subject_id": "email-account-setup", "domain": "example.pt",
				"message": "O Outlook pede a password vezes sem conta."})
			waitRouted(t, env.System, number)
			env.waitForMail(t, 2)
			fn(t, env, number)
		})
	}
}

func TestANoteNeverReachesTheCustomerByPageAPIExportOrMail(t *testing.T) {
	const secret = "Nota só para a equipa: cliente difícil"
	workflowEach(t, func(t *testing.T, env *webEnv, number string) {
		var before staffView
		env.Do(t, "GET", "/api/v1/staff/tickets/"+number, systemtest.StaffToken, nil, &before, systemtest.AsJoao...)

		var noted staffView
		if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/notes", systemtest.StaffToken,
			map[string]string{"staff": "rita", "message": secret}, &noted); code != http.StatusCreated {
			t.Fatalf("note: %d", code)
		}
		last := noted.Messages[len(noted.Messages)-1]
		if last.Body != secret || last.Internal == nil || !*last.Internal || last.Member == nil || *last.Member != "rita" || last.Author != "staff" {
			t.Fatalf("the staff view lists the note as %+v", last)
		}
		if first := noted.Messages[0]; first.Internal == nil || *first.Internal {
			t.Fatalf("the customer's message in the staff view: %+v", first)
		}
		// Not an answer: the status and the clock stay.
		if noted.Status != "open" || !timeEqualPtr(noted.SLA.FirstResponseDue, before.SLA.FirstResponseDue) {
			t.Fatalf("after a note: status %s, first response due %v (was %v)", noted.Status, noted.SLA.FirstResponseDue, before.SLA.FirstResponseDue)
		}
		// A note from the console, its text field named note.
		rita := env.staff(t, "rita")
		staffPage := "/staff/tickets/" + number
		if r := rita.post(staffPage+"/notes", url.Values{"csrf": {rita.csrf(staffPage)}, "note": {"  "}}); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="note-error"`) {
			t.Fatalf("an empty note: %d", r.code)
		}
		if r := rita.post(staffPage+"/notes", url.Values{"csrf": {rita.csrf(staffPage)}, "note": {secret + " (2)"}}); r.code != http.StatusSeeOther {
			t.Fatalf("note form: %d %s", r.code, r.body)
		}
		page := rita.get(staffPage + "?done=note").body
		checkPage(t, "staff ticket with notes", page)
		if strings.Count(page, `data-testid="note"`) != 2 || !strings.Contains(page, "Nota interna") || !strings.Contains(page, secret+" (2)") {
			t.Fatal("the console's thread does not show both notes marked as internal")
		}
		if i, j := strings.Index(page, `action="/staff/tickets/`+number+`/answer"`), strings.Index(page, `name="note"`); i < 0 || j < i {
			t.Fatal("the note form is not after the answer form")
		}

		// An answer goes out by email; the notes never do.
		if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/messages", systemtest.StaffToken,
			map[string]string{"staff": "rita", "message": "Já está resolvido."}, nil); code != http.StatusCreated {
			t.Fatalf("answer: %d", code)
		}
		waitMail(t, env.System, "ana@example.pt", "#"+number, "Já está resolvido.", 15*time.Second)
		for _, m := range env.Sink.Mails() {
			if _, text := readMail(t, m); strings.Contains(string(m.Data), "equipa: cliente") || strings.Contains(text, secret) {
				t.Fatalf("a mail to %v holds the note", m.To)
			}
		}
		// The customer's API, page and export.
		_, apiView := systemtest.Request(systemtest.APIToken, "GET", env.HTTP.URL+"/api/v1/customers/ana/tickets/"+number, nil)
		_, export := systemtest.Request(systemtest.APIToken, "GET", env.HTTP.URL+"/api/v1/customers/ana/export", nil)
		ana := env.customer(t, "ana")
		customerPage := ana.get("/tickets/" + number).body
		for name, body := range map[string]string{"API": string(apiView), "export": string(export), "page": customerPage} {
			if !strings.Contains(body, "Já está resolvido.") {
				t.Fatalf("the customer's %s lacks the answer", name)
			}
			if strings.Contains(body, "cliente difícil") || strings.Contains(body, "cliente dif\\u00edcil") || strings.Contains(body, `"internal"`) || strings.Contains(body, "rita") {
				t.Fatalf("the customer's %s shows the note or names staff:\n%s", name, body)
			}
		}
	})
}

func timeEqualPtr(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }

func TestATransferKeepsTheHistoryNotifiesTheNewDepartmentAndShowsItToTheCustomer(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, number string) {
		staffPath := "/api/v1/staff/tickets/" + number
		if code := env.Do(t, "POST", staffPath+"/messages", systemtest.StaffToken,
			map[string]string{"staff": "joao", "message": "Vamos ver.", "status": "in_progress"}, nil); code != http.StatusCreated {
			t.Fatalf("answer: %d", code)
		}
		var bad errorReply
		if code := env.Do(t, "POST", staffPath+"/department", systemtest.StaffToken, map[string]string{"staff": "joao", "department": "nowhere"}, &bad); code != http.StatusBadRequest || bad.Error.Fields["department"] == "" {
			t.Fatalf("a transfer to an unknown department: %d %+v", code, bad)
		}
		var before staffView
		env.Do(t, "GET", staffPath, systemtest.StaffToken, nil, &before, systemtest.AsJoao...)
		var moved staffView
		if code := env.Do(t, "POST", staffPath+"/department", systemtest.StaffToken, map[string]string{"staff": "joao", "department": "faturacao"}, &moved); code != http.StatusOK {
			t.Fatalf("transfer: %d", code)
		}
		if moved.Number != number || moved.Status != "in_progress" || moved.Department.ID != "faturacao" || len(moved.Messages) != len(before.Messages) {
			t.Fatalf("moved: %+v", moved)
		}
		var after staffView
		env.Do(t, "GET", staffPath, systemtest.StaffToken, nil, &after, systemtest.AsJoao...)
		if len(after.StatusHistory) != len(before.StatusHistory)+1 {
			t.Fatalf("history: %d entries, before %d", len(after.StatusHistory), len(before.StatusHistory))
		}
		last := after.StatusHistory[len(after.StatusHistory)-1]
		if last.FromDepartment != "email" || last.ToDepartment != "faturacao" || last.To != "in_progress" || last.Staff != "joao" {
			t.Fatalf("the transfer in the history: %+v", last)
		}
		subject, text := waitMail(t, env.System, "faturacao@suporte.example.pt", "[Pedido #"+number+"]", "transferido", 15*time.Second)
		if !strings.Contains(text, "Email") || !strings.Contains(text, "joao") || !strings.Contains(subject, "Faturação") {
			t.Fatalf("the new department's mail:\n%s\n%s", subject, text)
		}
		// The customer sees the new department, and no mail told them of the move.
		var mine struct {
			Department struct{ ID, Name string } `json:"department"`
		}
		env.Do(t, "GET", "/api/v1/customers/ana/tickets/"+number, systemtest.APIToken, nil, &mine)
		if mine.Department.ID != "faturacao" || mine.Department.Name != "Faturação" {
			t.Fatalf("the customer's view: %+v", mine.Department)
		}
		if page := env.customer(t, "ana").get("/tickets/" + number).body; !strings.Contains(page, "Faturação") {
			t.Fatal("the customer's page does not show the new department")
		}
		// The queues follow it.
		var email, billing struct {
			Tickets []struct{ Number string } `json:"tickets"`
		}
		env.Do(t, "GET", "/api/v1/departments/email/queue", systemtest.StaffToken, nil, &email, systemtest.AsJoao...)
		env.Do(t, "GET", "/api/v1/departments/faturacao/queue", systemtest.StaffToken, nil, &billing, systemtest.AsJoao...)
		if len(email.Tickets) != 0 || len(billing.Tickets) != 1 || billing.Tickets[0].Number != number {
			t.Fatalf("queues after the move: email %+v, faturacao %+v", email, billing)
		}
		// Email's lead no longer reaches it; Faturação's agent sees it but may not move it.
		if r := env.staff(t, "rita").get("/staff/tickets/" + number); r.code != http.StatusNotFound {
			t.Fatalf("the old department's lead opens the moved ticket: %d", r.code)
		}
		sofia := env.staff(t, "sofia")
		if shown := sofia.get("/staff/tickets/" + number).body; strings.Contains(shown, `name="department"`) {
			t.Fatal("an agent is offered the transfer form")
		}
		if r := sofia.post("/staff/tickets/"+number+"/department", url.Values{"csrf": {sofia.csrf("/staff/tickets/" + number)}, "department": {"email"}}); r.code != http.StatusForbidden {
			t.Fatalf("an agent's transfer form: %d", r.code)
		}
		// From the console, back to Email by an admin: the form lists the other departments, and
		// the history shows the move.
		rita := env.staff(t, "joao")
		page := "/staff/tickets/" + number
		shown := rita.get(page).body
		if !strings.Contains(shown, `name="department"`) || strings.Contains(shown, `<option value="faturacao">`) {
			t.Fatal("the transfer form is missing or offers the ticket's own department")
		}
		if r := rita.post(page+"/department", url.Values{"csrf": {rita.csrf(page)}, "department": {"email"}}); r.code != http.StatusSeeOther {
			t.Fatalf("transfer form: %d %s", r.code, r.body)
		}
		shown = rita.get(page + "?done=transfer").body
		checkPage(t, "staff ticket after a transfer", shown)
		if !strings.Contains(shown, "Departamento: Faturação → Email") || !strings.Contains(shown, `data-testid="department">Email`) {
			t.Fatal("the console does not show the move back in the history")
		}
		waitMail(t, env.System, "email@suporte.example.pt", "[Pedido #"+number+"]", "transferido", 15*time.Second)
	})
}

func TestAMemberCannotTransferFromOutsideTheirDepartmentsOrWithoutLeadingIt(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, number string) {
		ctx := context.Background()
		lead := func(string) string { return "lead" }
		agent := func(string) string { return "agent" }
		if _, err := env.Server.Transfer(ctx, storage.ReachOnly("faturacao"), lead, number, "rita", "faturacao"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a lead of another department: %v, want not found", err)
		}
		if _, err := env.Server.Transfer(ctx, storage.ReachOnly("email"), agent, number, "rita", "faturacao"); err == nil {
			t.Fatal("an agent moved a ticket")
		}
		if tk, _ := env.Store.TicketByNumber(ctx, storage.ReachAll(), number); tk.DepartmentID != "email" {
			t.Fatalf("the ticket moved to %s", tk.DepartmentID)
		}
		// Through the API, as members: an agent is refused, another department's member finds
		// no such ticket, the lead moves it.
		path := "/api/v1/staff/tickets/" + number + "/department"
		var refused errorReply
		if code := env.Do(t, "POST", path, systemtest.StaffToken, map[string]string{"department": "faturacao"}, &refused, asMember("pedro")...); code != http.StatusForbidden || refused.Error.Code != "forbidden" {
			t.Fatalf("an agent's transfer: %d %+v", code, refused)
		}
		if code := env.Do(t, "POST", path, systemtest.StaffToken, map[string]string{"department": "email"}, &refused, asMember("sofia")...); code != http.StatusNotFound || refused.Error.Code != "ticket_not_found" {
			t.Fatalf("a transfer by a member of another department: %d %+v", code, refused)
		}
		if code := env.Do(t, "POST", path, systemtest.StaffToken, map[string]string{"department": "faturacao"}, nil, asMember("rita")...); code != http.StatusOK {
			t.Fatalf("the lead's transfer: %d", code)
		}
		if code := env.Do(t, "POST", path, systemtest.StaffToken, map[string]string{"department": "email"}, &refused, asMember("rita")...); code != http.StatusNotFound {
			t.Fatalf("the lead of the department it left moves it again: %d", code)
		}
	})
}

func TestPriorityIsSetByStaffShownInQueuesAndSortsThem(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, first string) {
		second := createTicket(t, env.System, "ana", map[string]any{"subject_id": "email-delivery", "domain": nil, "message": "Não recebo email."})
		waitRouted(t, env.System, second)
		var bad errorReply
		if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+second+"/priority", systemtest.StaffToken, map[string]string{"priority": "asap"}, &bad, asMember("pedro")...); code != http.StatusBadRequest || bad.Error.Fields["priority"] == "" {
			t.Fatalf("an unknown priority: %d %+v", code, bad)
		}
		var set staffView
		if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+second+"/priority", systemtest.StaffToken, map[string]string{"priority": "urgent"}, &set, asMember("pedro")...); code != http.StatusOK || set.Priority != "urgent" {
			t.Fatalf("set: %d %s", code, set.Priority)
		}
		var queue struct {
			Tickets []struct{ Number, Priority string } `json:"tickets"`
		}
		env.Do(t, "GET", "/api/v1/departments/email/queue?order=priority", systemtest.StaffToken, nil, &queue, systemtest.AsJoao...)
		if len(queue.Tickets) != 2 || queue.Tickets[0].Number != second || queue.Tickets[0].Priority != "urgent" || queue.Tickets[1].Priority != "normal" {
			t.Fatalf("the queue by priority: %+v", queue.Tickets)
		}
		// A cursor of one order does not continue another.
		if code := env.Do(t, "GET", "/api/v1/departments/email/queue?order=priority&limit=1", systemtest.StaffToken, nil, nil, systemtest.AsJoao...); code != http.StatusOK {
			t.Fatalf("a page by priority: %d", code)
		}
		if code := env.Do(t, "GET", "/api/v1/departments/email/queue?order=priority&after=1-1", systemtest.StaffToken, nil, &bad, systemtest.AsJoao...); code != http.StatusBadRequest {
			t.Fatalf("a waiting-time cursor in the priority order: %d", code)
		}
		// The console: its form, and the queue's column and order.
		joao := env.staff(t, "joao")
		page := "/staff/tickets/" + first
		if r := joao.post(page+"/priority", url.Values{"csrf": {joao.csrf(page)}, "priority": {"high"}}); r.code != http.StatusSeeOther {
			t.Fatalf("priority form: %d", r.code)
		}
		if r := joao.post(page+"/priority", url.Values{"csrf": {joao.csrf(page)}, "priority": {"asap"}}); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Escolha uma das prioridades") {
			t.Fatalf("an unknown priority from the form: %d", r.code)
		}
		if shown := joao.get(page).body; !strings.Contains(shown, `data-testid="priority">Alta`) {
			t.Fatal("the ticket page does not show the new priority")
		}
		q := joao.get("/staff/departments/email?order=priority").body
		checkPage(t, "queue by priority", q)
		if i, j := strings.Index(q, "#"+second), strings.Index(q, "#"+first); i < 0 || j < i || !strings.Contains(q, ">Urgente<") {
			t.Fatal("the console's queue by priority does not list the urgent one first with its priority")
		}
	})
}

func TestASavedReplyIsFilledForTheTicketInsertedIntoTheAnswerBoxAndStillEdited(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, number string) {
		base := "/api/v1/staff/departments/email/replies/"
		var bad errorReply
		if code := env.Do(t, "PUT", base+"outlook", systemtest.StaffToken, map[string]string{"title": "Outlook", "body": "Olá {nome}"}, &bad); code != http.StatusBadRequest || !strings.Contains(bad.Error.Fields["body"], "{nome}") {
			t.Fatalf("an unknown placeholder: %d %+v", code, bad)
		}
		if code := env.Do(t, "PUT", base+"Not%20An%20Id", systemtest.StaffToken, map[string]string{"title": "X", "body": "Y"}, &bad); code != http.StatusBadRequest || bad.Error.Fields["id"] == "" {
			t.Fatalf("a bad id: %d %+v", code, bad)
		}
		body := "Olá {customer_name},\nO pedido #{ticket_number} foi analisado pelo departamento {department}."
		var stored struct{ ID, Department, Title, Body string }
		if code := env.Do(t, "PUT", base+"outlook", systemtest.StaffToken, map[string]string{"title": "Outlook pede a password", "body": body}, &stored); code != http.StatusOK ||
			stored.Body != body || stored.Department != "email" || stored.ID != "outlook" {
			t.Fatalf("put: %d %+v", code, stored)
		}
		var list struct {
			Replies []struct{ ID, Body string } `json:"replies"`
		}
		env.Do(t, "GET", "/api/v1/staff/departments/email/replies", systemtest.StaffToken, nil, &list)
		if len(list.Replies) != 1 || list.Replies[0].Body != body {
			t.Fatalf("list: %+v", list)
		}
		// Members: an agent reads them but may not write them; another department's member does
		// not find the department.
		if code := env.Do(t, "GET", "/api/v1/staff/departments/email/replies", systemtest.StaffToken, nil, nil, asMember("pedro")...); code != http.StatusOK {
			t.Fatalf("an agent lists the replies: %d", code)
		}
		if code := env.Do(t, "PUT", base+"outlook", systemtest.StaffToken, map[string]string{"title": "X", "body": "Y"}, &bad, asMember("pedro")...); code != http.StatusForbidden {
			t.Fatalf("an agent writes a reply: %d", code)
		}
		if code := env.Do(t, "GET", "/api/v1/staff/departments/email/replies", systemtest.StaffToken, nil, &bad, asMember("sofia")...); code != http.StatusNotFound || bad.Error.Code != "department_not_found" {
			t.Fatalf("another department's member lists the replies: %d %+v", code, bad)
		}
		filled := "Olá Ana Silva,\nO pedido #" + number + " foi analisado pelo departamento Email."
		env.Do(t, "GET", "/api/v1/staff/tickets/"+number+"/replies", systemtest.StaffToken, nil, &list, systemtest.AsJoao...)
		if len(list.Replies) != 1 || list.Replies[0].Body != filled {
			t.Fatalf("filled for the ticket: %+v", list)
		}
		// The console: the chooser (a GET form) reloads the page with the answer box filled.
		joao := env.staff(t, "joao")
		page := "/staff/tickets/" + number
		shown := joao.get(page).body
		if !strings.Contains(shown, `data-testid="reply-chooser"`) || !strings.Contains(shown, "Outlook pede a password") {
			t.Fatal("the ticket page has no saved-reply chooser")
		}
		withReply := joao.get(page + "?reply=outlook").body
		checkPage(t, "staff ticket with a saved reply", withReply)
		if !strings.Contains(withReply, `name="message" rows="8" maxlength="20000" required>`+htmlEscape(filled)+`</textarea>`) {
			t.Fatalf("the answer box is not filled with the reply:\n%s", withReply)
		}
		// The member edits it and sends it.
		edited := filled + "\nJá pode voltar a tentar."
		if r := joao.post(page+"/answer", url.Values{"csrf": {joao.csrf(page)}, "message": {edited}, "status": {"answered"}}); r.code != http.StatusSeeOther {
			t.Fatalf("answer: %d", r.code)
		}
		waitMail(t, env.System, "ana@example.pt", "#"+number, "Já pode voltar a tentar.", 15*time.Second)

		// Written and deleted from the console's page of the department's replies.
		replies := "/staff/departments/email/replies"
		if r := joao.post(replies, url.Values{"csrf": {joao.csrf(replies)}, "id": {"fatura"}, "title": {"Fatura"}, "body": {"Olá {cliente}"}}); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "marcadores") {
			t.Fatalf("a refused reply form: %d", r.code)
		}
		if r := joao.post(replies, url.Values{"csrf": {joao.csrf(replies)}, "id": {"fatura"}, "title": {"Fatura"}, "body": {"Segue a fatura, {customer_name}."}}); r.code != http.StatusSeeOther {
			t.Fatalf("reply form: %d %s", r.code, r.body)
		}
		listed := joao.get(replies + "?edit=fatura").body
		checkPage(t, "saved replies", listed)
		if !strings.Contains(listed, "Segue a fatura, {customer_name}.") || !strings.Contains(listed, `name="editing"`) {
			t.Fatal("the replies page does not list the new reply or edit it")
		}
		if r := joao.post(replies+"/fatura/delete", url.Values{"csrf": {joao.csrf(replies)}}); r.code != http.StatusSeeOther {
			t.Fatalf("delete form: %d", r.code)
		}
		var gone struct{ ID string }
		if code := env.Do(t, "DELETE", base+"outlook", systemtest.StaffToken, nil, &gone); code != http.StatusOK || gone.ID != "outlook" {
			t.Fatalf("delete: %d %+v", code, gone)
		}
		env.Do(t, "GET", "/api/v1/staff/departments/email/replies", systemtest.StaffToken, nil, &list)
		if code := env.Do(t, "DELETE", base+"outlook", systemtest.StaffToken, nil, &bad); code != http.StatusNotFound || bad.Error.Code != "reply_not_found" || len(list.Replies) != 0 {
			t.Fatalf("a deleted reply: %d %+v, left %+v", code, bad, list)
		}
	})
}

// htmlEscape is how html/template writes text into an element.
func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

func TestANotesFilesAreServedToStaffOnly(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, number string) {
		log := []byte(strings.Repeat("2026-12-07 10:00:01 imap: login failed for a@example.pt\n", 50))
		code, up := upload(t, env.System, "/api/v1/staff/uploads", systemtest.StaffToken, "imap.log", log, false, asMember("rita")...)
		if code != http.StatusCreated {
			t.Fatalf("staff upload: %d", code)
		}
		var noted struct {
			Messages []struct {
				Internal    *bool `json:"internal"`
				Attachments []struct{ ID, Name string }
			} `json:"messages"`
		}
		if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/notes", systemtest.StaffToken,
			map[string]any{"message": "Registo do servidor IMAP em anexo.", "attachments": []string{up.ID}}, &noted, asMember("rita")...); code != http.StatusCreated {
			t.Fatalf("note with a file: %d", code)
		}
		last := noted.Messages[len(noted.Messages)-1]
		if last.Internal == nil || !*last.Internal || len(last.Attachments) != 1 || last.Attachments[0].ID != up.ID {
			t.Fatalf("the note lists %+v", last)
		}
		if code, _, got := download(t, env.System, "/api/v1/staff/tickets/"+number+"/attachments/"+up.ID, systemtest.StaffToken, asMember("pedro")...); code != http.StatusOK || string(got) != string(log) {
			t.Fatalf("a member of the department downloads the note's file: %d", code)
		}
		if code, _, _ := download(t, env.System, "/api/v1/customers/ana/tickets/"+number+"/attachments/"+up.ID, systemtest.APIToken); code != http.StatusNotFound {
			t.Fatalf("the customer downloads the note's file: %d, want 404", code)
		}
		_, view := systemtest.Request(systemtest.APIToken, "GET", env.HTTP.URL+"/api/v1/customers/ana/tickets/"+number, nil)
		_, export := systemtest.Request(systemtest.APIToken, "GET", env.HTTP.URL+"/api/v1/customers/ana/export", nil)
		if strings.Contains(string(view), up.ID) || strings.Contains(string(export), up.ID) || strings.Contains(string(export), "imap.log") {
			t.Fatal("the customer's view or export names the note's file")
		}
	})
}
