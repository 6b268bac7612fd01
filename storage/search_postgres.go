package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
)

// Staff search on Postgres: the newest matching documents within reach (the window), ranked.

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
	// Ticket ids per document within reach, going by the glance; the density of matches is per
	// ticket id.
	perDoc := float64(glance.Last.Int64-glance.First.Int64+1) / float64(glance.Count)
	if !terms.prefix {
		return s.searchBuckets(ctx, query, reach, glance.Last.Int64, float64(len(ids))/float64(glance.Count)/perDoc)
	}
	if terms.whole != "" {
		// Whether the whole words' documents are few enough to read is asked once, within reach:
		// within any span of it they are fewer still.
		few, err := s.fewMatch(ctx, terms.whole, reach)
		if err != nil {
			return nil, err
		}
		if !few {
			terms.whole = ""
		}
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
		// The documents holding the whole words are read, and those holding the rest kept.
		var ids []int64
		err := s.db.SelectContext(ctx, &ids, s.q(`WITH c AS MATERIALIZED (SELECT x.ticket_id, x.document FROM ticket_search x
				WHERE x.document @@ `+tsQueryArg+` AND `+cond+span+`)
			SELECT c.ticket_id FROM c WHERE c.document @@ `+tsQueryArg+`
			ORDER BY c.ticket_id DESC LIMIT `+strconv.Itoa(searchWindow)), s.planned(append(append([]any{terms.whole}, args...), terms.query))...)
		return ids, err
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
// prefixes and others not, the whole words alone ("" otherwise, and once their documents are
// known to be too many to read: see fewMatch).
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

// fewMatch tells whether the planner expects at most searchFew documents within reach to hold a
// query's whole words. A prefix of an everyday word has the GIN index gather every
// document with a word it begins (184,000 for "seguranca:*", 57 ms) even when the query's other
// word is in a hundred; the documents holding the whole words are then fewer to read. The
// planner's statistics count whole words well (its guesses go wrong for prefixes and for words
// it has not seen, which are rare).
func (s *Store) fewMatch(ctx context.Context, whole string, reach Reach) (bool, error) {
	cond, args := reach.clause("x.department_id")
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
