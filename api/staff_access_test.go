package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage/storagetest"
)

// twoDepartments has rita (an agent of email) and bruno (an agent of faturacao), each with a
// token, and one ticket with a password in each department.
type twoDepartments struct {
	rita, bruno           string // tokens
	emailTicket, billing  string // numbers
	emailDept, billingDep string
}

func withTwoDepartments(t *testing.T, s *systemtest.System) twoDepartments {
	t.Helper()
	s.PutCustomer(t, "ana", "pt-PT")
	s.PutMember(t, "rita", false, map[string]string{"email": "agent"})
	s.PutMember(t, "bruno", false, map[string]string{"faturacao": "agent"})
	return twoDepartments{
		rita: s.MemberToken(t, "rita"), bruno: s.MemberToken(t, "bruno"),
		emailTicket: createTicket(t, s, "ana", map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Outlook.", "password": "p4ss-email"}),
		billing:     createTicket(t, s, "ana", map[string]any{"subject_id": "billing-invoice", "domain": nil, "message": "Fatura.", "password": "p4ss-billing"}),
		emailDept:   "email", billingDep: "faturacao",
	}
}

func TestTwoMembersOfDifferentDepartmentsAreEachDeniedTheOthersTicketsQueuesRevealsAndCounts(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		d := withTwoDepartments(t, s)
		for _, c := range []struct {
			who, token, mine, theirs, myDept, theirDept string
		}{{"rita", d.rita, d.emailTicket, d.billing, d.emailDept, d.billingDep}, {"bruno", d.bruno, d.billing, d.emailTicket, d.billingDep, d.emailDept}} {
			t.Run(c.who, func(t *testing.T) {
				var e errorReply
				for _, denied := range []struct {
					method, path string
					body         any
					code         int
					errCode      string
				}{
					{"GET", "/api/v1/staff/tickets/" + c.theirs, nil, 404, "ticket_not_found"},
					{"POST", "/api/v1/staff/tickets/" + c.theirs + "/password/reveal", map[string]string{}, 404, "ticket_not_found"},
					{"POST", "/api/v1/staff/tickets/" + c.theirs + "/messages", map[string]string{"message": "Olá."}, 404, "ticket_not_found"},
					{"POST", "/api/v1/staff/tickets/" + c.theirs + "/status", map[string]string{"status": "on_hold"}, 404, "ticket_not_found"},
					{"GET", "/api/v1/departments/" + c.theirDept + "/queue", nil, 404, "department_not_found"},
					{"GET", "/api/v1/staff/reports/response-times?department=" + c.theirDept, nil, 404, "department_not_found"},
					{"GET", "/api/v1/staff/members", nil, 403, "forbidden"},
				} {
					e = errorReply{}
					if code := s.Do(t, denied.method, denied.path, c.token, denied.body, &e); code != denied.code || e.Error.Code != denied.errCode {
						t.Errorf("%s %s: %d %s, want %d %s", denied.method, denied.path, code, e.Error.Code, denied.code, denied.errCode)
					}
				}
				// The same, as exactly as a ticket that does not exist.
				var unknown errorReply
				s.Do(t, "GET", "/api/v1/staff/tickets/11111111", c.token, nil, &unknown)
				s.Do(t, "GET", "/api/v1/staff/tickets/"+c.theirs, c.token, nil, &e)
				if unknown.Error.Code != e.Error.Code || unknown.Error.Message != e.Error.Message {
					t.Errorf("out of reach %+v differs from unknown %+v", e, unknown)
				}
				var depts struct{ Departments []struct{ ID string } }
				if code := s.Do(t, "GET", "/api/v1/departments", c.token, nil, &depts); code != 200 || len(depts.Departments) != 1 || depts.Departments[0].ID != c.myDept {
					t.Errorf("departments: %d %+v, want only %s", code, depts, c.myDept)
				}
				var q struct {
					Tickets []struct{ Number string }
					Counts  []struct {
						Status string
						Count  int
					}
				}
				if code := s.Do(t, "GET", "/api/v1/departments/"+c.myDept+"/queue", c.token, nil, &q); code != 200 || len(q.Tickets) != 1 || q.Tickets[0].Number != c.mine {
					t.Errorf("own queue: %d %+v", code, q)
				}
				var rv struct{ Password string }
				if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+c.mine+"/password/reveal", c.token, map[string]string{"reason": "a pedido do cliente"}, &rv); code != 200 || !strings.HasPrefix(rv.Password, "p4ss-") {
					t.Errorf("own reveal: %d", code)
				}
				var report struct {
					Departments []struct{ Department struct{ ID string } }
				}
				if code := s.Do(t, "GET", "/api/v1/staff/reports/response-times", c.token, nil, &report); code != 200 || len(report.Departments) != 1 || report.Departments[0].Department.ID != c.myDept {
					t.Errorf("report: %d %+v, want only %s", code, report, c.myDept)
				}
				// A member's "staff" names themselves or nobody.
				if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+c.mine+"/status", c.token, map[string]string{"staff": "joao", "status": "in_progress"}, &e); code != 403 || e.Error.Code != "staff_member_unknown" {
					t.Errorf("a member naming another: %d %+v", code, e)
				}
				if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+c.mine+"/status", c.token, map[string]string{"staff": c.who, "status": "in_progress"}, nil); code != 200 {
					t.Errorf("a member naming themselves: %d", code)
				}
			})
		}
		// The admin sees all, through the service token naming them.
		var depts struct{ Departments []struct{ ID string } }
		if code := s.Do(t, "GET", "/api/v1/departments", systemtest.StaffToken, nil, &depts, systemtest.AsJoao...); code != 200 || len(depts.Departments) < 6 {
			t.Errorf("the admin's departments: %d %d", code, len(depts.Departments))
		}
		for _, n := range []string{d.emailTicket, d.billing} {
			if code := s.Do(t, "GET", "/api/v1/staff/tickets/"+n, systemtest.StaffToken, nil, nil, systemtest.AsJoao...); code != 200 {
				t.Errorf("the admin reads %s: %d", n, code)
			}
		}
		// The customer's view tells when the password was viewed, never by whom or why.
		var view struct {
			PasswordViews []time.Time `json:"password_views"`
		}
		code, body := systemtest.Request(systemtest.APIToken, "GET", s.HTTP.URL+"/api/v1/customers/ana/tickets/"+d.emailTicket, nil)
		if code != 200 || strings.Contains(string(body), "rita") || strings.Contains(string(body), "pedido do cliente") {
			t.Fatalf("the customer's view: %d %s", code, body)
		}
		s.Do(t, "GET", "/api/v1/customers/ana/tickets/"+d.emailTicket, systemtest.APIToken, nil, &view)
		if len(view.PasswordViews) != 1 || time.Since(view.PasswordViews[0]) > time.Minute {
			t.Fatalf("password_views %v, want the one reveal's time", view.PasswordViews)
		}
	})
}

