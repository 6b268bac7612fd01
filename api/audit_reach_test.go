package api_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/assistd/assistd/internal/systemtest"
)

// TestAnotherDepartmentsMemberFindsNothingOfTheTicketOnAnyRoute probes every staff route and
// console page as sofia (an agent of Faturação) against a ticket of Email with a note, an
// answer's file, a note's file and a saved reply: each answers exactly as something unknown.
func TestAnotherDepartmentsMemberFindsNothingOfTheTicketOnAnyRoute(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, number string) {
		st := systemtest.StaffToken
		_, ansFile := upload(t, env.System, "/api/v1/staff/uploads", st, "resposta.png", pngFile(64), false, asMember("rita")...)
		_, noteFile := upload(t, env.System, "/api/v1/staff/uploads", st, "nota.png", pngFile(64), false, asMember("rita")...)
		if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/messages", st, map[string]any{"message": "Resposta.", "attachments": []string{ansFile.ID}}, nil, asMember("rita")...); code != 201 && code != 200 {
			t.Fatalf("answer: %d", code)
		}
		if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/notes", st, map[string]any{"message": "Nota confidencial zebra.", "attachments": []string{noteFile.ID}}, nil, asMember("rita")...); code != 201 {
			t.Fatalf("note: %d", code)
		}
		if code := env.Do(t, "PUT", "/api/v1/staff/departments/email/replies/outlook", st, map[string]string{"title": "Outlook", "body": "Olá {customer_name}"}, nil); code != 200 {
			t.Fatalf("reply: %d", code)
		}
		// sofia's own upload, and rita's upload not yet used.
		_, sofiaFile := upload(t, env.System, "/api/v1/staff/uploads", st, "s.png", pngFile(64), false, asMember("sofia")...)
		_, ritaSpare := upload(t, env.System, "/api/v1/staff/uploads", st, "r.png", pngFile(64), false, asMember("rita")...)
		_ = sofiaFile

		sofia := asMember("sofia")
		unknownTicket := "99999999"
		for _, c := range []struct {
			method, path string
			body         any
			code         int
			errCode      string
		}{
			{"GET", "/api/v1/staff/tickets/%s", nil, 404, "ticket_not_found"},
			{"POST", "/api/v1/staff/tickets/%s/notes", map[string]any{"message": "x"}, 404, "ticket_not_found"},
			{"POST", "/api/v1/staff/tickets/%s/priority", map[string]any{"priority": "high"}, 404, "ticket_not_found"},
			{"POST", "/api/v1/staff/tickets/%s/department", map[string]any{"department": "faturacao"}, 404, "ticket_not_found"},
			{"POST", "/api/v1/staff/tickets/%s/assignee", map[string]any{"member": "sofia"}, 404, "ticket_not_found"},
			{"POST", "/api/v1/staff/tickets/%s/assignee", map[string]any{"member": nil}, 404, "ticket_not_found"},
			{"POST", "/api/v1/staff/tickets/%s/status", map[string]any{"status": "on_hold"}, 404, "ticket_not_found"},
			{"POST", "/api/v1/staff/tickets/%s/messages", map[string]any{"message": "x"}, 404, "ticket_not_found"},
			{"POST", "/api/v1/staff/tickets/%s/password/reveal", map[string]any{}, 404, "ticket_not_found"},
			{"GET", "/api/v1/staff/tickets/%s/replies", nil, 404, "ticket_not_found"},
			{"GET", "/api/v1/staff/tickets/%s/attachments/" + ansFile.ID, nil, 404, "attachment_not_found"},
			{"GET", "/api/v1/staff/tickets/%s/attachments/" + noteFile.ID, nil, 404, "attachment_not_found"},
			{"GET", "/api/v1/staff/tickets/%s/attachments/" + ansFile.ID + "?preview=1", nil, 404, "attachment_not_found"},
		} {
			for _, n := range []string{number, unknownTicket} {
				path := strings.Replace(c.path, "%s", n, 1)
				var e errorReply
				if code := env.Do(t, c.method, path, st, c.body, &e, sofia...); code != c.code || e.Error.Code != c.errCode {
					t.Errorf("%s %s: %d %q, want %d %s", c.method, path, code, e.Error.Code, c.code, c.errCode)
				}
			}
		}
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/v1/departments/%s/queue", nil},
			{"GET", "/api/v1/staff/departments/%s/replies", nil},
			{"PUT", "/api/v1/staff/departments/%s/replies/outlook", map[string]string{"title": "X", "body": "Y"}},
			{"DELETE", "/api/v1/staff/departments/%s/replies/outlook", nil},
			{"GET", "/api/v1/staff/reports/response-times?department=%s", nil},
		} {
			var want errorReply
			wantCode := env.Do(t, c.method, strings.Replace(c.path, "%s", "nao-existe", 1), st, c.body, &want, sofia...)
			var e errorReply
			path := strings.Replace(c.path, "%s", "email", 1)
			if code := env.Do(t, c.method, path, st, c.body, &e, sofia...); code != wantCode || e.Error.Code != want.Error.Code || code/100 == 2 || code == 500 {
				t.Errorf("%s %s: %d %q, an unknown department answers %d %q", c.method, path, code, e.Error.Code, wantCode, want.Error.Code)
			}
		}
		// Search finds nothing of Email, by a word of the note, the message or the number.
		for _, q := range []string{"zebra", "Outlook", number} {
			var res struct {
				Results []struct{ Number string } `json:"results"`
			}
			if code := env.Do(t, "GET", "/api/v1/staff/search?q="+url.QueryEscape(q), st, nil, &res, sofia...); code != 200 || len(res.Results) != 0 {
				t.Errorf("search %q: %d %+v", q, code, res)
			}
		}
		// rita's upload in sofia's answer or note on her own ticket: refused, as another's upload.
		own := createTicket(t, env.System, "ana", map[string]any{"subject_id": "billing-invoice", "domain": nil, "message": "Fatura."})
		waitRouted(t, env.System, own)
		for _, path := range []string{"/messages", "/notes"} {
			var e errorReply
			if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+own+path, st, map[string]any{"message": "x", "attachments": []string{ritaSpare.ID}}, &e, sofia...); code != 400 || e.Error.Code != "validation_failed" {
				t.Errorf("rita's upload in sofia's %s: %d %+v", path, code, e)
			}
			if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+own+path, st, map[string]any{"message": "x", "attachments": []string{ansFile.ID}}, &e, sofia...); code != 400 || e.Error.Code != "validation_failed" {
				t.Errorf("a used file of Email in sofia's %s: %d %+v", path, code, e)
			}
		}
		// The report of every department she may see: her own only.
		var report struct {
			Departments []struct{ Department struct{ ID string } } `json:"departments"`
		}
		env.Do(t, "GET", "/api/v1/staff/reports/response-times", st, nil, &report, sofia...)
		for _, d := range report.Departments {
			if d.Department.ID != "faturacao" {
				t.Errorf("report shows %s", d.Department.ID)
			}
		}

		// The console.
		v := env.staff(t, "sofia")
		for _, p := range []string{"/staff/tickets/%s", "/staff/tickets/%s/attachments/" + ansFile.ID, "/staff/tickets/%s/attachments/" + noteFile.ID,
			"/staff/tickets/%s/attachments/" + ansFile.ID + "?preview=1", "/staff/tickets?number=%s"} {
			mine, unknown := v.get(strings.Replace(p, "%s", number, 1)), v.get(strings.Replace(p, "%s", unknownTicket, 1))
			if mine.code != 404 || unknown.code != 404 {
				t.Errorf("console %s: %d (unknown %d)", p, mine.code, unknown.code)
			}
		}
		for _, p := range []string{"/staff/departments/%s", "/staff/departments/%s/replies", "/staff/departments/%s/sla"} {
			mine, unknown := v.get(strings.Replace(p, "%s", "email", 1)), v.get(strings.Replace(p, "%s", "nao-existe", 1))
			if mine.code != 404 || unknown.code != 404 {
				t.Errorf("console %s: %d (unknown %d)", p, mine.code, unknown.code)
			}
		}
		csrf := v.csrf("/staff")
		for _, p := range []struct {
			path string
			form url.Values
		}{
			{"/staff/tickets/%s/notes", url.Values{"message": {"x"}}},
			{"/staff/tickets/%s/priority", url.Values{"priority": {"high"}}},
			{"/staff/tickets/%s/department", url.Values{"department": {"faturacao"}}},
			{"/staff/tickets/%s/assignee", url.Values{"member": {"sofia"}}},
			{"/staff/tickets/%s/answer", url.Values{"message": {"x"}, "status": {"answered"}}},
			{"/staff/tickets/%s/status", url.Values{"status": {"on_hold"}}},
			{"/staff/tickets/%s/password/reveal", url.Values{"reason": {"x"}}},
		} {
			for _, n := range []string{number, unknownTicket} {
				p.form.Set("csrf", csrf)
				if r := v.post(strings.Replace(p.path, "%s", n, 1), p.form); r.code != 404 {
					t.Errorf("console POST %s on %s: %d", p.path, n, r.code)
				}
			}
		}
		for _, p := range []struct {
			path string
			form url.Values
		}{
			{"/staff/departments/%s/replies", url.Values{"id": {"x"}, "title": {"X"}, "body": {"Y"}}},
			{"/staff/departments/%s/replies/outlook/delete", url.Values{}},
			{"/staff/departments/%s/sla", url.Values{"first_response": {"1h"}}},
		} {
			for _, d := range []string{"email", "nao-existe"} {
				p.form.Set("csrf", csrf)
				if r := v.post(strings.Replace(p.path, "%s", d, 1), p.form); r.code != 404 {
					t.Errorf("console POST %s on %s: %d", p.path, d, r.code)
				}
			}
		}
		for _, p := range []string{"/staff/search?q=zebra", "/staff/search?q=Outlook", "/staff/search?q=" + number, "/staff/reports", "/staff",
			"/staff/search?q=zebra&department=email", "/staff/reports?department=email"} {
			r := v.get(p)
			if r.code == 500 || strings.Contains(r.body, "zebra") && !strings.Contains(p, "zebra") || strings.Contains(r.body, "/staff/tickets/"+number) || strings.Contains(r.body, ">Email<") {
				t.Errorf("console %s: %d shows Email's ticket\n%s", p, r.code, r.body)
			}
		}
		// A lead of Email assigns no one outside it, nor a disabled member; her "mine" lists nothing
		// of Email.
		env.PutMember(t, "ze", false, map[string]string{"email": "agent"})
		if code := env.Do(t, "PUT", "/api/v1/staff/members/ze", st, map[string]any{"name": "Zé", "email": "ze@example.pt", "language": "pt-PT",
			"departments": map[string]string{"email": "agent"}, "active": false}, nil); code != 200 {
			t.Fatalf("disable ze: %d", code)
		}
		for _, who := range []string{"sofia", "ze", "ninguem"} {
			var e errorReply
			if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/assignee", st, map[string]any{"member": who}, &e, asMember("rita")...); code != 400 || e.Error.Fields["member"] == "" {
				t.Errorf("rita assigns %s: %d %+v", who, code, e)
			}
		}
		if r := v.get("/staff/mine"); r.code != 200 || strings.Contains(r.body, "/staff/tickets/"+number) {
			t.Errorf("sofia's own tickets: %d", r.code)
		}
		// Nothing was changed by her.
		tk := mustTicket(t, env.System, number)
		if tk.DepartmentID != "email" || string(tk.Priority()) != "normal" || tk.AssigneeID != nil {
			t.Errorf("the ticket changed: %+v", tk)
		}
		var list struct {
			Replies []struct{ ID string } `json:"replies"`
		}
		env.Do(t, "GET", "/api/v1/staff/departments/email/replies", st, nil, &list)
		if len(list.Replies) != 1 {
			t.Errorf("Email's replies: %+v", list)
		}
	})
}
