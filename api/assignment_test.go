package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage"
)

func TestMembersTakeAssignAndFilterQueuesByAssigneeWithinTheirDepartments(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, number string) {
		env.PutMember(t, "ines", false, map[string]string{"email": "agent"})
		path := "/api/v1/staff/tickets/" + number + "/assignee"
		assign := func(as string, member any) (int, staffViewAssigned, errorReply) {
			var ok staffViewAssigned
			var bad errorReply
			code, raw := systemtest.Request(systemtest.StaffToken, "POST", env.HTTP.URL+path, map[string]any{"member": member}, asMember(as)...)
			decodeInto(t, raw, &ok, &bad)
			return code, ok, bad
		}
		steps := []struct {
			name     string
			as       string
			member   any
			code     int
			assignee string
		}{
			{"an agent assigns another", "pedro", "ines", http.StatusBadRequest, ""},
			{"an agent takes it", "pedro", "pedro", http.StatusOK, "pedro"},
			{"another agent releases it", "ines", nil, http.StatusBadRequest, "pedro"},
			{"a member of another department takes it", "sofia", "sofia", http.StatusNotFound, "pedro"},
			{"the lead assigns someone of another department", "rita", "sofia", http.StatusBadRequest, "pedro"},
			{"the lead assigns an agent", "rita", "ines", http.StatusOK, "ines"},
		}
		for _, s := range steps {
			code, ok, bad := assign(s.as, s.member)
			if code != s.code {
				t.Fatalf("%s: %d %+v", s.name, code, bad)
			}
			if code == http.StatusBadRequest && bad.Error.Fields["member"] == "" {
				t.Fatalf("%s: refused without naming the member field: %+v", s.name, bad)
			}
			if code == http.StatusOK && (ok.Assignee == nil || *ok.Assignee != s.assignee) {
				t.Fatalf("%s: assignee %v", s.name, ok.Assignee)
			}
			if tk, _ := env.Store.TicketByNumber(context.Background(), storage.ReachAll(), number); s.assignee != "" && (tk.AssigneeID == nil || *tk.AssigneeID != s.assignee) {
				t.Fatalf("%s: stored assignee %v", s.name, tk.AssigneeID)
			}
		}
		if code, raw := systemtest.Request(systemtest.StaffToken, "POST", env.HTTP.URL+path, map[string]any{}, asMember("rita")...); code != http.StatusBadRequest {
			t.Fatalf("no member field: %d %s", code, raw)
		}
		// Queues by assignee.
		for _, c := range []struct {
			as, filter string
			want       int
		}{{"ines", "me", 1}, {"pedro", "me", 0}, {"rita", "none", 0}, {"rita", "ines", 1}, {"rita", "pedro", 0}} {
			var q struct {
				Tickets []struct{ Number, Assignee string } `json:"tickets"`
			}
			env.Do(t, "GET", "/api/v1/departments/email/queue?assignee="+c.filter, systemtest.StaffToken, nil, &q, asMember(c.as)...)
			if len(q.Tickets) != c.want || (c.want == 1 && q.Tickets[0].Assignee != "ines") {
				t.Fatalf("%s's queue ?assignee=%s: %+v", c.as, c.filter, q.Tickets)
			}
		}
		// A customer's addition goes to the assignee, not the department.
		before := env.Sink.Total()
		if code := env.Do(t, "POST", "/api/v1/customers/ana/tickets/"+number+"/messages", systemtest.APIToken, map[string]string{"message": "Continua sem funcionar."}, nil); code != http.StatusCreated {
			t.Fatalf("customer reply: %d", code)
		}
		waitMail(t, env.System, "ines@suporte.example.pt", "#"+number, "Continua sem funcionar.", 15*time.Second)
		for _, m := range env.Sink.Mails()[before:] {
			if m.To[0] == "email@suporte.example.pt" {
				t.Fatal("the department was told of the addition though the ticket has an assignee")
			}
		}
		// The console: "Os meus pedidos", and the lead's form releases it; pedro takes it.
		ines := env.staff(t, "ines")
		mine := ines.get("/staff/mine").body
		checkPage(t, "my requests", mine)
		if !strings.Contains(mine, "#"+number) {
			t.Fatal("Os meus pedidos does not list the assigned ticket")
		}
		rita := env.staff(t, "rita")
		page := "/staff/tickets/" + number
		shown := rita.get(page).body
		checkPage(t, "staff ticket with assignment", shown)
		if !strings.Contains(shown, `data-testid="assignee">ines`) || !strings.Contains(shown, `name="member"`) {
			t.Fatal("the ticket page does not show the assignee and the lead's form")
		}
		if r := rita.post(page+"/assignee", url.Values{"csrf": {rita.csrf(page)}, "member": {""}}); r.code != http.StatusSeeOther {
			t.Fatalf("release by the lead: %d", r.code)
		}
		pedro := env.staff(t, "pedro")
		if shown := pedro.get(page).body; !strings.Contains(shown, `data-testid="take"`) || strings.Contains(shown, `id="assign-to"`) {
			t.Fatal("an agent is not offered to take an unassigned ticket, or is offered to assign it")
		}
		if r := pedro.post(page+"/assignee", url.Values{"csrf": {pedro.csrf(page)}, "member": {"ines"}}); r.code != http.StatusUnprocessableEntity {
			t.Fatalf("an agent's form assigning another: %d", r.code)
		}
		if r := pedro.post(page+"/assignee", url.Values{"csrf": {pedro.csrf(page)}, "member": {"pedro"}}); r.code != http.StatusSeeOther {
			t.Fatalf("take: %d", r.code)
		}
		if shown := pedro.get(page).body; !strings.Contains(shown, `data-testid="release"`) {
			t.Fatal("the agent's own ticket offers no release")
		}
		// A transfer to a department pedro is not a member of drops him, and tells the department.
		if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/department", systemtest.StaffToken, map[string]string{"department": "faturacao"}, nil, asMember("rita")...); code != http.StatusOK {
			t.Fatalf("transfer: %d", code)
		}
		if tk, _ := env.Store.TicketByNumber(context.Background(), storage.ReachAll(), number); tk.AssigneeID != nil {
			t.Fatalf("the assignee stayed after a transfer out of their department: %v", *tk.AssigneeID)
		}
		waitMail(t, env.System, "faturacao@suporte.example.pt", "#"+number, "transferido", 15*time.Second)
	})
}

