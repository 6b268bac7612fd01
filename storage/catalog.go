package storage

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode"

	"github.com/jmoiron/sqlx"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
	"gopkg.in/yaml.v3"

	"github.com/assistd/assistd/mail"
)

// Department is a team that requests are routed to.
type Department struct {
	ID     string `db:"id" yaml:"id" json:"id"`
	Name   string `db:"name" yaml:"name" json:"name"`
	NameEn string `db:"name_en" yaml:"name_en" json:"-"`
	Email  string `db:"email" yaml:"email" json:"email"`
}

// Subject is what a customer picks when opening a request; it decides the department.
type Subject struct {
	ID           string `db:"id" yaml:"id"`
	Name         string `db:"name" yaml:"name"`
	NameEn       string `db:"name_en" yaml:"name_en"`
	DepartmentID string `db:"department_id" yaml:"department"`
	Keywords     string `db:"keywords" yaml:"keywords"`
	Position     int    `db:"position" yaml:"-"`
}

// Catalog is the file format of `assistd catalog import`.
type Catalog struct {
	Departments []Department `yaml:"departments"`
	Subjects    []Subject    `yaml:"subjects"`
}

//go:embed default_catalog.yaml
var defaultCatalog []byte

// DefaultCatalog is the catalog a new installation starts with.
func DefaultCatalog() Catalog {
	c, err := ParseCatalog(defaultCatalog)
	if err != nil {
		panic("storage: the embedded default catalog is invalid: " + err.Error())
	}
	return c
}

// ParseCatalog reads and checks a catalog file.
func ParseCatalog(data []byte) (Catalog, error) {
	var c Catalog
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); errors.Is(err, io.EOF) {
		return c, errors.New("catalog: the file is empty")
	} else if err != nil {
		return c, fmt.Errorf("catalog: %w", err)
	}
	depts := map[string]bool{}
	for i, d := range c.Departments {
		if d.ID == "" || d.Name == "" {
			return c, fmt.Errorf("catalog: department %d needs an id and a name", i+1)
		}
		email, err := mail.CanonicalAddress(d.Email)
		if err != nil {
			return c, fmt.Errorf("catalog: department %q needs a notification email (a bare address at a host name; no IP literal), got %q", d.ID, d.Email)
		}
		c.Departments[i].Email = email
		if depts[d.ID] {
			return c, fmt.Errorf("catalog: department %q appears twice", d.ID)
		}
		if d.NameEn == "" {
			c.Departments[i].NameEn = d.Name
		}
		depts[d.ID] = true
	}
	seen := map[string]bool{}
	for i, s := range c.Subjects {
		if s.ID == "" || s.Name == "" {
			return c, fmt.Errorf("catalog: subject %d needs an id and a name", i+1)
		}
		if seen[s.ID] {
			return c, fmt.Errorf("catalog: subject %q appears twice", s.ID)
		}
		seen[s.ID] = true
		if !depts[s.DepartmentID] {
			return c, fmt.Errorf("catalog: subject %q names unknown department %q", s.ID, s.DepartmentID)
		}
		if s.NameEn == "" {
			c.Subjects[i].NameEn = s.Name
		}
		c.Subjects[i].Position = i
	}
	return c, nil
}

// ImportCatalog creates or updates the catalog's departments and subjects. Subjects and
// departments missing from the file are kept: tickets refer to them.
func (s *Store) ImportCatalog(ctx context.Context, c Catalog) error {
	return s.tx(ctx, func(tx *sqlx.Tx) error {
		for _, d := range c.Departments {
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO departments (id, name, name_en, email) VALUES (?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_en = excluded.name_en, email = excluded.email`),
				d.ID, d.Name, d.NameEn, d.Email)
			if err != nil {
				return fmt.Errorf("storage: import department %q: %w", d.ID, wrapConn(err))
			}
		}
		for _, sub := range c.Subjects {
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO subjects (id, name, name_en, department_id, keywords, position) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_en = excluded.name_en, department_id = excluded.department_id,
				keywords = excluded.keywords, position = excluded.position`),
				sub.ID, sub.Name, sub.NameEn, sub.DepartmentID, sub.Keywords, sub.Position)
			if err != nil {
				return fmt.Errorf("storage: import subject %q: %w", sub.ID, wrapConn(err))
			}
		}
		return nil
	})
}

