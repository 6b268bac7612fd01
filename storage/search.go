package storage

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
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

	"github.com/jmoiron/sqlx"

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
//   - one matching fewer, but some, looks among as many of the newest documents within reach as
//     should hold the window one and a half times over, going by the glance, then four times as
//     many, up to searchSpan: up to searchWalk documents are read newest first by key, more
//     are asked of the GIN index (a common word's hundreds of thousands of entries would take
//     longer to gather than a few thousand documents to read);
//   - one matching none there, or not filling its window in that span, asks the GIN index for
//     its matches among all the documents within reach.
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

// tsQueryArg is the tsquery of a to_tsquery text given as an argument, with its phrase operators
// made ANDs. A compound ("palavra-passe", "e-mail") is read by to_tsquery as a phrase of itself
// and its parts, which the GIN index cannot answer alone: every document holding the three words
// anywhere is read again from the table to compare their positions (11,602 of them for "fatura
// palavra-passe" within one department, 330 ms). The compound is a word of its own in the
// documents, so requiring it and its parts finds what the phrase finds, from the index alone. No
// word of a query holds "<" or ">" (see searchWords), so only operators are replaced.
const tsQueryArg = `CAST(regexp_replace(CAST(to_tsquery('assistd_search', ?) AS text), '<[0-9-]+>', '&', 'g') AS tsquery)`

// searchTextPostgres ranks the newest searchWindow documents within reach that match a
// to_tsquery text. Every word is a quoted operand, which to_tsquery reads with the documents'
// own configuration (so "dominio-1.pt", an email or "palavra-passe" are the tokens the documents
// hold): no character of the query is an operator.
func (s *Store) searchTextPostgres(ctx context.Context, terms searchTerms, sq SearchQuery, after *searchCursor) ([]SearchHit, error) {
	query := terms.query
	window, err := s.searchWindowPostgres(ctx, terms, sq.Reach)
	if err != nil || len(window) == 0 {
		return nil, err
	}
	args := []any{query, window}
	page := ``
	if after != nil {
		page = ` WHERE r.rank < ? OR (r.rank = ? AND r.ticket_id < ?)`
		args = append(args, after.rank, after.rank, after.id)
	}
	args = append(args, sq.Limit+1, query)
	var hits []SearchHit
	err = s.db.SelectContext(ctx, &hits, s.q(`WITH ranked AS (
			SELECT x.ticket_id, CAST(ts_rank(x.document, `+tsQueryArg+`) AS float8) AS rank
			FROM ticket_search x WHERE x.ticket_id = ANY (?)),
		page AS (SELECT r.ticket_id, r.rank FROM ranked r`+page+` ORDER BY r.rank DESC, r.ticket_id DESC LIMIT ?)
		SELECT `+searchHitColumns+`, p.rank,
			ts_headline('assistd_search',
				translate(COALESCE((SELECT string_agg(left(m.body, 20000), E'\n' ORDER BY m.id) FROM messages m WHERE m.ticket_id = t.id), ''), E'\x01\x02', ''),
				`+tsQueryArg+`, E'StartSel=\x01, StopSel=\x02, MaxFragments=2, MaxWords=16, MinWords=6, FragmentDelimiter=" … "') AS snippet
		FROM page p JOIN tickets t ON t.id = p.ticket_id JOIN subjects s ON s.id = t.subject_id
		WHERE t.erasure_id IS NULL
		ORDER BY p.rank DESC, p.ticket_id DESC`), args...)
	return hits, err
}

