package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage/storagetest"
)

// A name or a message holding characters that steer how text is shown (a right-to-left override
// turning "fdp.exe" into "exe.pdf" on screen, isolates, terminal escapes) is shown in the staff
// console and the client area with each of them made visible as U+FFFD, the rest as written.
func TestCharactersThatSteerTheDisplayAreNeutralisedWhereTextIsShown(t *testing.T) {
	const steering = "\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069\x1b\x07\u0085"
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			env := startWebOn(t, b, true, nil)
			if code := env.Do(t, "PUT", "/api/v1/customers/ana", systemtest.APIToken, map[string]any{"name": "Ana \u202Efdp.exe", "email": "ana@example.pt",
				"language": "pt-PT", "domains": []string{"example.pt"}}, nil); code != http.StatusOK {
				t.Fatalf("put customer: %d", code)
			}
			ana := env.customer(t, "ana")
			number := ana.newTicket("billing-invoice", url.Values{"message": {"Fatura " + steering + "\x1b[31mvermelho"}, "domain": {"none"}})
			pages := map[string]string{
				"the customer's ticket":   ana.get("/tickets/" + number).body,
				"the customer's history":  ana.get("/tickets").body,
				"the staff console's one": env.staff(t, "joao").get("/staff/tickets/" + number).body,
			}
			for name, page := range pages {
				if i := strings.IndexAny(page, steering); i >= 0 {
					t.Errorf("%s shows %U raw at %d", name, []rune(page[i:])[0], i)
				}
			}
			staffPage := pages["the staff console's one"]
			for _, want := range []string{"Ana \uFFFDfdp.exe", "Fatura " + strings.Repeat("\uFFFD", len([]rune(steering))) + "\uFFFD[31mvermelho"} {
				if !strings.Contains(staffPage, want) {
					t.Errorf("the staff console does not show %q", want)
				}
			}
			// The data keeps what the customer sent; only its showing is neutralised.
			var d ticketDetail
			env.Do(t, "GET", "/api/v1/customers/ana/tickets/"+number, systemtest.APIToken, nil, &d)
			if len(d.Messages) != 1 || !strings.Contains(d.Messages[0].Body, "\u202E") {
				t.Fatalf("the stored message lost its characters: %+v", d.Messages)
			}
		})
	}
}
