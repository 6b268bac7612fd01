package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
)

// contract validates real exchanges with a running server against the OpenAPI document.
type contract struct {
	t      *testing.T
	s      *systemtest.System
	router routers.Router
	seen   map[string]bool // "METHOD path-template code"
	// member, when set, is the member the service token acts as (Assistd-Staff-Member).
	member string
}

func newContract(t *testing.T, s *systemtest.System) *contract {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: s.HTTP.URL}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &contract{t: t, s: s, router: router, seen: map[string]bool{}}
}

// do sends a request, checks request and response against the document, and decodes the answer.
func (c *contract) do(method, path, token string, body any, out any) int {
	c.t.Helper()
	var payload []byte
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case rawBody:
		payload, contentType = b.data, b.contentType
	default:
		payload, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, c.s.HTTP.URL+path, bytes.NewReader(payload))
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if c.member != "" && token == systemtest.StaffToken {
		req.Header.Set(api.StaffMemberHeader, c.member)
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Fatalf("%s %s is not in openapi.yaml: %v", method, path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(data)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	})
	if err != nil {
		c.t.Errorf("%s %s answered %d, which the document does not allow: %v\n%s", method, path, resp.StatusCode, err, data)
	}
	c.seen[method+" "+route.Path] = true
	if out != nil && len(data) > 0 {
		_ = json.Unmarshal(data, out)
	}
	return resp.StatusCode
}

