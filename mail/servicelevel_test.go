package mail

import (
	"strings"
	"testing"
	"time"
)

func TestServiceLevelAlertsAreTaggedAndInTheRecipientsLanguage(t *testing.T) {
	c := testComposer(t)
	due := time.Date(2026, 7, 1, 13, 0, 0, 0, time.UTC) // 14:00 in Lisbon, summer time
	cases := []struct {
		name, lang, kind string
		want             []string
	}{
		{"a warning in Portuguese names the target and the due time in Lisbon", LangPT, AlertWarning,
			[]string{"[Pedido #48213957] Prazo a terminar: primeira resposta — 01/07/2026 14:00", "/staff/tickets/48213957"}},
		{"a breach in English keeps the Portuguese tag", LangEN, AlertBreach,
			[]string{"[Pedido #48213957] Target missed: first response — 1 Jul 2026, 14:00", "Open request #48213957"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.ServiceLevelAlert(ServiceLevelAlert{Number: "48213957", SubjectName: "Email", DepartmentName: "Email",
				Target: "first_response", Kind: tc.kind, Due: due, Language: tc.lang, To: "email@example.pt",
				MessageID: c.StableID("48213957", "sla-first_response:0:"+tc.kind)})
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, out.Raw)
			text := p.subject(t) + "\n" + p.text
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("alert lacks %q:\n%s", w, text)
				}
			}
			if out.To != "email@example.pt" {
				t.Errorf("sent to %q", out.To)
			}
		})
	}
}