type staffViewAssigned struct {
	Assignee *string `json:"assignee"`
}

func decodeInto(t *testing.T, raw []byte, ok *staffViewAssigned, bad *errorReply) {
	t.Helper()
	_ = json.Unmarshal(raw, ok)
	_ = json.Unmarshal(raw, bad)
}

func TestADepartmentAssignsNewTicketsAutomaticallySkippingMembersAway(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, first string) {
		if tk, _ := env.Store.TicketByNumber(context.Background(), storage.ReachAll(), first); tk.AssigneeID != nil {
			t.Fatalf("assigned with automatic assignment off: %v", *tk.AssigneeID)
		}
		var bad errorReply
		if code := env.Do(t, "PUT", "/api/v1/staff/departments/email/settings", systemtest.StaffToken, map[string]string{"auto_assign": "least_open"}, &bad, asMember("rita")...); code != http.StatusForbidden {
			t.Fatalf("a lead sets the department's settings: %d", code)
		}
		var set struct{ Department, AutoAssign string }
		if code := env.Do(t, "PUT", "/api/v1/staff/departments/email/settings", systemtest.StaffToken, map[string]string{"auto_assign": "round_robin"}, &set); code != http.StatusOK {
			t.Fatalf("settings: %d", code)
		}
		// rita is away: pedro, then the next in turn.
		code := env.Do(t, "PUT", "/api/v1/staff/members/rita", systemtest.StaffToken, map[string]any{"name": "Rita", "email": "rita@suporte.example.pt",
			"language": "pt-PT", "departments": map[string]string{"email": "lead"}, "away": true}, nil)
		if code != http.StatusOK {
			t.Fatalf("rita away: %d", code)
		}
		var got []string
		for range 2 {
			n := createTicket(t, env.System, "ana", map[string]any{"subject_id": "email-delivery", "domain": nil, "message": "Não recebo email."})
			systemtest.Eventually(t, 15*time.Second, "ticket "+n+" assigned", func() bool {
				tk, err := env.Store.TicketByNumber(context.Background(), storage.ReachAll(), n)
				if err == nil && tk.AssigneeID != nil {
					got = append(got, *tk.AssigneeID)
					return true
				}
				return false
			})
		}
		if strings.Join(got, " ") != "pedro pedro" {
			// pedro is the only member of Email not away (joao and maria are admins of no department).
			t.Fatalf("round robin assigned %v", got)
		}
	})
}

func TestAServiceLevelBreachGoesToTheAssignee(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, _ string) {
		policy := map[string]any{"first_response": "2s"}
		if code := env.Do(t, "PUT", "/api/v1/staff/departments/email/sla", systemtest.StaffToken, policy, nil); code != http.StatusOK {
			t.Fatalf("policy: %d", code)
		}
		number := createTicket(t, env.System, "ana", map[string]any{"subject_id": "email-delivery", "domain": nil, "message": "Sem email."})
		waitRouted(t, env.System, number)
		if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/assignee", systemtest.StaffToken, map[string]any{"member": "pedro"}, nil, asMember("pedro")...); code != http.StatusOK {
			t.Fatalf("take: %d", code)
		}
		waitMail(t, env.System, "pedro@suporte.example.pt", "[Pedido #"+number+"]", "", 20*time.Second)
		for _, m := range env.Sink.Mails() {
			if sub, _ := readMail(t, m); m.To[0] == "email@suporte.example.pt" && strings.Contains(sub, "#"+number) && strings.Contains(sub, "Prazo") {
				t.Fatalf("the department got the breach of an assigned ticket: %s", sub)
			}
		}
	})
}
