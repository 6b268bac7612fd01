package api_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/systemtest"
)

func TestThePortalKeepsACustomerInSyncAndBadValuesAreNamed(t *testing.T) {
	s := systemtest.Start(t, systemtestSQLite(t), systemtest.Options{NoWorker: true})
	var c struct {
		ID       string   `json:"id"`
		Name     string   `json:"name"`
		Email    string   `json:"email"`
		Language string   `json:"language"`
		Domains  []string `json:"domains"`
	}
	// A long name in a script of several bytes a character is within 200 characters.
	longName := strings.Repeat("Ωμέγα ", 30)[:len(strings.Repeat("Ωμέγα ", 30))-1]
	if code := s.Do(t, "PUT", "/api/v1/customers/ana", systemtest.APIToken, map[string]any{"name": longName, "email": "ana@example.pt",
		"language": "en", "domains": []string{" Example.PT ", "loja-exemplo.com", "example.pt"}}, &c); code != http.StatusOK {
		t.Fatalf("put: %d", code)
	}
	if c.ID != "ana" || c.Name != longName || c.Email != "ana@example.pt" || c.Language != "en" || !reflect.DeepEqual(c.Domains, []string{"example.pt", "loja-exemplo.com"}) {
		t.Fatalf("stored customer %+v", c)
	}
	if code := s.Do(t, "PUT", "/api/v1/customers/rui", systemtest.APIToken, map[string]any{"name": "Rui", "email": "rui@example.pt"}, &c); code != http.StatusOK ||
		c.Language != "pt-PT" || c.Domains == nil || len(c.Domains) != 0 {
		t.Fatalf("a customer without language or domains: %d %+v", code, c)
	}

	valid := func(change map[string]any) map[string]any {
		b := map[string]any{"name": "Ana Silva", "email": "ana@example.pt", "language": "pt-PT", "domains": []string{"example.pt"}}
		for k, v := range change {
			b[k] = v
		}
		return b
	}
	cases := []struct {
		name  string
		cid   string
		body  any
		field string
	}{
		{"an address that is not one", "ana", valid(map[string]any{"email": "not an address"}), "email"},
		{"an address with a display name", "ana", valid(map[string]any{"email": "Ana <ana@example.pt>"}), "email"},
		{"two addresses", "ana", valid(map[string]any{"email": "ana@example.pt, rui@example.pt"}), "email"},
		{"an address with a line break", "ana", valid(map[string]any{"email": "ana@example.pt\r\nBcc: x@evil.example"}), "email"},
		{"an address at an IP literal", "ana", valid(map[string]any{"email": "dave@[127.0.0.1]"}), "email"},
		{"an address at an IPv6 literal", "ana", valid(map[string]any{"email": "dave@[IPv6:::1]"}), "email"},
		{"an address with a quoted local part", "ana", valid(map[string]any{"email": `"dave smith"@example.pt`}), "email"},
		{"an address with a local part out of ASCII", "ana", valid(map[string]any{"email": "joão@example.pt"}), "email"},
		{"an address at a host with no dot", "ana", valid(map[string]any{"email": "dave@localhost"}), "email"},
		{"an address at a domain with an empty label", "ana", valid(map[string]any{"email": "dave@example..pt"}), "email"},
		{"an address at a domain label of 64 characters", "ana", valid(map[string]any{"email": "dave@" + strings.Repeat("a", 64) + ".pt"}), "email"},
		{"an unknown language", "ana", valid(map[string]any{"language": "fr"}), "language"},
		{"a language in another case", "ana", valid(map[string]any{"language": "pt-pt"}), "language"},
		{"no name", "ana", valid(map[string]any{"name": "  "}), "name"},
		{"a name of 201 characters", "ana", valid(map[string]any{"name": strings.Repeat("a", 201)}), "name"},
		{"a name on two lines", "ana", valid(map[string]any{"name": "Ana\nBcc: x"}), "name"},
		{"a domain that is not a host name", "ana", valid(map[string]any{"domains": []string{"example.pt", "not a domain"}}), "domains"},
		{"a customer id with a slash", "ana%2Frui", valid(nil), "id"},
		{"domains that are not a list", "ana", valid(map[string]any{"domains": "example.pt"}), "domains"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e errorReply
			code := s.Do(t, "PUT", "/api/v1/customers/"+tc.cid, systemtest.APIToken, tc.body, &e)
			if code != http.StatusBadRequest || e.Error.Code != "validation_failed" || e.Error.Fields[tc.field] == "" {
				t.Fatalf("%d %+v, want 400 validation_failed on %s", code, e, tc.field)
			}
		})
	}
	// Nothing refused was stored.
	s.Do(t, "GET", "/api/v1/customers/ana/tickets", systemtest.APIToken, nil, nil)
	var stored struct{ Email, Language string }
	if err := s.Store.DB().Get(&stored, `SELECT email, language FROM customers WHERE id = 'ana'`); err != nil || stored.Email != "ana@example.pt" || stored.Language != "en" {
		t.Fatalf("after the refusals: %+v %v", stored, err)
	}
}