// searchWindowPostgres returns the ids of the newest searchWindow tickets within reach whose
// documents match, newest first (see searchGlance).
func (s *Store) searchWindowPostgres(ctx context.Context, terms searchTerms, reach Reach) ([]int64, error) {
	query := terms.query
	newest, args := newestDocuments(reach, searchGlance)
	var glance struct {
		First sql.NullInt64 `db:"first"`
		Last  sql.NullInt64 `db:"last"`
		Count int           `db:"count"`
	}
	err := s.db.GetContext(ctx, &glance, s.q(`SELECT min(n.ticket_id) AS first, max(n.ticket_id) AS last, count(*) AS count
		FROM (`+newest+`) n`), s.planned(args)...)
	if err != nil || !glance.First.Valid {
		return nil, err
	}
	walk := func(docs int) ([]int64, error) {
		newest, args := newestDocuments(reach, docs)
		var ids []int64
		// Each document is read by its key, newest first, until the window is full: the lateral
		// subquery (kept apart by OFFSET 0) leaves the planner no other way, where a join would
		// let it gather every match from the GIN index when it thinks the words rare.
		err := s.db.SelectContext(ctx, &ids, s.q(`SELECT m.ticket_id FROM (`+newest+`) n,
			LATERAL (SELECT w.ticket_id FROM ticket_search w WHERE w.ticket_id = n.ticket_id
				AND w.document @@ `+tsQueryArg+` OFFSET 0) m
			ORDER BY n.ticket_id DESC LIMIT `+strconv.Itoa(searchWindow)), s.planned(append(args, query))...)
		return ids, err
	}
	ids, err := walk(searchGlance)
	if err != nil || len(ids) == searchWindow || glance.Count < searchGlance {
		// The window is full, or the glance read every document within reach.
		return ids, err
	}
	// Tickets within reach per ticket id, going by the glance.
	perDoc := float64(glance.Last.Int64-glance.First.Int64+1) / float64(glance.Count)
	if !terms.prefix {
		return s.searchBuckets(ctx, query, reach, glance.Last.Int64, float64(len(ids))/float64(glance.Count)/perDoc)
	}
	if len(ids) > 0 {
		// As many of the newest documents as should hold the window one and a half times over,
		// going by the glance, then four times as many while the window is not full.
		docs := searchWindow * searchGlance * 3 / (2 * len(ids))
		if docs <= searchWalk {
			ids, err := walk(docs)
			if err != nil || len(ids) == searchWindow {
				return ids, err
			}
			docs *= 4
		}
		// The ids they begin at are guessed from the glance's, tickets within reach being spread
		// evenly enough among the others.
		for ; docs <= searchSpan; docs *= 4 {
			from := glance.Last.Int64 - int64(perDoc*float64(docs))
			if from <= 0 {
				break
			}
			ids, err := s.searchMatches(ctx, terms, reach, from)
			if err != nil || len(ids) == searchWindow {
				return ids, err
			}
		}
	}
	return s.searchMatches(ctx, terms, reach, 0)
}

// Ticket ids in buckets, for the GIN index to answer a query among the newest tickets a bucket at
// a time (see searchBuckets): by 8,192 ids, or by 65,536 for a query the glance found few of.
var (
	searchFineBucket   = 13
	searchCoarseBucket = 16
)

// searchBuckets returns the ids of the newest searchWindow documents within reach that match a
// query of whole words, newest first, asking the GIN index for the matches of one bucket of
// ticket ids after another, newest first, until the window is full. Each bucket's documents are
// read from the table only where they match: where asking for all the matches at once reads
// every one of them (1,722 pages for a made-up word among a million tickets, 75 ms when they are
// not in the server's buffers) to keep the newest two hundred. Buckets are fine when the glance
// found the query often enough (density, matches per ticket id) that a coarse one would hold more
// matches than half a window, coarse otherwise: a bucket with no match still costs the index a
// look at each of the query's words.
func (s *Store) searchBuckets(ctx context.Context, query string, reach Reach, newest int64, density float64) ([]int64, error) {
	shift := searchCoarseBucket
	if density*float64(int64(1)<<searchCoarseBucket) > float64(searchWindow)/2 {
		shift = searchFineBucket
	}
	bucket := strconv.Itoa(shift)
	cond, args := reach.clause("x.department_id")
	var ids []int64
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		if err := bitmapsOnly(ctx, tx); err != nil {
			return err
		}
		// The nested loop runs the lateral subquery a bucket at a time, in the order of the
		// series, and stops at the window.
		return tx.SelectContext(ctx, &ids, s.q(`SELECT m.ticket_id FROM generate_series(CAST(? AS bigint) >> `+bucket+`, 0, -1) b (n),
			LATERAL (SELECT x.ticket_id FROM ticket_search x
				WHERE (x.ticket_id >> `+bucket+`) = b.n AND x.document @@ `+tsQueryArg+` AND `+cond+`
				ORDER BY x.ticket_id DESC) m
			LIMIT `+strconv.Itoa(searchWindow)), s.planned(append([]any{newest, query}, args...))...)
	})
	return ids, err
}

