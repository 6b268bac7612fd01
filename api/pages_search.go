package api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/assistd/assistd/storage"
)

const staffSearchLimit = 25

type staffSearchPage struct {
	Query string
	Error string
	Hits  []searchHitView
	First string // the first page's URL, on a later page
	Next  string // the next page's URL, when there is one
}

// searchHitView is a search result as the console shows it: its snippet in parts, the matched
// ones to be marked. The parts are text, escaped as any other, so nothing in a message can
// become markup.
type searchHitView struct {
	storage.SearchHit
	Parts []snippetPart
}

type snippetPart struct {
	Text  string
	Match bool
}

// snippetParts cuts a snippet at its highlights.
func snippetParts(h storage.SearchHit) []snippetPart {
	r := []rune(h.Snippet)
	var parts []snippetPart
	at := 0
	for _, m := range h.Highlights {
		if m.Start < at || m.End > len(r) || m.Start >= m.End {
			continue
		}
		if m.Start > at {
			parts = append(parts, snippetPart{Text: string(r[at:m.Start])})
		}
		parts = append(parts, snippetPart{Text: string(r[m.Start:m.End]), Match: true})
		at = m.End
	}
	if at < len(r) {
		parts = append(parts, snippetPart{Text: string(r[at:])})
	}
	return parts
}

// staffSearchPage searches the tickets of the member's departments, a page at a time. A
// request number that finds its ticket opens it.
func (s *Server) staffSearchPage(q *request) {
	v := q.r.URL.Query()
	p := staffSearchPage{Query: v.Get("q")}
	text := strings.TrimSpace(p.Query)
	after := v.Get("next")
	switch n := utf8.RuneCountInString(text); {
	case !utf8.ValidString(text):
		p.Error = translate(q.lang, "staff.search.invalid")
	case n > storage.MaxSearchRunes:
		p.Error = translate(q.lang, "staff.search.too_long", storage.MaxSearchRunes)
	case n > 0:
		sq := storage.SearchQuery{Text: text, Reach: s.reach(q.r), Limit: staffSearchLimit, After: after}
		page, err := s.store.Search(q.ctx(), sq)
		if errors.Is(err, storage.ErrBadSearchCursor) {
			// A cursor that does not parse shows the first page, as in the queues.
			sq.After, after = "", ""
			page, err = s.store.Search(q.ctx(), sq)
		}
		if err != nil {
			s.pageError(q, err)
			return
		}
		if number := strings.TrimPrefix(text, "#"); after == "" && len(page.Hits) == 1 && page.Hits[0].Number == number {
			http.Redirect(q.w, q.r, "/staff/tickets/"+url.PathEscape(number), http.StatusSeeOther)
			return
		}
		for _, h := range page.Hits {
			if q.lang == "en" {
				h.SubjectName = h.SubjectNameEn
			}
			p.Hits = append(p.Hits, searchHitView{SearchHit: h, Parts: snippetParts(h)})
		}
		if after != "" {
			p.First = "/staff/search?" + url.Values{"q": {text}}.Encode()
		}
		if page.Next != "" {
			p.Next = "/staff/search?" + url.Values{"q": {text}, "next": {page.Next}}.Encode()
		}
	}
	s.render(q.w, q.r, http.StatusOK, "staff_search", s.newView(q, "staff.search.title", p))
}
