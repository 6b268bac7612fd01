package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage"
)

func TestAnAdministratorSetsADepartmentsServiceLevelInTheConsole(t *testing.T) {
	env := startWeb(t, true, nil)
	joao := env.staff(t, "joao")
	const page = "/staff/departments/email/sla"
	form := joao.get(page)
	if form.code != http.StatusOK || !strings.Contains(form.body, `data-testid="sla-form"`) {
		t.Fatalf("policy page: %d", form.code)
	}
	checkPage(t, "policy page", form.body)
	values := url.Values{"csrf": {joao.csrf(page)}, "first_response": {"4 horas"}, "resolution": {"72h"}, "warn_before": {"30m"},
		"timezone": {"Europe/Lisbon"}, "holidays": {"PT"}, "week_mon": {"09:00-13:00, 14:00-18:00"}, "week_tue": {"09:00-18:00"},
		"closed": {"2026-12-24"}}
	refused := joao.post(page, values)
	if refused.code != http.StatusBadRequest || !strings.Contains(refused.body, `role="alert"`) || !strings.Contains(refused.body, `value="4 horas"`) {
		t.Fatalf("a bad duration: %d, want the form again with the error beside it and the input kept", refused.code)
	}
	checkPage(t, "refused policy page", refused.body)
	if code := env.Do(t, "GET", "/api/v1/staff/departments/email/sla", systemtest.StaffToken, nil, nil); code != http.StatusNotFound {
		t.Fatalf("a refused form stored a policy: %d", code)
	}
	values.Set("first_response", "4h")
	if r := joao.post(page, values); r.code != http.StatusSeeOther {
		t.Fatalf("save: %d %s", r.code, r.body)
	}
	var stored struct {
		FirstResponse string `json:"first_response"`
		Hours         struct {
			Week   map[string][]string `json:"week"`
			Closed []string            `json:"closed"`
		} `json:"hours"`
	}
	env.Do(t, "GET", "/api/v1/staff/departments/email/sla", systemtest.StaffToken, nil, &stored)
	if stored.FirstResponse != "4h" || len(stored.Hours.Week["mon"]) != 2 || len(stored.Hours.Closed) != 1 {
		t.Fatalf("stored %+v", stored)
	}
	if again := joao.get(page).body; !strings.Contains(again, `value="09:00-13:00, 14:00-18:00"`) || !strings.Contains(again, `value="4h"`) {
		t.Fatal("the form does not show the stored policy")
	}
}

func TestTicketPagesShowTheDueTimeToStaffAndTheExpectedReplyToTheCustomer(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "en")
	if code := env.Do(t, "PUT", "/api/v1/staff/departments/email/sla", systemtest.StaffToken, map[string]any{"first_response": "2s", "resolution": "72h",
		"hours": map[string]any{"timezone": "America/New_York", "week": map[string][]string{"mon": {"00:00-24:00"}, "tue": {"00:00-24:00"},
			"wed": {"00:00-24:00"}, "thu": {"00:00-24:00"}, "fri": {"00:00-24:00"}, "sat": {"00:00-24:00"}, "sun": {"00:00-24:00"}}}}, nil); code != http.StatusOK {
		t.Fatalf("policy: %d", code)
	}
	ana := env.customer(t, "ana")
	number := ana.newTicket("email-account-setup", url.Values{"domain": {"example.pt"}, "message": {"O Outlook pede a palavra-passe."}})
	tk := pageTicket(t, env, number)
	ny, _ := time.LoadLocation("America/New_York")
	want := tk.FirstResponseDue.In(ny)
	customer := ana.get("/tickets/" + number).body
	if !strings.Contains(customer, "Reply expected by") || !strings.Contains(customer, want.Format("2 Jan 2006, 15:04 MST")) {
		t.Fatalf("the customer's page does not say when to expect a reply (%s in the policy's zone)", want.Format("2 Jan 2006, 15:04 MST"))
	}
	joao := env.staff(t, "joao")
	staff := joao.get("/staff/tickets/" + number).body
	if !strings.Contains(staff, "Responder até") || !strings.Contains(staff, want.Format("02/01/2006 15:04 MST")) {
		t.Fatal("the staff page does not say by when to answer")
	}
	time.Sleep(time.Until(*tk.FirstResponseDue) + 100*time.Millisecond)
	staff = joao.get("/staff/tickets/" + number).body
	if !strings.Contains(staff, `data-testid="sla.respond_by" class="warn"`) || !strings.Contains(staff, "prazo ultrapassado") {
		t.Fatal("a missed due time is not shown in red to staff")
	}
	checkPage(t, "staff ticket page with due times", staff)
}

