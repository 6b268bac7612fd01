package jobs_test

import (
	"bytes"
	"context"
	"io"
	"mime"
	"net/http"
	netmail "net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/mail/smtpsink"
	"github.com/assistd/assistd/storage"
)

// putPolicy sets a department's service level through the API.
func putPolicy(t *testing.T, s *systemtest.System, dept string, policy map[string]any) {
	t.Helper()
	if code := s.Do(t, "PUT", "/api/v1/staff/departments/"+dept+"/sla", systemtest.StaffToken, policy, nil); code != http.StatusOK {
		t.Fatalf("put policy of %s: %d", dept, code)
	}
}

// alert is a service-level email the department received.
type alert struct {
	subject  string
	received time.Time
}

// alertsTo lists the service-level emails sent to an address, by their subject's wording.
func alertsTo(t *testing.T, s *systemtest.System, to, wording string) []alert {
	t.Helper()
	var out []alert
	for _, m := range s.Sink.Mails() {
		if len(m.To) != 1 || m.To[0] != to {
			continue
		}
		if subject := decodedSubject(t, m); strings.Contains(subject, wording) {
			out = append(out, alert{subject, m.Received})
		}
	}
	return out
}

func decodedSubject(t *testing.T, m smtpsink.Mail) string {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	return subject
}

type clocksView struct {
	FirstResponseDue *time.Time `json:"first_response_due"`
	NextResponseDue  *time.Time `json:"next_response_due"`
	ResolutionDue    *time.Time `json:"resolution_due"`
	FirstResponseAt  *time.Time `json:"first_response_at"`
	Breached         []string   `json:"breached"`
	Paused           bool       `json:"paused"`
}

func staffClocks(t *testing.T, s *systemtest.System, number string) clocksView {
	t.Helper()
	var v struct {
		SLA clocksView `json:"sla"`
	}
	if code := s.Do(t, "GET", "/api/v1/staff/tickets/"+number, systemtest.StaffToken, nil, &v, systemtest.AsJoao...); code != http.StatusOK {
		t.Fatalf("staff view: %d", code)
	}
	return v.SLA
}

func replyExpectedBy(t *testing.T, s *systemtest.System, number string) *time.Time {
	t.Helper()
	var v struct {
		ReplyExpectedBy *time.Time `json:"reply_expected_by"`
	}
	if code := s.Do(t, "GET", "/api/v1/customers/ana/tickets/"+number, systemtest.APIToken, nil, &v); code != http.StatusOK {
		t.Fatalf("customer view: %d", code)
	}
	return v.ReplyExpectedBy
}

// fastSweeps runs the service-level sweep every second beside the default periods, so that a
// moment sent twice (by its task and by the sweep) would show.
func fastSweeps() []jobs.Period {
	return []jobs.Period{{Type: jobs.TypeSLASweep, Every: time.Second}, {Type: jobs.TypeOutboxRelay, Every: 10 * time.Second}}
}

const emailDept = "email@suporte.example.pt"

