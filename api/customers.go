package api

import (
	"net/http"

	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/tickets"
)

var (
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
	domainPattern = regexp.MustCompile(`^(?i)[a-z0-9\p{L}]([a-z0-9\p{L}-]{0,62}[a-z0-9\p{L}])?(\.[a-z0-9\p{L}]([a-z0-9\p{L}-]{0,62}[a-z0-9\p{L}])?)+$`)
)

type customerJSON struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Email    string   `json:"email"`
	Language string   `json:"language"`
	Domains  []string `json:"domains"`
	// EmailUndeliverable is set when mail to the address bounced for good.
	EmailUndeliverable bool `json:"email_undeliverable"`
}

func customerView(c storage.Customer) customerJSON {
	d := c.Domains
	if d == nil {
		d = []string{}
	}
	return customerJSON{ID: c.ID, Name: c.Name, Email: c.Email, Language: c.Language, Domains: d, EmailUndeliverable: c.EmailUndeliverableAt != nil}
}

func (s *Server) putCustomer(w http.ResponseWriter, r *http.Request) {
	cid := r.PathValue("cid")
	var in struct {
		Name     string   `json:"name"`
		Email    string   `json:"email"`
		Language string   `json:"language"`
		Domains  []string `json:"domains"`
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	fields := map[string]string{}
	if !idPattern.MatchString(cid) {
		fields["id"] = "customer ids are 1 to 100 letters, digits, dots, dashes or underscores"
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 200 || strings.ContainsAny(in.Name, "\r\n\x00") {
		fields["name"] = "a name of 1 to 200 characters on one line is required"
	}
	if email, err := mail.CanonicalAddress(strings.TrimSpace(in.Email)); err != nil {
		fields["email"] = "a single valid email address is required: no display name, no quoted local part, no IP address literal; an internationalised domain is accepted and kept in its IDNA (xn--) form"
	} else {
		in.Email = email
	}
	if in.Language == "" {
		in.Language = tickets.Languages[0]
	}
	if !slices.Contains(tickets.Languages, in.Language) {
		fields["language"] = "language must be pt-PT or en"
	}
	domains, problem := customerDomains(in.Domains)
	if problem != "" {
		fields["domains"] = problem
	}
	if len(fields) > 0 {
		validationFailed(w, fields)
		return
	}
	c, err := s.store.PutCustomer(r.Context(), storage.Customer{ID: cid, Name: in.Name, Email: in.Email, Language: in.Language, Domains: domains})
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, customerView(c))
}

// maxDomains bounds a customer's domains.
const maxDomains = 1000

// customerDomains checks a customer's domains and returns them in lower case, in order, each
// once; or what is wrong with them. The list is counted before anything else is done with it.
func customerDomains(in []string) ([]string, string) {
	if len(in) > maxDomains {
		return nil, "at most 1000 domains"
	}
	domains, seen := make([]string, 0, len(in)), make(map[string]bool, len(in))
	for _, d := range in {
		d = strings.ToLower(strings.TrimSpace(d))
		if !domainPattern.MatchString(d) || len(d) > 253 {
			return nil, "each domain must be a valid host name such as example.pt"
		}
		if !seen[d] {
			seen[d] = true
			domains = append(domains, d)
		}
	}
	return domains, ""
}

type subjectJSON struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Department departmentJSON `json:"department"`
}

type departmentJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (s *Server) searchSubjects(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	if len(q) > 200 {
		validationFailed(w, map[string]string{"q": "the search is limited to 200 characters"})
		return
	}
	all, err := s.store.Subjects(r.Context())
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	depts, err := s.store.Departments(r.Context())
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	names := map[string]string{}
	for _, d := range depts {
		names[d.ID] = d.Name
	}
	out := []subjectJSON{}
	for _, sub := range storage.SearchSubjects(all, q) {
		out = append(out, subjectJSON{ID: sub.ID, Name: sub.Name, Department: departmentJSON{ID: sub.DepartmentID, Name: names[sub.DepartmentID]}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"subjects": out})
}

// departments lists the departments within the caller's reach.
func (s *Server) departments(w http.ResponseWriter, r *http.Request) {
	depts, err := s.store.StaffDepartments(r.Context(), s.reach(r))
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := []map[string]string{}
	for _, d := range depts {
		out = append(out, map[string]string{"id": d.ID, "name": d.Name, "email": d.Email})
	}
	writeJSON(w, http.StatusOK, map[string]any{"departments": out})
}
