package main

import (
	"context"
	"errors"
	"testing"
)

// The bench runs end to end on a small scale: every upload is accepted, on both stores.
func TestTheUploadBenchRuns(t *testing.T) {
	for _, store := range []string{"folder", "s3"} {
		t.Run(store, func(t *testing.T) {
			rep, err := Run(context.Background(), Config{Store: store, Uploads: 3, Size: 256 << 10, Rounds: 1})
			if errors.Is(err, ErrNoS3) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.Completed != 3 || len(rep.Rounds) != 1 || rep.PeakRSS == 0 {
				t.Fatalf("report: %+v", rep)
			}
		})
	}
}