// EnsureCatalog imports the default catalog into an empty database.
func (s *Store) EnsureCatalog(ctx context.Context) error {
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM subjects`); err != nil {
		return wrapConn(err)
	}
	if n > 0 {
		return nil
	}
	return s.ImportCatalog(ctx, DefaultCatalog())
}

// Departments lists every department.
func (s *Store) Departments(ctx context.Context) ([]Department, error) {
	var ds []Department
	err := s.db.SelectContext(ctx, &ds, `SELECT id, name, name_en, email FROM departments ORDER BY name`)
	return ds, wrapConn(err)
}

// StaffDepartments lists the departments within a staff caller's reach.
func (s *Store) StaffDepartments(ctx context.Context, reach Reach) ([]Department, error) {
	var ds []Department
	in, args := reach.clause("id")
	err := s.db.SelectContext(ctx, &ds, s.q(`SELECT id, name, name_en, email FROM departments WHERE `+in+` ORDER BY name`), args...)
	return ds, wrapConn(err)
}

// StaffDepartment returns a department within a staff caller's reach; one out of reach is
// ErrNotFound, exactly like one that does not exist.
func (s *Store) StaffDepartment(ctx context.Context, reach Reach, id string) (Department, error) {
	var d Department
	in, args := reach.clause("id")
	err := s.db.GetContext(ctx, &d, s.q(`SELECT id, name, name_en, email FROM departments WHERE id = ? AND `+in), append([]any{id}, args...)...)
	return d, notFound(err)
}

// Department returns one department.
func (s *Store) Department(ctx context.Context, id string) (Department, error) {
	var d Department
	err := s.db.GetContext(ctx, &d, s.q(`SELECT id, name, name_en, email FROM departments WHERE id = ?`), id)
	return d, notFound(err)
}

// Subjects lists every subject in catalog order.
func (s *Store) Subjects(ctx context.Context) ([]Subject, error) {
	var ss []Subject
	err := s.db.SelectContext(ctx, &ss, `SELECT id, name, name_en, department_id, keywords, position FROM subjects ORDER BY position, id`)
	return ss, wrapConn(err)
}

// SearchSubjects ranks subjects against a query, ignoring case and accents: every word of the
// query must start a word of the subject (name, English name or keywords); subjects whose name
// matches more words, and earlier, come first. An empty query returns all in catalog order.
func SearchSubjects(all []Subject, query string) []Subject {
	terms := strings.Fields(Fold(query))
	if len(terms) == 0 {
		return all
	}
	type scored struct {
		s     Subject
		score int
	}
	var hits []scored
	for _, sub := range all {
		name := strings.Fields(Fold(sub.Name))
		other := strings.Fields(Fold(sub.NameEn + " " + sub.Keywords))
		score, ok := 0, true
		for _, t := range terms {
			switch {
			case prefixIndex(name, t) >= 0:
				score += 10 - min(prefixIndex(name, t), 5)
				if t == name[prefixIndex(name, t)] {
					score += 2
				}
			case prefixIndex(other, t) >= 0:
				score += 3
			default:
				ok = false
			}
		}
		if ok {
			hits = append(hits, scored{sub, score})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].score > hits[j].score })
	out := make([]Subject, len(hits))
	for i, h := range hits {
		out[i] = h.s
	}
	return out
}

func prefixIndex(words []string, term string) int {
	for i, w := range words {
		if strings.HasPrefix(w, term) {
			return i
		}
	}
	return -1
}

// Fold lowercases and strips accents and punctuation, for accent-insensitive search.
func Fold(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return ' '
	}, out)
}

// SubjectByID returns one subject.
func (s *Store) SubjectByID(ctx context.Context, id string) (Subject, error) {
	var sub Subject
	err := s.db.GetContext(ctx, &sub, s.q(`SELECT id, name, name_en, department_id, keywords, position FROM subjects WHERE id = ?`), id)
	return sub, notFound(err)
}
