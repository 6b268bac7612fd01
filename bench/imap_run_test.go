package bench

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestRunIMAP runs the IMAP bench when ASSISTD_BENCH_IMAP is set (it takes about a minute).
func TestRunIMAP(t *testing.T) {
	if os.Getenv("ASSISTD_BENCH_IMAP") == "" {
		t.Skip("set ASSISTD_BENCH_IMAP=1 to run the IMAP bench")
	}
	rep, err := RunIMAP(context.Background(), IMAPConfig{DatabaseURL: os.Getenv("ASSISTD_BENCH_DATABASE_URL"), IdleFor: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.String())
}
