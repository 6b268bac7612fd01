package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
)

// A request body must keep arriving. With a floor of 1 KiB/s over a window of 1 s (30 s in
// production), a client sending a byte every 200 ms is cut off within about a window, whether
// the handler reads its body or answered before reading it (a 401, a 415, a form refused); a
// body above the floor passes however long it takes. Real TCP clients against the server on a
// loopback listener.
func TestABodyThatStopsArrivingIsCutOff(t *testing.T) {
	env := startWeb(t, true, func(c *api.Config) { c.BodyFloor, c.BodyWindow = 1024, time.Second })
	env.PutCustomer(t, "ana", "pt-PT")
	// With the production window too, an answer given before the body was read is not held back
	// until the body has trickled in.
	production := startWeb(t, true, nil)
	ticket := `{"subject_id": "email-account-setup", "domain": null, "message": "` + strings.Repeat("a", 6000) + `"}`
	const json, form = "application/json", "application/x-www-form-urlencoded"
	cases := []struct {
		name, path, token, contentType string
		body                           string
		every                          time.Duration // one byte every; 0: at 3 KiB/s in 300-byte pieces
		code                           int
		within                         time.Duration // the connection is closed within
		production                     bool          // the server with the production floor and window
	}{
		{"a ticket trickled in is cut off", "/api/v1/customers/ana/tickets", systemtest.APIToken, json, ticket, 200 * time.Millisecond, http.StatusRequestTimeout, 3 * time.Second, false},
		{"a ticket with a wrong token answered early is cut off", "/api/v1/customers/ana/tickets", "wrong", json, ticket, 200 * time.Millisecond, http.StatusUnauthorized, 3 * time.Second, false},
		{"a body that is not JSON answered early is cut off", "/api/v1/customers/ana/tickets", systemtest.APIToken, "text/plain", ticket, 200 * time.Millisecond, http.StatusUnsupportedMediaType, 3 * time.Second, false},
		{"a staff sign-in without signing in is cut off", "/staff/login", "", form, "name=joao&token=" + strings.Repeat("x", 6000), 200 * time.Millisecond, http.StatusForbidden, 3 * time.Second, false},
		{"a body above the floor passes however long it takes", "/api/v1/customers/ana/tickets", systemtest.APIToken, json, ticket, 0, http.StatusAccepted, 0, false},
		{"with a 30 s window, a wrong token is answered and cut off at once", "/api/v1/customers/ana/tickets", "wrong", json, ticket, 200 * time.Millisecond, http.StatusUnauthorized, 3 * time.Second, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			addr := env.Web.Listener.Addr().String()
			if c.production {
				addr = production.Web.Listener.Addr().String()
			}
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n", c.path, addr, c.contentType, len(c.body))
			if c.token != "" {
				head += "Authorization: Bearer " + c.token + "\r\n"
			}
			start := time.Now()
			if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
				t.Fatal(err)
			}
			go trickle(conn, c.body, c.every)
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			rd := bufio.NewReader(conn)
			resp, err := http.ReadResponse(rd, nil)
			if err != nil {
				t.Fatalf("no answer after %v: %v", time.Since(start).Round(time.Millisecond), err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code {
				t.Fatalf("answered %d, want %d", resp.StatusCode, c.code)
			}
			if c.within == 0 {
				if took := time.Since(start); took < 1500*time.Millisecond {
					t.Fatalf("the slow body took only %v: it did not outlast the window", took)
				}
				return
			}
			// The server closes the connection: the next read ends, it does not wait for more.
			if _, err := rd.ReadByte(); err != io.EOF && !isReset(err) {
				t.Fatalf("the connection is still open after %v: %v", time.Since(start).Round(time.Millisecond), err)
			}
			if took := time.Since(start); took > c.within {
				t.Fatalf("closed after %v, want within %v", took.Round(time.Millisecond), c.within)
			}
		})
	}
}

// trickle sends body one byte every `every`, or at about 3 KiB/s when every is 0, until it is
// sent or the connection refuses it.
func trickle(conn net.Conn, body string, every time.Duration) {
	step, pause := 1, every
	if every == 0 {
		step, pause = 300, 100*time.Millisecond
	}
	for i := 0; i < len(body); i += step {
		if _, err := io.WriteString(conn, body[i:min(i+step, len(body))]); err != nil {
			return
		}
		time.Sleep(pause)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}