func TestTheServerAnswersAsItsOpenAPIDocumentSays(t *testing.T) {
	s := systemtest.Start(t, systemtestSQLite(t), systemtest.Options{})
	c := newContract(t, s)
	const cl, st = systemtest.APIToken, systemtest.StaffToken

	c.do("PUT", "/api/v1/customers/ana", cl, map[string]any{"name": "Ana", "email": "ana@example.pt", "language": "pt-PT", "domains": []string{"example.pt"}}, nil)
	c.do("PUT", "/api/v1/customers/ana", cl, map[string]any{"name": "Ana", "email": "not an address"}, nil)
	c.do("PUT", "/api/v1/customers/ana", "wrong", map[string]any{}, nil)
	c.do("GET", "/api/v1/subjects?q=email", cl, nil, nil)
	var created struct{ Number string }
	c.do("POST", "/api/v1/customers/ana/tickets", cl, map[string]any{"subject_id": "email-account-setup", "domain": "example.pt", "message": "Olá", "password": "x"}, &created)
	c.do("POST", "/api/v1/customers/ana/tickets", cl, map[string]any{"subject_id": "nope", "domain": nil, "message": "Olá"}, nil)
	c.do("POST", "/api/v1/customers/nobody/tickets", cl, map[string]any{"subject_id": "email-account-setup", "message": "Olá"}, nil)
	c.do("GET", "/api/v1/customers/ana/tickets?status=open&page=1&per_page=5", cl, nil, nil)
	c.do("GET", "/api/v1/customers/ana/tickets/11111111", cl, nil, nil)
	// Members and their tokens, with the service token alone.
	c.do("GET", "/api/v1/staff/members", st, nil, nil)
	c.do("PUT", "/api/v1/staff/members/rita", st, map[string]any{"name": "Rita Sousa", "email": "rita@example.pt", "language": "pt-PT",
		"departments": map[string]string{"email": "agent", "alojamento": "lead"}, "admin": false, "active": true}, nil)
	c.do("PUT", "/api/v1/staff/members/rita", st, map[string]any{"name": "Rita Sousa", "email": "rita@example.pt", "departments": map[string]string{"nowhere": "agent"}}, nil)
	c.do("GET", "/api/v1/staff/members/rita", st, nil, nil)
	c.do("GET", "/api/v1/staff/members/nobody", st, nil, nil)
	var tok struct{ ID, Token string }
	c.do("POST", "/api/v1/staff/members/rita/tokens", st, map[string]string{"label": "cli"}, &tok)
	c.do("POST", "/api/v1/staff/members/nobody/tokens", st, map[string]string{"label": "cli"}, nil)
	c.do("GET", "/api/v1/staff/members/rita/tokens", st, nil, nil)
	c.do("GET", "/api/v1/staff/members/rita", tok.Token, nil, nil) // a member who is not an admin: 403
	c.do("GET", "/api/v1/departments", tok.Token, nil, nil)
	c.do("GET", "/api/v1/departments", st, nil, nil) // naming nobody: 403 staff_member_unknown
	c.do("DELETE", "/api/v1/staff/members/rita/tokens/"+tok.ID, st, nil, nil)
	c.do("DELETE", "/api/v1/staff/members/rita/tokens/"+tok.ID+"x", st, nil, nil)
	c.do("GET", "/api/v1/departments", tok.Token, nil, nil) // revoked: 401
	c.member = "joao"
	c.do("GET", "/api/v1/departments", st, nil, nil)
	c.do("GET", "/api/v1/departments", cl, nil, nil)
	c.do("GET", "/api/v1/departments/email/queue?status=open", st, nil, nil)
	c.do("GET", "/api/v1/staff/tickets/"+created.Number, st, nil, nil)
	c.do("POST", "/api/v1/staff/tickets/"+created.Number+"/password/reveal", st, map[string]string{"staff": "joao", "reason": "checking the mailbox"}, nil)
	c.do("POST", "/api/v1/staff/tickets/"+created.Number+"/status", st, map[string]string{"staff": "joao", "status": "in_progress"}, nil)
	c.do("POST", "/api/v1/staff/tickets/"+created.Number+"/messages", st, map[string]string{"staff": "joao", "message": "Experimente agora."}, nil)
	c.do("GET", "/api/v1/customers/ana/tickets/"+created.Number, cl, nil, nil) // with its password_views
	c.do("GET", "/api/v1/staff/search?limit=1&q=experimente", st, nil, nil)
	c.do("GET", "/api/v1/staff/search?q=%23"+created.Number, st, nil, nil)
	c.do("GET", "/api/v1/staff/search?q=", st, nil, nil)
	c.do("GET", "/api/v1/staff/search?q=x&next=nowhere", st, nil, nil)
	c.do("POST", "/api/v1/staff/tickets/"+created.Number+"/notes", st, map[string]string{"staff": "joao", "message": "Cliente com dois domínios."}, nil)
	c.do("POST", "/api/v1/staff/tickets/"+created.Number+"/notes", st, map[string]string{"staff": "joao", "message": ""}, nil)
	c.do("POST", "/api/v1/staff/tickets/11111111/notes", st, map[string]string{"staff": "joao", "message": "Nota."}, nil)
	c.do("POST", "/api/v1/staff/tickets/"+created.Number+"/priority", st, map[string]string{"priority": "urgent"}, nil)
	c.do("POST", "/api/v1/staff/tickets/"+created.Number+"/priority", st, map[string]string{"priority": "asap"}, nil)
	c.do("GET", "/api/v1/departments/email/queue?order=priority", st, nil, nil)
	c.do("PUT", "/api/v1/staff/departments/email/replies/boas-vindas", st, map[string]string{"title": "Boas-vindas", "body": "Olá {customer_name}, sobre o pedido #{ticket_number}: ..."}, nil)
	c.do("PUT", "/api/v1/staff/departments/email/replies/boas-vindas", st, map[string]string{"title": "Boas-vindas", "body": "Olá {cliente}"}, nil)
	c.do("PUT", "/api/v1/staff/departments/nowhere/replies/x", st, map[string]string{"title": "X", "body": "Y"}, nil)
	c.do("GET", "/api/v1/staff/departments/email/replies", st, nil, nil)
	c.do("GET", "/api/v1/staff/tickets/"+created.Number+"/replies", st, nil, nil)
	c.do("DELETE", "/api/v1/staff/departments/email/replies/boas-vindas", st, nil, nil)
	c.do("DELETE", "/api/v1/staff/departments/email/replies/boas-vindas", st, nil, nil)
	c.do("POST", "/api/v1/staff/tickets/"+created.Number+"/assignee", st, map[string]any{"staff": "joao", "member": "joao"}, nil)
	c.do("GET", "/api/v1/departments/email/queue?assignee=me", st, nil, nil)
	c.do("POST", "/api/v1/staff/tickets/"+created.Number+"/assignee", st, map[string]any{"staff": "joao", "member": "nobody"}, nil)
	c.do("POST", "/api/v1/staff/tickets/"+created.Number+"/assignee", st, map[string]any{"staff": "joao", "member": nil}, nil)
	c.do("PUT", "/api/v1/staff/departments/email/settings", st, map[string]string{"auto_assign": "least_open"}, nil)
	c.do("PUT", "/api/v1/staff/departments/email/settings", st, map[string]string{"auto_assign": "sometimes"}, nil)
	c.do("PUT", "/api/v1/staff/departments/nowhere/settings", st, map[string]string{"auto_assign": "off"}, nil)
	c.do("GET", "/api/v1/staff/departments/email/settings", st, nil, nil)
	c.do("POST", "/api/v1/staff/tickets/"+created.Number+"/department", st, map[string]string{"staff": "joao", "department": "nowhere"}, nil)
	c.do("POST", "/api/v1/staff/tickets/"+created.Number+"/department", st, map[string]string{"staff": "joao", "department": "alojamento"}, nil)
	c.do("POST", "/api/v1/staff/tickets/"+created.Number+"/department", cl, map[string]string{"staff": "joao", "department": "email"}, nil)
	c.do("POST", "/api/v1/customers/ana/tickets/"+created.Number+"/messages", cl, map[string]string{"message": "Continua igual."}, nil)
	c.do("POST", "/api/v1/customers/ana/tickets/"+created.Number+"/close", cl, nil, nil)
	c.do("POST", "/api/v1/customers/ana/tickets/"+created.Number+"/messages", cl, map[string]string{"message": "Mais uma coisa."}, nil)
	c.do("POST", "/api/v1/staff/tickets/"+created.Number+"/status", st, map[string]string{"staff": "joao", "status": "open"}, nil)
	policy := map[string]any{"first_response": "4h", "next_response": "8h", "resolution": "72h", "warn_before": "30m",
		"hours": map[string]any{"timezone": "Europe/Lisbon", "holidays": "PT", "week": map[string][]string{"mon": {"09:00-13:00", "14:00-18:00"}, "sat": {}}}}
	c.do("GET", "/api/v1/staff/departments/alojamento/sla", st, nil, nil)
	c.do("PUT", "/api/v1/staff/departments/alojamento/sla", st, policy, nil)
	c.do("PUT", "/api/v1/staff/departments/alojamento/sla", st, map[string]any{"first_response": "4 hours"}, nil)
	c.do("PUT", "/api/v1/staff/departments/nowhere/sla", st, policy, nil)
	c.do("PUT", "/api/v1/staff/departments/alojamento/sla", cl, policy, nil)
	c.do("GET", "/api/v1/staff/departments/alojamento/sla", st, nil, nil)
	c.do("GET", "/api/v1/departments/alojamento/queue?order=due", st, nil, nil)
	c.do("GET", "/api/v1/staff/reports/response-times", st, nil, nil)
	c.do("GET", "/api/v1/staff/reports/response-times?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z&department=email", st, nil, nil)
	c.do("GET", "/api/v1/staff/reports/response-times?from=yesterday", st, nil, nil)
	c.do("GET", "/api/v1/staff/inbound?limit=10", st, nil, nil)
	c.do("GET", "/api/v1/staff/emails/failed", st, nil, nil)
	c.do("POST", "/api/v1/customers/ana/sessions/revoke", cl, nil, nil)
	c.do("POST", "/api/v1/customers/%20ana/sessions/revoke", cl, nil, nil)
	c.do("POST", "/api/v1/staff/members/joao/sessions/revoke", st, nil, nil)
	c.do("POST", "/api/v1/staff/members/joao/sessions/revoke", cl, nil, nil)
	c.do("POST", "/api/v1/staff/members/nobody/sessions/revoke", st, nil, nil)
	c.attachments(created.Number)
	c.do("GET", "/api/v1/customers/ana/export", cl, nil, nil)
	c.do("GET", "/api/v1/customers/nobody/export", cl, nil, nil)
	c.do("DELETE", "/api/v1/customers/ana", cl, nil, nil)
	c.do("DELETE", "/api/v1/customers/ana", cl, nil, nil)
	c.do("GET", "/api/v1/openapi.yaml", "", nil, nil)
	c.do("GET", "/healthz", "", nil, nil)
	c.do("GET", "/readyz", "", nil, nil)
	c.do("GET", "/metrics", "", nil, nil)
	c.do("GET", "/metrics", st, nil, nil)

	// Every operation of the document was exercised.
	loader := openapi3.NewLoader()
	doc, _ := loader.LoadFromData(api.OpenAPI())
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !c.seen[method+" "+path] {
				t.Errorf("%s %s is documented but the test never reached it", method, path)
			}
		}
	}
	if !strings.Contains(string(api.OpenAPI()), "PASSWORD OBFUSCATED") {
		t.Error("the document does not describe the obfuscated password")
	}
}