func TestTheResponseTimeReportGivesPercentilesInBusinessTimeAndBreachesPerDepartment(t *testing.T) {
	env := startWeb(t, true, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	ctx := context.Background()
	db := env.Store.DB()
	for i, r := range []struct {
		first    int64
		breached string
	}{{60, ""}, {120, "first_response"}, {180, ""}, {3600, "first_response,resolution"}} {
		c, err := env.Store.CreateTicket(ctx, storage.NewTicket{CustomerID: "ana", SubjectID: "email-account-setup", Message: "pedido " + strconv.Itoa(i), CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(db.Rebind(`UPDATE tickets SET sla_first_response_secs = ?, sla_breached = ? WHERE id = ?`), r.first, r.breached, c.TicketID); err != nil {
			t.Fatal(err)
		}
	}
	// One ticket of another department answered for real: its first response is measured.
	number := env.customer(t, "ana").newTicket("hosting-ssl", url.Values{"domain": {"example.pt"}, "message": {"O certificado expirou."}})
	if code := env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/messages", systemtest.StaffToken, map[string]string{"staff": "joao", "message": "Renovado."}, nil); code != http.StatusCreated {
		t.Fatalf("answer: %d", code)
	}
	var report struct {
		Departments []struct {
			Department struct{ ID string } `json:"department"`
			Tickets    int                 `json:"tickets"`
			First      struct {
				Measured int      `json:"measured"`
				P50      *float64 `json:"p50_seconds"`
				P90      *float64 `json:"p90_seconds"`
			} `json:"first_response"`
			Breaches map[string]int `json:"breaches"`
		} `json:"departments"`
	}
	if code := env.Do(t, "GET", "/api/v1/staff/reports/response-times", systemtest.StaffToken, nil, &report, systemtest.AsJoao...); code != http.StatusOK {
		t.Fatalf("report: %d", code)
	}
	byID := map[string]int{}
	for i, d := range report.Departments {
		byID[d.Department.ID] = i
	}
	email, hosting := report.Departments[byID["email"]], report.Departments[byID["alojamento"]]
	if email.Tickets != 4 || email.First.Measured != 4 || *email.First.P50 != 120 || *email.First.P90 != 3600 ||
		email.Breaches["first_response"] != 2 || email.Breaches["resolution"] != 1 {
		t.Fatalf("email: %+v", email)
	}
	if hosting.Tickets != 1 || hosting.First.Measured != 1 {
		t.Fatalf("alojamento: %+v", hosting)
	}
	if code := env.Do(t, "GET", "/api/v1/staff/reports/response-times?department=email&from=2000-01-01T00:00:00Z&to=2000-02-01T00:00:00Z", systemtest.StaffToken, nil, &report, systemtest.AsJoao...); code != http.StatusOK ||
		len(report.Departments) != 1 || report.Departments[0].Tickets != 0 {
		t.Fatalf("an empty period of one department: %d %+v", code, report.Departments)
	}
	page := env.staff(t, "joao").get("/staff/reports").body
	checkPage(t, "report page", page)
	if !strings.Contains(page, "0 h 02 min") || !strings.Contains(page, "1 h 00 min") || !strings.Contains(page, "2 / 0 / 1") {
		t.Fatal("the report page does not show the email department's figures")
	}
}
