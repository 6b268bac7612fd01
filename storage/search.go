package storage

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/assistd/assistd/tickets"
)

// MaxSearchRunes bounds a staff search's text.
const MaxSearchRunes = 200

// searchWindow is how many matching tickets a text search ranks: those most recently created,
// within reach. A query whose words are in more tickets than that ranks and pages through the
// newest of them (ten pages); one more word narrows it to what is meant. Ranking every match
// would read a hundred thousand documents for a word in one ticket of ten; within the window a
// search costs about the same however many tickets there are.
var searchWindow = 200

// A Postgres search finds its window by how common its words are, counted rather than taken
// from the planner's estimate (which a prefix, or a word missing from the statistics, would
// mislead into reading a million documents one by one for three matches, or into gathering a
// hundred thousand from the index for a page of twenty):
//   - the newest searchGlance documents within reach are read: a query matching a fifth of them
//     fills its window there;
//   - a query of whole words matching fewer asks the GIN index for its matches a bucket of ticket
//     ids at a time, newest first, until the window is full (see searchBuckets);
//   - a query with prefixes (tried when its whole words match nothing) matching fewer, but some,
//     looks among as many of the newest documents within reach as should hold the window one
//     and a half times over, going by the glance, then four times as many, up to searchSpan: up
//     to searchWalk documents are read newest first by key, more are asked of the GIN index (a
//     common word's hundreds of thousands of entries would take longer to gather than a few
//     thousand documents to read); one matching none there, or not filling its window in that
//     span, asks the GIN index for its matches among all the documents within reach.
var (
	searchGlance = 1000
	searchWalk   = 5000
	searchSpan   = 200000
)

// searchMaxTerms bounds how many words of a query are searched.
const searchMaxTerms = 16

// SearchQuery is a staff search: a text within a reach, a page at a time.
type SearchQuery struct {
	Text  string
	Reach Reach
	Limit int
	// After is the Next of the previous page ("" for the first).
	After string
}

// SearchHit is a ticket found, with a snippet of its thread: plain text, the matched words at
// Highlights.
type SearchHit struct {
	ID            int64          `db:"id"`
	Number        string         `db:"number"`
	SubjectName   string         `db:"subject_name"`
	SubjectNameEn string         `db:"subject_name_en"`
	Status        tickets.Status `db:"status"`
	UpdatedAt     time.Time      `db:"updated_at"`
	CreatedAt     time.Time      `db:"created_at"`
	Rank          float64        `db:"rank"`
	Snippet       string         `db:"snippet"`
	Highlights    []Highlight    `db:"-"`
}

// Highlight is a matched word in a snippet: its first and past-the-end character (rune)
// offsets.
type Highlight struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// SearchPage is a page of results, best first, and the cursor of the next page ("" when this
// is the last).
type SearchPage struct {
	Hits []SearchHit
	Next string
}

// ErrBadSearchCursor is returned for an After that Search did not make for this query.
var ErrBadSearchCursor = errors.New("storage: bad search cursor")

// Match markers in snippets; the indexed text holds neither (see the migration).
const (
	markStart = '\x01'
	markStop  = '\x02'
)

var (
	ticketNumberQuery = regexp.MustCompile(`^#?([0-9]{1,20})$`)
	emailQuery        = regexp.MustCompile(`^[^\s@"<>]+@[^\s@"<>]+\.[^\s@"<>]+$`)
)

// searchCursor is where a page ends: in a text search the rank and id of its last ticket, in a
// customer's tickets (a search by email) the creation time and id.
type searchCursor struct {
	mode byte // 't' text, 'p' text with prefixes, 'e' email
	rank float64
	at   time.Time
	id   int64
}