func TestTheServiceTokenActsOnlyAsANamedActiveMember(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		d := withTwoDepartments(t, s)
		st := systemtest.StaffToken
		for _, c := range []struct {
			name, method, path string
			body               any
			headers            []string
		}{
			{"a read naming nobody", "GET", "/api/v1/staff/tickets/" + d.emailTicket, nil, nil},
			{"a queue naming nobody", "GET", "/api/v1/departments/email/queue", nil, nil},
			{"a made-up name in the header", "GET", "/api/v1/staff/tickets/" + d.emailTicket, nil, []string{api.StaffMemberHeader, "ghost"}},
			{"a made-up name in the body", "POST", "/api/v1/staff/tickets/" + d.emailTicket + "/password/reveal", map[string]string{"staff": "ghost"}, nil},
			{"an answer naming nobody", "POST", "/api/v1/staff/tickets/" + d.emailTicket + "/messages", map[string]string{"message": "Olá."}, nil},
		} {
			var e errorReply
			if code := s.Do(t, c.method, c.path, st, c.body, &e, c.headers...); code != 403 || e.Error.Code != "staff_member_unknown" {
				t.Errorf("%s: %d %+v, want 403 staff_member_unknown", c.name, code, e)
			}
		}
		if rv, _ := s.Store.Reveals(t.Context(), mustTicket(t, s, d.emailTicket).ID); len(rv) != 0 {
			t.Fatalf("a refused reveal was recorded: %+v", rv)
		}
		// Naming rita, it acts as rita: her reach, her name in the audit.
		if code := s.Do(t, "GET", "/api/v1/staff/tickets/"+d.billing, st, nil, nil, api.StaffMemberHeader, "rita"); code != 404 {
			t.Errorf("as rita, a billing ticket: %d, want 404", code)
		}
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+d.emailTicket+"/password/reveal", st, map[string]string{"staff": "rita"}, nil); code != 200 {
			t.Errorf("as rita by the body, her ticket: %d", code)
		}
		// Alone it manages members, tokens and service levels.
		if code := s.Do(t, "GET", "/api/v1/staff/members", st, nil, nil); code != 200 {
			t.Errorf("members with the service token alone: %d", code)
		}
		var e errorReply
		for _, bad := range []map[string]any{
			{"name": "X", "email": "not an address"},
			{"name": "X", "email": "x@example.pt", "departments": map[string]string{"nowhere": "agent"}},
			{"name": "X", "email": "x@example.pt", "departments": map[string]string{"email": "boss"}},
			{"name": "X", "email": "rita@suporte.example.pt"},
		} {
			if code := s.Do(t, "PUT", "/api/v1/staff/members/x", st, bad, &e); code != 400 || e.Error.Code != "validation_failed" {
				t.Errorf("member %v: %d %+v", bad, code, e)
			}
		}
		// A revoked token is refused from then on.
		var tok struct{ ID, Token string }
		if code := s.Do(t, "POST", "/api/v1/staff/members/rita/tokens", st, map[string]string{"label": "cli"}, &tok); code != 201 || !strings.HasPrefix(tok.Token, api.MemberTokenPrefix) {
			t.Fatalf("token: %d %+v", code, tok)
		}
		if code := s.Do(t, "DELETE", "/api/v1/staff/members/rita/tokens/"+tok.ID, st, nil, nil); code != 204 {
			t.Fatalf("revoke: %d", code)
		}
		if code := s.Do(t, "GET", "/api/v1/departments", tok.Token, nil, nil); code != 401 {
			t.Fatalf("a revoked token: %d, want 401", code)
		}
		if strings.Contains(s.Log.String(), tok.Token) || strings.Contains(s.Log.String(), d.rita) {
			t.Fatal("a token is in the logs")
		}
	})
}

