package storage_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/assistd/assistd/storage"
)

func TestUnsealedErrorNamesItsTicketsAndShortensALongList(t *testing.T) {
	cause := errors.New("cannot open")
	few := &storage.UnsealedError{TicketIDs: []int64{3, 7}, Err: cause}
	if got := few.Error(); !strings.Contains(got, "2 live password(s)") || !strings.Contains(got, "[3 7]") || !errors.Is(few, cause) {
		t.Fatalf("%q", got)
	}
	all := &storage.UnsealedError{Err: cause}
	for id := range int64(5000) {
		all.TicketIDs = append(all.TicketIDs, id+1)
	}
	if got := all.Error(); len(got) > 300 || !strings.Contains(got, "5000 live password(s)") || !strings.Contains(got, "19 20] and 4980 more") {
		t.Fatalf("%d bytes: %.300q", len(got), got)
	}
}