func (c searchCursor) String() string {
	var raw string
	switch c.mode {
	case 't', 'p':
		raw = string(c.mode) + strconv.FormatFloat(c.rank, 'g', -1, 64) + "|" + strconv.FormatInt(c.id, 10)
	default:
		raw = "e" + strconv.FormatInt(c.at.UnixNano(), 10) + "|" + strconv.FormatInt(c.id, 10)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func parseSearchCursor(s string) (searchCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 2 {
		return searchCursor{}, ErrBadSearchCursor
	}
	first, idText, ok := strings.Cut(string(b[1:]), "|")
	id, err2 := strconv.ParseInt(idText, 10, 64)
	if !ok || err2 != nil || id < 0 {
		return searchCursor{}, ErrBadSearchCursor
	}
	c := searchCursor{mode: b[0], id: id}
	switch c.mode {
	case 't', 'p':
		r, err := strconv.ParseFloat(first, 64)
		if err != nil || math.IsNaN(r) || math.IsInf(r, 0) {
			return searchCursor{}, ErrBadSearchCursor
		}
		c.rank = r
	case 'e':
		n, err := strconv.ParseInt(first, 10, 64)
		if err != nil {
			return searchCursor{}, ErrBadSearchCursor
		}
		c.at = time.Unix(0, n).UTC()
	default:
		return searchCursor{}, ErrBadSearchCursor
	}
	return c, nil
}

// Search finds the tickets within reach whose subject, messages or notes hold every word of the
// query, accents and case aside (see searchText for words typed in part), best ranked first
// (the subject weighs more than the thread), among the newest searchWindow that match. A query that is a ticket number (with or
// without "#") finds that ticket, and a customer's email that customer's tickets, newest first,
// when within reach; otherwise their words are searched as text. The query is only ever words:
// quotes, operators and other syntax of the databases' search languages mean nothing.
func (s *Store) Search(ctx context.Context, sq SearchQuery) (SearchPage, error) {
	// Control characters (NUL among them) are no part of any word.
	text := strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, sq.Text))
	if sq.Limit <= 0 {
		sq.Limit = 20
	}
	var after *searchCursor
	if sq.After != "" {
		c, err := parseSearchCursor(sq.After)
		if err != nil {
			return SearchPage{}, err
		}
		after = &c
	}
	if text == "" {
		return SearchPage{}, nil
	}
	if after == nil {
		if m := ticketNumberQuery.FindStringSubmatch(text); m != nil {
			hits, err := s.searchNumber(ctx, m[1], sq.Reach)
			if err != nil || len(hits) > 0 {
				return SearchPage{Hits: hits}, err
			}
		}
	}
	if emailQuery.MatchString(text) && (after == nil || after.mode == 'e') {
		page, err := s.searchEmail(ctx, text, sq, after)
		if err != nil || len(page.Hits) > 0 || after != nil {
			return page, err
		}
	}
	if after != nil && after.mode != 't' && after.mode != 'p' {
		return SearchPage{}, ErrBadSearchCursor
	}
	return s.searchText(ctx, searchWords(text), sq, after)
}

// searchHitColumns are a hit's columns from tickets t and subjects s.
const searchHitColumns = `t.id, t.number, s.name AS subject_name, s.name_en AS subject_name_en, t.status, t.updated_at, t.created_at`

// firstMessage is the beginning of a ticket's thread, the snippet of a direct hit.
const firstMessage = `COALESCE((SELECT m.body FROM messages m WHERE m.ticket_id = t.id ORDER BY m.id LIMIT 1), '')`

