package storage

import (
	"testing"
	"time"
)

// Past its deadline a confidential file is removed in every view, whether or not the sweep has
// destroyed it yet.
func TestAConfidentialFileIsRemovedAtItsDeadlineWhateverTheSweep(t *testing.T) {
	deadline := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	a := Attachment{ID: "x", Confidential: true, ExpiresAt: &deadline}
	if a.AsAt(deadline.Add(-time.Second)).Removed() {
		t.Fatal("removed before its deadline")
	}
	if !a.AsAt(deadline).Removed() {
		t.Fatal("not removed at its deadline")
	}
	files := AttachmentsAsAt(map[int64][]Attachment{1: {a, {ID: "y"}}}, deadline.Add(time.Hour))
	if !files[1][0].Removed() || files[1][1].Removed() {
		t.Fatalf("thread at a later time: %+v", files[1])
	}
}
