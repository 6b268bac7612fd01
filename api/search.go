package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/assistd/assistd/storage"
)

// Staff search: GET /api/v1/staff/search?q=&next= within the caller's departments.

const (
	defaultSearchLimit = 20
	maxSearchLimit     = 100
)

type searchResultJSON struct {
	Number     string              `json:"number"`
	Subject    string              `json:"subject"`
	Status     string              `json:"status"`
	Snippet    string              `json:"snippet"`
	Highlights []storage.Highlight `json:"highlights"`
	UpdatedAt  time.Time           `json:"updated_at"`
}

// searchRequest reads and checks a search's parameters: q, next and limit. Its problems are by
// field, for a validation_failed answer.
func searchRequest(r *http.Request, reach storage.Reach) (storage.SearchQuery, map[string]string) {
	v := r.URL.Query()
	sq := storage.SearchQuery{Text: v.Get("q"), Reach: reach, Limit: defaultSearchLimit, After: v.Get("next")}
	fields := map[string]string{}
	switch n := utf8.RuneCountInString(strings.TrimSpace(sq.Text)); {
	case !utf8.ValidString(sq.Text):
		fields["q"] = "q is text (UTF-8)"
	case n == 0:
		fields["q"] = "q is the words to search for"
	case n > storage.MaxSearchRunes:
		fields["q"] = "q is limited to " + strconv.Itoa(storage.MaxSearchRunes) + " characters"
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxSearchLimit {
			fields["limit"] = "limit is a number from 1 to " + strconv.Itoa(maxSearchLimit)
		}
		sq.Limit = n
	}
	return sq, fields
}

func (s *Server) staffSearch(w http.ResponseWriter, r *http.Request) {
	sq, fields := searchRequest(r, s.reach(r))
	if len(fields) > 0 {
		validationFailed(w, fields)
		return
	}
	page, err := s.store.Search(r.Context(), sq)
	if errors.Is(err, storage.ErrBadSearchCursor) {
		validationFailed(w, map[string]string{"next": "use the next value of the previous page of the same search"})
		return
	}
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := make([]searchResultJSON, 0, len(page.Hits))
	for _, h := range page.Hits {
		hl := h.Highlights
		if hl == nil {
			hl = []storage.Highlight{}
		}
		out = append(out, searchResultJSON{Number: h.Number, Subject: h.SubjectName, Status: string(h.Status), Snippet: h.Snippet,
			Highlights: hl, UpdatedAt: h.UpdatedAt.UTC()})
	}
	var next *string
	if page.Next != "" {
		next = &page.Next
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out, "next": next})
}
