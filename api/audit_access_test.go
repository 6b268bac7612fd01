package api_test

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
)

type declaredRoute struct{ method, path, guard string }

var routeLine = regexp.MustCompile(`m\.Handle(?:Func)?\("(GET|POST|PUT|DELETE) (/[^"]*)", (\w+)`)

// staffRoutes reads routes.go for every staff route, API and console, with its guard.
func staffRoutes(t *testing.T, number, aid string) []declaredRoute {
	t.Helper()
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{number}", number, "{aid}", aid, "{dept}", "email", "{sid}", "pedro", "{id}", "x", "{form...}", "x", "{$}", "")
	var out []declaredRoute
	for _, m := range routeLine.FindAllStringSubmatch(string(src), -1) {
		path := m[2]
		if !strings.HasPrefix(path, "/api/v1/staff") && !strings.HasPrefix(path, "/api/v1/departments") && !strings.HasPrefix(path, "/staff") {
			continue
		}
		if strings.HasPrefix(path, "/staff/login") {
			continue
		}
		out = append(out, declaredRoute{m[1], fill.Replace(path), m[3]})
	}
	if len(out) < 40 {
		t.Fatalf("only %d staff routes read from routes.go", len(out))
	}
	return out
}

// TestADisabledMemberARevokedTokenAndTheBareServiceTokenReachNoTicketOnAnyRoute takes every staff
// route of routes.go: a disabled member's token, console session and staff link, a revoked
// token, and the service token naming a disabled member are refused everywhere; the service
// token naming nobody is refused every ticket and queue route; the ticket is left untouched.
func TestADisabledMemberARevokedTokenAndTheBareServiceTokenReachNoTicketOnAnyRoute(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, number string) {
		st := systemtest.StaffToken
		_, f := upload(t, env.System, "/api/v1/staff/uploads", st, "a.png", pngFile(64), false, asMember("rita")...)
		env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/messages", st, map[string]any{"message": "Resposta.", "attachments": []string{f.ID}}, nil, asMember("rita")...)
		routes := staffRoutes(t, number, f.ID)

		pedro, revoked := env.MemberToken(t, "pedro"), env.MemberToken(t, "rita")
		var tokens struct {
			Tokens []struct{ ID string } `json:"tokens"`
		}
		env.Do(t, "GET", "/api/v1/staff/members/rita/tokens", st, nil, &tokens)
		for _, tk := range tokens.Tokens {
			if code := env.Do(t, "DELETE", "/api/v1/staff/members/rita/tokens/"+tk.ID, st, nil, nil); code != 204 {
				t.Fatalf("revoke: %d", code)
			}
		}
		console := env.staff(t, "pedro")
		csrf := console.csrf("/staff")
		link := strings.TrimPrefix(api.StaffLoginURL(env.Config.PublicURL, systemtest.StaffLinkSecret, "pedro", 5*time.Minute), env.Config.PublicURL)
		if code := env.Do(t, "PUT", "/api/v1/staff/members/pedro", st, map[string]any{"name": "Pedro", "email": "pedro@example.pt", "language": "pt-PT",
			"departments": map[string]string{"email": "agent"}, "admin": false, "active": false}, nil); code != 200 {
			t.Fatalf("disable: %d", code)
		}
		before := mustTicket(t, env.System, number)
		body := map[string]any{"message": "x", "status": "on_hold", "priority": "urgent", "department": "faturacao", "reason": "x", "title": "X", "body": "Y"}
		for _, r := range routes {
			if !strings.HasPrefix(r.path, "/api/") {
				continue
			}
			var b any
			if r.method != "GET" && r.method != "DELETE" {
				b = body
			}
			for _, who := range []struct {
				name, token string
				headers     []string
			}{{"disabled member's token", pedro, nil}, {"revoked token", revoked, nil}} {
				var e errorReply
				// 401, or 429 once this address has failed too often: never through.
				if code := env.Do(t, r.method, r.path, who.token, b, &e, who.headers...); code != 401 && code != 429 {
					t.Errorf("%s %s with a %s: %d %+v", r.method, r.path, who.name, code, e)
				}
			}
			var e errorReply
			if code := env.Do(t, r.method, r.path, st, b, &e, asMember("pedro")...); code != 403 || e.Error.Code != "staff_member_unknown" {
				t.Errorf("%s %s as the disabled member: %d %+v", r.method, r.path, code, e)
			}
			bodyNaming := map[string]any{"staff": "pedro"}
			if r.guard == "staff" && r.method == "POST" {
				if code := env.Do(t, r.method, r.path, st, bodyNaming, &e); code != 403 || e.Error.Code != "staff_member_unknown" {
					t.Errorf("%s %s naming the disabled member in the body: %d %+v", r.method, r.path, code, e)
				}
			}
			if r.guard == "staff" {
				var nobody any
				if b != nil {
					nobody = map[string]any{}
				}
				if code := env.Do(t, r.method, r.path, st, nobody, &e); code != 403 || e.Error.Code != "staff_member_unknown" {
					t.Errorf("%s %s by the service token naming nobody: %d %+v", r.method, r.path, code, e)
				}
			}
		}
		for _, r := range routes {
			if strings.HasPrefix(r.path, "/api/") || r.guard == "toTicketPage" {
				continue
			}
			var resp response
			if r.method == "GET" {
				resp = console.get(r.path)
			} else {
				resp = console.post(r.path, map[string][]string{"csrf": {csrf}, "message": {"x"}, "status": {"on_hold"}, "priority": {"urgent"}, "department": {"faturacao"}})
			}
			if resp.code == 200 || resp.code/100 == 5 || strings.Contains(resp.body, "Resposta.") || (resp.code == http.StatusSeeOther && !strings.HasPrefix(resp.header.Get("Location"), "/staff/login")) {
				t.Errorf("console %s %s for a disabled member: %d %s", r.method, r.path, resp.code, resp.header.Get("Location"))
			}
		}
		v := env.visitor(t)
		if r := v.staffLink(link); r.code == http.StatusSeeOther || v.get("/staff").code == 200 {
			t.Errorf("a disabled member's staff link signed in: %d", r.code)
		}
		after := mustTicket(t, env.System, number)
		if after.Status != before.Status || after.DepartmentID != before.DepartmentID || after.Priority() != before.Priority() {
			t.Errorf("the ticket changed: %+v", after)
		}
	})
}