func (s *Store) searchNumber(ctx context.Context, number string, reach Reach) ([]SearchHit, error) {
	cond, args := reach.clause("t.department_id")
	var hits []SearchHit
	err := s.db.SelectContext(ctx, &hits, s.q(`SELECT `+searchHitColumns+`, 0 AS rank, `+firstMessage+` AS snippet
		FROM tickets t JOIN subjects s ON s.id = t.subject_id
		WHERE t.number = ? AND t.erasure_id IS NULL AND `+cond), append([]any{number}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("storage: search: %w", wrapConn(err))
	}
	for i := range hits {
		hits[i].Snippet = openingSnippet(hits[i].Snippet)
	}
	return hits, nil
}

func (s *Store) searchEmail(ctx context.Context, email string, sq SearchQuery, after *searchCursor) (SearchPage, error) {
	// The customers are found first, so that their tickets are planned for who they are: a
	// reseller with twenty thousand tickets read newest first down its history index until the
	// page is full, where a plan for a customer of average size gathered all twenty thousand
	// from the table to sort them (420 ms when they are not in the server's buffers).
	var customers []string
	if err := s.db.SelectContext(ctx, &customers, s.q(`SELECT id FROM customers WHERE lower(email) = ?`), strings.ToLower(email)); err != nil {
		return SearchPage{}, fmt.Errorf("storage: search: %w", wrapConn(err))
	}
	if len(customers) == 0 {
		return SearchPage{}, nil
	}
	cond, reachArgs := sq.Reach.clause("t.department_id")
	args := make([]any, 0, len(customers)+len(reachArgs)+4)
	for _, id := range customers {
		args = append(args, id)
	}
	args = append(args, reachArgs...)
	if after != nil {
		cond += ` AND (t.created_at < ? OR (t.created_at = ? AND t.id < ?))`
		args = append(args, after.at, after.at, after.id)
	}
	var hits []SearchHit
	// The page is chosen first and only its tickets' first messages read.
	err := s.db.SelectContext(ctx, &hits, s.q(`SELECT `+searchHitColumns+`, 0 AS rank, `+firstMessage+` AS snippet
		FROM (SELECT t.id FROM tickets t
			WHERE t.customer_id IN (?`+strings.Repeat(`, ?`, len(customers)-1)+`) AND t.erasure_id IS NULL AND `+cond+`
			ORDER BY t.created_at DESC, t.id DESC LIMIT ?) p
		JOIN tickets t ON t.id = p.id JOIN subjects s ON s.id = t.subject_id
		ORDER BY t.created_at DESC, t.id DESC`), s.planned(append(args, sq.Limit+1))...)
	if err != nil {
		return SearchPage{}, fmt.Errorf("storage: search: %w", wrapConn(err))
	}
	return cutPage(hits, sq.Limit, func(h *SearchHit) searchCursor {
		h.Snippet = openingSnippet(h.Snippet)
		return searchCursor{mode: 'e', at: h.CreatedAt.UTC(), id: h.ID}
	}), nil
}

// cutPage keeps the first limit hits, each made ready by finish, which also gives the cursor
// that follows it; Next is the last one's when there were more.
func cutPage(hits []SearchHit, limit int, finish func(*SearchHit) searchCursor) SearchPage {
	more := len(hits) > limit
	if more {
		hits = hits[:limit]
	}
	var page SearchPage
	for i := range hits {
		c := finish(&hits[i])
		if more && i == len(hits)-1 {
			page.Next = c.String()
		}
	}
	page.Hits = hits
	return page
}

// searchText matches whole words first; when no ticket has them all, it matches each word also
// as the beginning of longer ones ("configura" finds "configuração"). Whole words are what
// Postgres's statistics and GIN index serve best; a prefix of a common word would have the
// index gather every word it begins.
func (s *Store) searchText(ctx context.Context, words []searchWord, sq SearchQuery, after *searchCursor) (SearchPage, error) {
	if len(words) == 0 {
		return SearchPage{}, nil
	}
	run := func(prefix bool) ([]SearchHit, error) {
		if s.postgres {
			return s.searchTextPostgres(ctx, searchTerms{query: tsQuery(words, prefix), whole: wholeWords(words, prefix), prefix: prefix}, sq, after)
		}
		return s.searchTextSQLite(ctx, fts5Query(words, prefix), sq, after)
	}
	prefix := after != nil && after.mode == 'p'
	hits, err := run(prefix)
	if err == nil && len(hits) == 0 && after == nil && slices.ContainsFunc(words, func(w searchWord) bool { return w.prefix }) {
		prefix = true
		hits, err = run(prefix)
	}
	if err != nil {
		return SearchPage{}, fmt.Errorf("storage: search: %w", wrapConn(err))
	}
	mode := byte('t')
	if prefix {
		mode = 'p'
	}
	return cutPage(hits, sq.Limit, func(h *SearchHit) searchCursor {
		h.Snippet, h.Highlights = markedSnippet(h.Snippet)
		return searchCursor{mode: mode, rank: h.Rank, id: h.ID}
	}), nil
}

// searchTextSQLite does as searchTextPostgres with FTS5 and an FTS5 query. bm25 ranks (lower
// is better, so its negation is the rank); the subject weighs four times the thread.
func (s *Store) searchTextSQLite(ctx context.Context, match string, sq SearchQuery, after *searchCursor) ([]SearchHit, error) {
	cond, reachArgs := sq.Reach.clause("t.department_id")
	args := append([]any{match}, reachArgs...)
	args = append(args, match)
	page := ``
	if after != nil {
		page = ` AND (r.rank < ? OR (r.rank = ? AND r.ticket_id < ?))`
		args = append(args, after.rank, after.rank, after.id)
	}
	args = append(args, sq.Limit+1)
	var hits []SearchHit
	err := s.db.SelectContext(ctx, &hits, s.q(`WITH hits AS (
			SELECT f.rowid AS ticket_id FROM ticket_search f JOIN tickets t ON t.id = f.rowid
			WHERE ticket_search MATCH ? AND t.erasure_id IS NULL AND `+cond+`
			ORDER BY f.rowid DESC LIMIT `+strconv.Itoa(searchWindow)+`),
		ranked AS (
			SELECT f.rowid AS ticket_id, -bm25(ticket_search, 4.0, 1.0) AS rank,
				snippet(ticket_search, 1, char(1), char(2), '…', 24) AS snippet
			FROM ticket_search f WHERE ticket_search MATCH ? AND f.rowid IN (SELECT ticket_id FROM hits))
		SELECT `+searchHitColumns+`, r.rank, r.snippet
		FROM ranked r JOIN tickets t ON t.id = r.ticket_id JOIN subjects s ON s.id = t.subject_id
		WHERE 1 = 1`+page+`
		ORDER BY r.rank DESC, r.ticket_id DESC LIMIT ?`), args...)
	return hits, err
}

// searchWord is a word of a query, and whether it may match as a prefix: when its last run of
// letters and digits is three long or more.
type searchWord struct {
	text   string
	prefix bool
}

// searchWords reads a query's words: runs of letters, digits and the characters that join the
// parts of a domain, an address or a compound ("dominio-1.pt", "ana@example.pt",
// "palavra-passe"); anything else, quotes, brackets and operators among them, separates words.
// A word must hold a letter or a digit; the first searchMaxTerms count.
func searchWords(text string) []searchWord {
	var words []searchWord
	for _, w := range strings.FieldsFunc(text, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(".-_@/'+", r)
	}) {
		if len(words) == searchMaxTerms {
			break
		}
		tail, alnum := 0, false
		for _, r := range w {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				tail++
				alnum = true
			} else {
				tail = 0
			}
		}
		if alnum {
			words = append(words, searchWord{text: w, prefix: tail >= 3})
		}
	}
	return words
}