func TestADisabledMembersTokenLinkAndSessionAllStopAtOnce(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			env := startWebOn(t, b, true, nil)
			env.PutMember(t, "rita", false, map[string]string{"email": "agent"})
			token := env.MemberToken(t, "rita")
			console := env.staff(t, "rita")
			link := strings.TrimPrefix(api.StaffLoginURL(env.Config.PublicURL, systemtest.StaffLinkSecret, "rita", 5*time.Minute), env.Config.PublicURL)
			if r := console.get("/staff"); r.code != 200 {
				t.Fatalf("the console before: %d", r.code)
			}
			if code := env.Do(t, "GET", "/api/v1/departments", token, nil, nil); code != 200 {
				t.Fatalf("the token before: %d", code)
			}
			if code := env.Do(t, "PUT", "/api/v1/staff/members/rita", systemtest.StaffToken, map[string]any{"name": "Rita", "email": "rita@suporte.example.pt",
				"departments": map[string]string{"email": "agent"}, "active": false}, nil); code != 200 {
				t.Fatalf("disable: %d", code)
			}
			if code := env.Do(t, "GET", "/api/v1/departments", token, nil, nil); code != 401 {
				t.Errorf("the token after: %d, want 401", code)
			}
			// The console of another instance (the pages' server) refuses her session too.
			if r := console.get("/staff"); r.code != http.StatusSeeOther && r.code != http.StatusUnauthorized {
				t.Errorf("the console after: %d", r.code)
			}
			if r := env.visitor(t).get(link); r.code != http.StatusUnauthorized {
				t.Errorf("her link after: %d, want 401", r.code)
			}
			if code := env.Do(t, "GET", "/api/v1/departments", systemtest.StaffToken, nil, nil, api.StaffMemberHeader, "rita"); code != 403 {
				t.Errorf("the service token naming her after: %d, want 403", code)
			}
		})
	}
}