// bitmapsOnly has a transaction's statements answered by bitmaps of indexes alone: no walk of a
// whole index or table. Compiling a statement (JIT) would take longer than running it.
func bitmapsOnly(ctx context.Context, tx *sqlx.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_indexscan', 'off', true),
		set_config('work_mem', '16MB', true), set_config('jit', 'off', true)`)
	return err
}

// searchMatches returns the ids of the newest searchWindow documents within reach that match,
// among those from ticket id from on (all of them when from is 0), newest first. The GIN index
// on (department_id, document) gives the matches within reach, ANDed with a btree's for the
// span, so that only documents within both are read from the table: reading every match of two
// everyday words (one document in fifty, scattered over a table far larger than the server's
// buffers) to keep those of one department took ten times as long.
func (s *Store) searchMatches(ctx context.Context, terms searchTerms, reach Reach, from int64) ([]int64, error) {
	cond, args := reach.clause("x.department_id")
	span := ``
	if from > 0 {
		span = ` AND x.ticket_id >= ?`
		args = append(args, from)
	}
	if terms.whole != "" {
		few, err := s.fewMatch(ctx, terms.whole, cond+span, args)
		if err != nil {
			return nil, err
		}
		if few {
			// The documents holding the whole words are read, and those holding the rest kept.
			var ids []int64
			err := s.db.SelectContext(ctx, &ids, s.q(`WITH c AS MATERIALIZED (SELECT x.ticket_id, x.document FROM ticket_search x
					WHERE x.document @@ `+tsQueryArg+` AND `+cond+span+`)
				SELECT c.ticket_id FROM c WHERE c.document @@ `+tsQueryArg+`
				ORDER BY c.ticket_id DESC LIMIT `+strconv.Itoa(searchWindow)), s.planned(append(append([]any{terms.whole}, args...), terms.query))...)
			return ids, err
		}
	}
	cond += span
	args = append([]any{terms.query}, args...)
	var ids []int64
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		if err := bitmapsOnly(ctx, tx); err != nil {
			return err
		}
		return tx.SelectContext(ctx, &ids, s.q(`SELECT x.ticket_id FROM ticket_search x
			WHERE x.document @@ `+tsQueryArg+` AND `+cond+`
			ORDER BY x.ticket_id DESC LIMIT `+strconv.Itoa(searchWindow)), s.planned(args)...)
	})
	return ids, err
}

// searchTerms is a query as to_tsquery texts: the whole of it, and, when some of its words are
// prefixes and others not, the whole words alone ("" otherwise).
type searchTerms struct {
	query  string
	whole  string
	prefix bool // some words are matched as prefixes
}

// wholeWords is the to_tsquery text of the words of a query that are matched whole, when the
// query matches others as prefixes (prefix true, and some words may be); "" otherwise.
func wholeWords(words []searchWord, prefix bool) string {
	if !prefix {
		return ""
	}
	var whole []searchWord
	for _, w := range words {
		if !w.prefix {
			whole = append(whole, w)
		}
	}
	if len(whole) == 0 || len(whole) == len(words) {
		return ""
	}
	return tsQuery(whole, false)
}

// searchFew is how many documents, at most, are read to keep those that also hold a query's
// prefixes.
const searchFew = 2000

// fewMatch tells whether the planner expects at most searchFew documents within a condition to
// hold a query's whole words. A prefix of an everyday word has the GIN index gather every
// document with a word it begins (184,000 for "seguranca:*", 57 ms) even when the query's other
// word is in a hundred; the documents holding the whole words are then fewer to read. The
// planner's statistics count whole words well (its guesses go wrong for prefixes and for words
// it has not seen, which are rare).
func (s *Store) fewMatch(ctx context.Context, whole, cond string, args []any) (bool, error) {
	var plan []byte
	if err := s.db.GetContext(ctx, &plan, s.q(`EXPLAIN (FORMAT JSON) SELECT 1 FROM ticket_search x WHERE x.document @@ `+tsQueryArg+` AND `+cond),
		s.planned(append([]any{whole}, args...))...); err != nil {
		return false, err
	}
	var explained []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &explained); err != nil || len(explained) == 0 {
		return false, fmt.Errorf("storage: search: reading a plan: %v", err)
	}
	return explained[0].Plan.Rows <= searchFew, nil
}

// newestDocuments selects the ids of the newest documents within reach, newest first: each
// department's from its own index (department_id, ticket_id) alone, merged, where a walk of the
// primary key filtered by department would read every other department's documents too;
// every department's from the primary key for ReachAll.
func newestDocuments(reach Reach, docs int) (string, []any) {
	cond, reachArgs := reach.clause("x.department_id")
	limit := ` ORDER BY x.ticket_id DESC LIMIT ` + strconv.Itoa(docs)
	if reach.All || len(reach.Departments) == 0 {
		return `SELECT x.ticket_id FROM ticket_search x WHERE ` + cond + limit, reachArgs
	}
	var (
		parts []string
		args  []any
	)
	for _, d := range reach.Departments {
		parts = append(parts, `(SELECT x.ticket_id FROM ticket_search x WHERE x.department_id = ? AND `+cond+limit+`)`)
		args = append(append(args, d), reachArgs...)
	}
	return `SELECT x.ticket_id FROM (` + strings.Join(parts, ` UNION ALL `) + `) x` + limit, args
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