func metricsText(t *testing.T, s *systemtest.System) string {
	t.Helper()
	req, _ := http.NewRequest("GET", s.HTTP.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+systemtest.StaffToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// metricValue reads one series of /metrics; 0 when it is not there yet.
func metricValue(t *testing.T, s *systemtest.System, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(metricsText(t, s), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

func TestAWarningAndABreachGoOutOnceWithinASecondOfTheirMoment(t *testing.T) {
	systemtest.Each(t, systemtest.Options{Periods: fastSweeps()}, func(t *testing.T, s *systemtest.System) {
		putPolicy(t, s, "email", map[string]any{"first_response": "4s", "resolution": "1h", "warn_before": "2s"})
		s.PutCustomer(t, "ana", "pt-PT")
		tk := newTicket(t, s, nil)
		if tk.FirstResponseDue == nil || !tk.FirstResponseDue.Equal(tk.CreatedAt.Add(4*time.Second)) {
			t.Fatalf("created %s with first response due %v, want 4 s later, stored with the ticket", tk.CreatedAt, tk.FirstResponseDue)
		}
		due := *tk.FirstResponseDue
		breachesBefore := metricValue(t, s, `assistd_sla_breaches_total{department="email",target="first_response"}`)
		systemtest.Eventually(t, 10*time.Second, "the breach", func() bool { return len(alertsTo(t, s, emailDept, "Prazo ultrapassado")) > 0 })
		time.Sleep(2500 * time.Millisecond) // the task and two sweeps more: nothing goes twice
		warnings, breaches := alertsTo(t, s, emailDept, "Prazo a terminar"), alertsTo(t, s, emailDept, "Prazo ultrapassado")
		if len(warnings) != 1 || len(breaches) != 1 {
			t.Fatalf("%d warnings and %d breaches, want one of each", len(warnings), len(breaches))
		}
		for _, a := range []struct {
			alert
			at time.Time
		}{{warnings[0], due.Add(-2 * time.Second)}, {breaches[0], due}} {
			late := a.received.Sub(a.at)
			t.Logf("%q received %s after its moment", a.subject, late.Round(time.Millisecond))
			if late < 0 || late > time.Second {
				t.Errorf("%q received %s after its moment, want within a second", a.subject, late)
			}
			if !strings.HasPrefix(a.subject, "[Pedido #"+tk.Number+"] ") || !strings.Contains(a.subject, "primeira resposta") {
				t.Errorf("subject %q", a.subject)
			}
		}
		if v := staffClocks(t, s, tk.Number); len(v.Breached) != 1 || v.Breached[0] != "first_response" {
			t.Fatalf("staff see breached %v", v.Breached)
		}
		if n := metricValue(t, s, `assistd_sla_breaches_total{department="email",target="first_response"}`) - breachesBefore; n != 1 {
			t.Fatalf("assistd_sla_breaches_total{department=email,target=first_response} grew by %v, want 1", n)
		}
	})
}

func TestAClockPausedByAnAnswerResumesWithTheCustomersAddition(t *testing.T) {
	systemtest.Each(t, systemtest.Options{}, func(t *testing.T, s *systemtest.System) {
		putPolicy(t, s, "email", map[string]any{"first_response": "1h", "next_response": "2h", "resolution": "10h"})
		s.PutCustomer(t, "ana", "pt-PT")
		tk := newTicket(t, s, nil)
		before := staffClocks(t, s, tk.Number)
		if got := replyExpectedBy(t, s, tk.Number); got == nil || before.FirstResponseDue == nil || !got.Equal(*before.FirstResponseDue) {
			t.Fatalf("the customer expects a reply by %v, staff see first response due %v", got, before.FirstResponseDue)
		}
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+tk.Number+"/messages", systemtest.StaffToken,
			map[string]string{"staff": "joao", "message": "Experimente agora."}, nil); code != http.StatusCreated {
			t.Fatalf("answer: %d", code)
		}
		if h := metricsText(t, s); !strings.Contains(h, `assistd_first_response_seconds_count{department="email"}`) {
			t.Fatal("the first response is not in assistd_first_response_seconds")
		}
		paused := staffClocks(t, s, tk.Number)
		if !paused.Paused || paused.FirstResponseAt == nil || paused.ResolutionDue != nil || paused.FirstResponseDue != nil {
			t.Fatalf("after the answer: %+v, want the first response met and the clocks paused", paused)
		}
		if got := replyExpectedBy(t, s, tk.Number); got != nil {
			t.Fatalf("the customer expects a reply by %v while the ticket is answered", got)
		}
		time.Sleep(300 * time.Millisecond) // the pause lasts a while
		if code := s.Do(t, "POST", "/api/v1/customers/ana/tickets/"+tk.Number+"/messages", systemtest.APIToken,
			map[string]string{"message": "Continua igual."}, nil); code != http.StatusCreated {
			t.Fatalf("customer addition: %d", code)
		}
		resumed := staffClocks(t, s, tk.Number)
		if resumed.Paused || resumed.NextResponseDue == nil || resumed.ResolutionDue == nil {
			t.Fatalf("after the addition: %+v, want the next response and resolution clocks running", resumed)
		}
		if moved := resumed.ResolutionDue.Sub(*before.ResolutionDue); moved < 300*time.Millisecond || moved > 10*time.Second {
			t.Fatalf("the resolution due time moved by %s, want by the pause (~300 ms)", moved)
		}
		if left := time.Until(*resumed.NextResponseDue); left < 119*time.Minute || left > 2*time.Hour {
			t.Fatalf("next response due in %s, want 2 h from the addition", left)
		}
		if got := replyExpectedBy(t, s, tk.Number); got == nil || !got.Equal(*resumed.NextResponseDue) {
			t.Fatalf("the customer expects a reply by %v, want %v", got, resumed.NextResponseDue)
		}
	})
}

func TestATicketWhoseSubjectMovedTakesTheNewDepartmentsPolicy(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		putPolicy(t, s, "email", map[string]any{"first_response": "1h"})
		putPolicy(t, s, "alojamento", map[string]any{"first_response": "5h"})
		s.PutCustomer(t, "ana", "pt-PT")
		tk := newTicket(t, s, nil)
		if tk.FirstResponseDue == nil || !tk.FirstResponseDue.Equal(tk.CreatedAt.Add(time.Hour)) {
			t.Fatalf("first response due %v, want an hour after %s", tk.FirstResponseDue, tk.CreatedAt)
		}
		catalog := storage.DefaultCatalog()
		for i := range catalog.Subjects {
			if catalog.Subjects[i].ID == "email-account-setup" {
				catalog.Subjects[i].DepartmentID = "alojamento"
			}
		}
		if err := s.Store.ImportCatalog(ctx, catalog); err != nil {
			t.Fatal(err)
		}
		s.StartWorker(t)
		systemtest.Eventually(t, 10*time.Second, "the ticket routed to its subject's new department", func() bool {
			got, err := s.Store.TicketByID(ctx, tk.ID)
			return err == nil && got.ProcessedAt != nil && got.DepartmentID == "alojamento" &&
				got.FirstResponseDue != nil && got.FirstResponseDue.Equal(tk.CreatedAt.Add(5*time.Hour))
		})
	})
}

func TestRedisFlushedBeforeADueTimeStillSendsExactlyOneBreach(t *testing.T) {
	systemtest.Each(t, systemtest.Options{Periods: fastSweeps()}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		putPolicy(t, s, "email", map[string]any{"first_response": "3s"})
		s.PutCustomer(t, "ana", "pt-PT")
		tk := newTicket(t, s, nil)
		systemtest.Eventually(t, 10*time.Second, "the ticket processed", func() bool {
			got, err := s.Store.TicketByID(ctx, tk.ID)
			return err == nil && got.ProcessedAt != nil
		})
		if err := s.Redis.FlushDB(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		systemtest.Eventually(t, 15*time.Second, "the breach", func() bool { return len(alertsTo(t, s, emailDept, "Prazo ultrapassado")) > 0 })
		time.Sleep(2500 * time.Millisecond)
		if n := len(alertsTo(t, s, emailDept, "Prazo ultrapassado")); n != 1 {
			t.Fatalf("%d breach emails, want exactly one", n)
		}
	})
}