// tsQuery writes words as a to_tsquery text: each a quoted operand (quote and backslash
// escaped), with prefix ":*" for a word that may be one, ANDed.
func tsQuery(words []searchWord, prefix bool) string {
	terms := make([]string, 0, len(words))
	for _, w := range words {
		term := "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(w.text) + "'"
		if prefix && w.prefix {
			term += ":*"
		}
		terms = append(terms, term)
	}
	return strings.Join(terms, " & ")
}

// fts5Query writes words as an FTS5 query: each a double-quoted string, with prefix "*" for a
// word that may be one, ANDed.
func fts5Query(words []searchWord, prefix bool) string {
	terms := make([]string, 0, len(words))
	for _, w := range words {
		term := `"` + strings.ReplaceAll(w.text, `"`, `""`) + `"`
		if prefix && w.prefix {
			term += "*"
		}
		terms = append(terms, term)
	}
	return strings.Join(terms, " AND ")
}

// markedSnippet reads a snippet whose matches the database wrapped in markStart and markStop:
// the text without the marks, on one line, and where the matches are.
func markedSnippet(raw string) (string, []Highlight) {
	var (
		b     strings.Builder
		hl    []Highlight
		n     int
		open  = -1
		space = false
	)
	for _, r := range raw {
		switch {
		case r == markStart:
			open = n
		case r == markStop:
			if open >= 0 && n > open {
				hl = append(hl, Highlight{Start: open, End: n})
			}
			open = -1
		case unicode.IsSpace(r):
			if !space && n > 0 {
				b.WriteByte(' ')
				n++
			}
			space = true
		case unicode.IsControl(r):
		default:
			b.WriteRune(r)
			n++
			space = false
		}
	}
	return strings.TrimRightFunc(b.String(), unicode.IsSpace), hl
}

// openingSnippet is the beginning of a message, on one line, cut at a word.
func openingSnippet(body string) string {
	const max = 160
	text, _ := markedSnippet(body)
	if utf8.RuneCountInString(text) <= max {
		return text
	}
	runes := []rune(text)[:max]
	if i := strings.LastIndexByte(string(runes), ' '); i > max/2 {
		return string(runes)[:i] + " …"
	}
	return string(runes) + " …"
}