// rawBody is a request body sent as it is, with its content type.
type rawBody struct {
	contentType string
	data        []byte
}

// multipartFile is a multipart body of one file (and fields before it).
func multipartFile(name string, data []byte, fields ...string) rawBody {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = mw.WriteField(fields[i], fields[i+1])
	}
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(data)
	_ = mw.Close()
	return rawBody{mw.FormDataContentType(), b.Bytes()}
}

// attachments exercises the uploads and downloads on an open ticket of ana's.
func (c *contract) attachments(closed string) {
	const cl, st = systemtest.APIToken, systemtest.StaffToken
	var up struct{ ID string }
	c.do("POST", "/api/v1/customers/ana/uploads", cl, multipartFile("erro.png", pngFile(2000)), &up)
	c.do("POST", "/api/v1/customers/ana/uploads", cl, multipartFile("erro.png", []byte("MZ\x90\x00 not an image")), nil)
	c.do("POST", "/api/v1/customers/ana/uploads", cl, rawBody{"application/json", []byte("{}")}, nil)
	c.do("POST", "/api/v1/customers/nobody/uploads", cl, multipartFile("erro.png", pngFile(2000)), nil)
	var sup struct{ ID string }
	c.do("POST", "/api/v1/staff/uploads", st, multipartFile("nota.txt", []byte("texto simples\n"), "staff", "joao"), &sup)
	c.do("POST", "/api/v1/staff/uploads", st, multipartFile("nota.txt", []byte("texto simples\n")), nil)
	var created struct{ Number string }
	c.do("POST", "/api/v1/customers/ana/tickets", cl, map[string]any{"subject_id": "email-account-setup", "domain": nil, "message": "Olá",
		"attachments": []string{up.ID}}, &created)
	c.do("POST", "/api/v1/customers/ana/tickets/"+created.Number+"/messages", cl, map[string]any{"message": "Mais", "attachments": []string{up.ID}}, nil)
	c.do("POST", "/api/v1/staff/tickets/"+created.Number+"/messages", st, map[string]any{"staff": "joao", "message": "Veja", "attachments": []string{sup.ID}}, nil)
	c.do("GET", "/api/v1/customers/ana/tickets/"+created.Number+"/attachments/"+up.ID, cl, nil, nil)
	c.do("GET", "/api/v1/customers/ana/tickets/"+created.Number+"/attachments/"+up.ID+"?preview=1", cl, nil, nil)
	c.do("GET", "/api/v1/customers/ana/tickets/"+closed+"/attachments/"+up.ID, cl, nil, nil)
	c.do("GET", "/api/v1/staff/tickets/"+created.Number+"/attachments/"+sup.ID, st, nil, nil)
	c.do("GET", "/api/v1/staff/tickets/"+created.Number+"/attachments/nope", st, nil, nil)
	c.do("GET", "/api/v1/staff/tickets/"+created.Number+"/attachments/"+sup.ID, cl, nil, nil)
}
