package api_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
)

func TestTheConsoleSearchMarksMatchesSafelyPagesAndOpensANumber(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			env := startWebOn(t, b, true, nil)
			env.PutCustomer(t, "ana", "pt-PT")
			ctx := context.Background()
			file := func(subject, message string) string {
				c, err := env.Store.CreateTicket(ctx, storage.NewTicket{CustomerID: "ana", SubjectID: subject, Message: message, CreatedAt: time.Now()})
				if err != nil {
					t.Fatal(err)
				}
				return c.Number
			}
			hostile := file("email-delivery", `A CONFIGURAÇÃO diz <script>alert("x")</script> e <mark>não</mark> funciona.`)
			for i := range 30 {
				file("billing-invoice", "A fatura "+strconv.Itoa(i)+" tem um valor estranho.")
			}
			joao := env.staff(t, "joao")

			r := joao.get("/staff/search?q=configuracao")
			if r.code != http.StatusOK {
				t.Fatalf("search page: %d", r.code)
			}
			checkPage(t, "search results", r.body)
			if !strings.Contains(r.body, `<mark>CONFIGURAÇÃO</mark>`) || !strings.Contains(r.body, "#"+hostile) {
				t.Errorf("the result does not mark the word:\n%s", r.body)
			}
			if strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "<mark>não</mark>") {
				t.Errorf("a message's markup reached the page as markup:\n%s", r.body)
			}
			if !strings.Contains(r.body, `value="configuracao"`) || !strings.Contains(r.body, `id="staff-search"`) {
				t.Error("the page does not keep the query in its form, or has no search box")
			}

			// Every staff page has the search box.
			if idx := joao.get("/staff"); !strings.Contains(idx.body, `action="/staff/search"`) {
				t.Error("the console's index has no search box")
			}

			// Keyset pages: 25, then 5, with a way back.
			rowNumber := regexp.MustCompile(`data-testid="ticket-number">#([0-9]+)<`)
			seen, pages := walkPages(t, joao, "/staff/search?q="+url.QueryEscape("Fatura"), "search")
			if pages != 2 {
				t.Errorf("%d pages, want 2", pages)
			}
			if len(seen) != 30 {
				t.Errorf("the pages list %d tickets, want 30", len(seen))
			}
			if r := joao.get("/staff/search?q=fatura&next=nonsense"); r.code != http.StatusOK || len(rowNumber.FindAllString(r.body, -1)) != 25 {
				t.Errorf("a bad cursor: %d, want the first page", r.code)
			}

			// A number opens its ticket.
			if r := joao.get("/staff/search?q=" + url.QueryEscape("#"+hostile)); r.code != http.StatusSeeOther || r.header.Get("Location") != "/staff/tickets/"+hostile {
				t.Errorf("a number: %d %s", r.code, r.header.Get("Location"))
			}

			// Nothing found, nothing asked, too long, in English.
			if r := joao.get("/staff/search?q=zzzqqq"); !strings.Contains(r.body, `data-testid="search-empty"`) || !strings.Contains(r.body, "Nenhum pedido") {
				t.Error("no result is not said")
			}
			if r := joao.get("/staff/search"); r.code != http.StatusOK || strings.Contains(r.body, `data-testid="search-empty"`) {
				t.Errorf("the empty search page: %d", r.code)
			}
			if r := joao.get("/staff/search?q=" + strings.Repeat("a", 201)); !strings.Contains(r.body, "no máximo 200 caracteres") {
				t.Error("a query too long is not explained")
			}
			if r := joao.get("/staff/search?lang=en&q=" + url.QueryEscape(`"NEAR" *`)); r.code != http.StatusOK || !strings.Contains(r.body, "Request search") {
				t.Errorf("the English page: %d", r.code)
			}
		})
	}
}
