package api_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/systemtest"
)

// sendSlowly sends a request whose body arrives in two halves, calling between them; it returns
// the status.
func sendSlowly(t *testing.T, req *http.Request, first, rest string, between func()) int {
	t.Helper()
	pr, pw := io.Pipe()
	req.Body = pr
	req.ContentLength = int64(len(first) + len(rest))
	done := make(chan int, 1)
	go func() {
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", req.Method, req.URL, err)
			done <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	// More than the client's buffer, so the server has the header and the first half, then a
	// moment for it to authenticate the caller.
	if _, err := pw.Write([]byte(first)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	between()
	_, _ = pw.Write([]byte(rest))
	pw.Close()
	return <-done
}

// TestAMemberDisabledWhileTheirRequestIsInFlightActsNoMore begins a note (API, own token), an
// answer through the service token naming the member, and a console note, has the member
// disabled while each body is still arriving, then ends the bodies: none is written.
func TestAMemberDisabledWhileTheirRequestIsInFlightActsNoMore(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, number string) {
		st := systemtest.StaffToken
		setActive := func(active bool) {
			t.Helper()
			if code := env.Do(t, "PUT", "/api/v1/staff/members/pedro", st, map[string]any{"name": "Pedro", "email": "pedro@example.pt", "language": "pt-PT",
				"departments": map[string]string{"email": "agent"}, "active": active}, nil); code != 200 {
				t.Fatalf("put pedro: %d", code)
			}
		}
		messages := func() int {
			var n int
			_ = env.Store.DB().Get(&n, env.Store.DB().Rebind(`SELECT COUNT(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id WHERE t.number = ?`), number)
			return n
		}
		before := messages()

		token := env.MemberToken(t, "pedro")
		req, _ := http.NewRequest("POST", env.HTTP.URL+"/api/v1/staff/tickets/"+number+"/notes", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		if code := sendSlowly(t, req, `{"message": "Nota escrita `+strings.Repeat("a", 9000), ` devagar."}`, func() { setActive(false) }); code != http.StatusUnauthorized {
			t.Errorf("a note by a member disabled while it arrived: %d, want 401", code)
		}

		setActive(true)
		req, _ = http.NewRequest("POST", env.HTTP.URL+"/api/v1/staff/tickets/"+number+"/messages", nil)
		req.Header.Set("Authorization", "Bearer "+st)
		req.Header.Set("Assistd-Staff-Member", "pedro")
		req.Header.Set("Content-Type", "application/json")
		if code := sendSlowly(t, req, `{"message": "Resposta escrita `+strings.Repeat("a", 9000), ` devagar."}`, func() { setActive(false) }); code != http.StatusForbidden {
			t.Errorf("an answer for a member disabled while it arrived: %d, want 403", code)
		}

		setActive(true)
		v := env.staff(t, "pedro")
		page := "/staff/tickets/" + number
		form := url.Values{"csrf": {v.csrf(page)}, "note": {"Nota da consola escrita devagar " + strings.Repeat("a", 18000)}}.Encode()
		req, _ = http.NewRequest("POST", env.Web.URL+page+"/notes", nil)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		u, _ := url.Parse(env.Web.URL)
		for _, c := range v.http.Jar.Cookies(u) {
			req.AddCookie(c)
		}
		half := len(form) / 2
		if code := sendSlowly(t, req, form[:half], form[half:], func() { setActive(false) }); code != http.StatusUnauthorized {
			t.Errorf("a console note by a member disabled while it arrived: %d", code)
		}
		if n := messages(); n != before {
			t.Errorf("%d messages written by a member disabled before their request ended", n-before)
		}
	})
}