// One rule for what an address is: an internationalised domain is kept, and sent, in its IDNA
// form; a .test domain passes (syntax only, no lookups).
func TestAnInternationalisedDomainIsStoredInItsIDNAForm(t *testing.T) {
	s := systemtest.Start(t, systemtestSQLite(t), systemtest.Options{NoWorker: true})
	for _, tc := range []struct{ name, in, want string }{
		{"an internationalised domain", "user@exämple.pt", "user@xn--exmple-cua.pt"},
		{"a domain in capitals", "Ana@Example.PT", "Ana@example.pt"},
		{"a .test domain", "ana@clientes.test", "ana@clientes.test"},
		{"a domain already in IDNA form", "user@xn--exmple-cua.pt", "user@xn--exmple-cua.pt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c struct{ Email string }
			if code := s.Do(t, "PUT", "/api/v1/customers/carol", systemtest.APIToken, map[string]any{"name": "Carol", "email": tc.in}, &c); code != http.StatusOK || c.Email != tc.want {
				t.Fatalf("%d %q, want 200 %q", code, c.Email, tc.want)
			}
		})
	}
}

// A portal sending a huge list of domains is told at once that there are too many: the list is
// counted before each entry is checked against the others (25,000 took 0.7 s that way, 5 s on
// a loaded machine). "At once" is measured against reading the same body, refused for a field
// at its end, so that the bound holds on a slow machine or under the race detector.
func TestTooManyDomainsAreCountedBeforeTheyAreCompared(t *testing.T) {
	s := systemtest.Start(t, systemtestSQLite(t), systemtest.Options{NoWorker: true})
	many := make([]string, 25000)
	for i := range many {
		many[i] = strconv.FormatInt(int64(i), 36) + ".pt" // short: 25,000 of them fit in a request
	}
	body, _ := json.Marshal(map[string]any{"name": "Ana Silva", "email": "ana@example.pt", "domains": many})
	unread := strings.TrimSuffix(string(body), "}") + `,"zzz":1}`
	fastest := func(body, field, problem string) time.Duration {
		best := time.Hour
		for range 3 {
			start := time.Now()
			var e errorReply
			code := s.Do(t, "PUT", "/api/v1/customers/ana", systemtest.APIToken, body, &e)
			if code != http.StatusBadRequest || e.Error.Fields[field] != problem {
				t.Fatalf("%d %+v, want 400 with %s: %q", code, e, field, problem)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	reading := fastest(unread, "zzz", "unknown field")
	if took := fastest(string(body), "domains", "at most 1000 domains"); took > 3*reading+50*time.Millisecond {
		t.Fatalf("refusing 25,000 domains took %v; reading them takes %v", took, reading)
	}
	// 1,000 domains with a repeat are kept once each.
	var c struct{ Domains []string }
	if code := s.Do(t, "PUT", "/api/v1/customers/ana", systemtest.APIToken, map[string]any{"name": "Ana Silva", "email": "ana@example.pt",
		"domains": append(many[:999:999], " 0.PT")}, &c); code != http.StatusOK || len(c.Domains) != 999 || !slices.Contains(c.Domains, many[998]) {
		t.Fatalf("1,000 domains with a repeat: %d, %d kept", code, len(c.Domains))
	}
}
