package mail

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the outgoing samples in testdata/outgoing")

// TestOutgoingSamples keeps the text part of every mail kind in
// testdata/outgoing, so that a change of wording shows up in review.
// Run `go test ./mail -run TestOutgoingSamples -update` after changing a
// template on purpose.
func TestOutgoingSamples(t *testing.T) {
	c := testComposer(t)
	withPassword := sampleTicket()
	withPassword.PasswordProvided = true
	withPassword.RelatedTicket = "47110001"
	english := withPassword
	english.Language = LangEN
	noDomain := sampleTicket()
	noDomain.Domain = ""
	closing := noDomain
	closing.Status = "closed"
	closingEnglish := closing
	closingEnglish.Language = LangEN
	samples := []struct {
		file  string
		build func() (Outgoing, error)
	}{
		{"confirmation.pt-PT.txt", func() (Outgoing, error) { return c.Confirmation(withPassword) }},
		{"confirmation.en.txt", func() (Outgoing, error) { return c.Confirmation(english) }},
		{"department.pt-PT.txt", func() (Outgoing, error) { return c.DepartmentNotification(withPassword, "email@example.pt") }},
		{"customer-reply.pt-PT.txt", func() (Outgoing, error) { return c.CustomerReplyNotification(noDomain, "email@example.pt") }},
		{"update.pt-PT.txt", func() (Outgoing, error) { return c.Update(noDomain) }},
		{"update.en.txt", func() (Outgoing, error) { return c.Update(english) }},
		{"update-closed.pt-PT.txt", func() (Outgoing, error) { return c.Update(closing) }},
		{"update-closed.en.txt", func() (Outgoing, error) { return c.Update(closingEnglish) }},
		{"autoclosed.pt-PT.txt", func() (Outgoing, error) { return c.AutoClosed(noDomain) }},
		{"autoclosed.en.txt", func() (Outgoing, error) { return c.AutoClosed(english) }},
		{"autoanswer-ticket.pt-PT.txt", func() (Outgoing, error) {
			return c.AutoAnswer(AutoAnswer{Variant: AutoAnswerTicket, Number: "48213957", To: "ana@example.pt"})
		}},
		{"autoanswer-closed.pt-PT.txt", func() (Outgoing, error) {
			return c.AutoAnswer(AutoAnswer{Variant: AutoAnswerClosed, Number: "48213957", To: "ana@example.pt"})
		}},
		{"autoanswer-no-ticket.pt-PT.txt", func() (Outgoing, error) {
			return c.AutoAnswer(AutoAnswer{Variant: AutoAnswerNoTicket, To: "ana@example.pt"})
		}},
		{"autoanswer-closed.en.txt", func() (Outgoing, error) {
			return c.AutoAnswer(AutoAnswer{Variant: AutoAnswerClosed, Number: "48213957", Language: LangEN, To: "ana@example.pt"})
		}},
	}
	for _, s := range samples {
		t.Run(s.file, func(t *testing.T) {
			out, err := s.build()
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, out.Raw)
			// LF only, so that a checkout that converts line ends changes nothing.
			got := strings.ReplaceAll("Subject: "+p.subject(t)+"\n\n"+p.text, "\r\n", "\n")
			path := filepath.Join("testdata", "outgoing", s.file)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the sample; got:\n%s", s.file, got)
			}
		})
	}
}
