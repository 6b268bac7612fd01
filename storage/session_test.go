package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
)

func TestASessionSignedOutIsRevokedUntilItWouldHaveExpiredAndForgottenAfter(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		revoked := func(key string) bool {
			t.Helper()
			ok, err := st.SessionRevoked(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if err := st.RevokeSession(ctx, "soon", time.Now().Add(50*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if err := st.RevokeSession(ctx, "expired", time.Now().Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if !revoked("soon") || revoked("expired") || revoked("never-signed-out") {
			t.Fatalf("soon %v, expired %v, never signed out %v", revoked("soon"), revoked("expired"), revoked("never-signed-out"))
		}
		// Signing out twice is no error.
		if err := st.RevokeSession(ctx, "soon", time.Now().Add(50*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if err := st.RevokeSession(ctx, "later", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		var rows int
		if err := st.DB().GetContext(ctx, &rows, `SELECT COUNT(*) FROM revoked_sessions`); err != nil {
			t.Fatal(err)
		}
		if rows != 1 || !revoked("later") {
			t.Fatalf("%d sessions listed after the first expired, want only the one still valid", rows)
		}
	})
}