func TestAStaffLinkSignedWithThePortalSecretIsRefused(t *testing.T) {
	env := startWeb(t, true, nil)
	portalSigned := "/staff/login?token=" + url.QueryEscape(api.LoginToken(pagesPortalSecret, "staff", "joao", time.Now().Add(time.Minute)))
	if r := env.visitor(t).get(portalSigned); r.code != http.StatusUnauthorized || strings.Contains(r.header.Get("Set-Cookie"), "assistd_staff=") {
		t.Fatalf("a portal-signed staff link: %d", r.code)
	}
	unknown := "/staff/login?token=" + url.QueryEscape(api.LoginToken(systemtest.StaffLinkSecret, "staff", "ghost", time.Now().Add(time.Minute)))
	if r := env.visitor(t).get(unknown); r.code != http.StatusUnauthorized {
		t.Fatalf("a link naming nobody: %d", r.code)
	}
	// Unset, staff links are off.
	off := startWeb(t, true, func(c *api.Config) { c.StaffLinkSecret = "" })
	link := "/staff/login?token=" + url.QueryEscape(api.LoginToken("", "staff", "joao", time.Now().Add(time.Minute)))
	if r := off.visitor(t).get(link); r.code != http.StatusUnauthorized {
		t.Fatalf("a link with staff links off: %d", r.code)
	}
}

func TestTheConsoleShowsEachMemberOnlyTheirDepartments(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			env := startWebOn(t, b, true, nil)
			d := withTwoDepartments(t, env.System)
			for _, c := range []struct{ who, mine, theirs, myDept, theirDept, myName, theirName string }{
				{"rita", d.emailTicket, d.billing, "email", "faturacao", "Email", "Faturação"},
				{"bruno", d.billing, d.emailTicket, "faturacao", "email", "Faturação", "Email"},
			} {
				v := env.staff(t, c.who)
				index := v.get("/staff")
				if index.code != 200 || !strings.Contains(index.body, `href="/staff/departments/`+c.myDept+`"`) || strings.Contains(index.body, `href="/staff/departments/`+c.theirDept+`"`) {
					t.Errorf("%s: the index shows other departments, or not theirs", c.who)
				}
				for _, path := range []string{"/staff/tickets/" + c.theirs, "/staff/departments/" + c.theirDept, "/staff/tickets?number=" + c.theirs} {
					if r := v.get(path); r.code != http.StatusNotFound {
						t.Errorf("%s: %s: %d, want 404", c.who, path, r.code)
					}
				}
				if r := v.post("/staff/tickets/"+c.theirs+"/password/reveal", url.Values{"csrf": {v.csrf("/staff")}}); r.code != http.StatusNotFound || strings.Contains(r.body, "p4ss") {
					t.Errorf("%s: another department's reveal: %d", c.who, r.code)
				}
				if r := v.get("/staff/tickets/" + c.mine); r.code != 200 {
					t.Errorf("%s: own ticket: %d", c.who, r.code)
				}
			}
			if rv, _ := env.Store.Reveals(t.Context(), mustTicket(t, env.System, d.emailTicket).ID); len(rv) != 0 {
				t.Fatalf("a refused reveal was recorded: %+v", rv)
			}
		})
	}
}
