package storage_test

import (
	"context"
	"strings"
	"sync"
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
			ok, err := st.SessionRevoked(ctx, key, "customer", "ana", time.Now())
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

func TestSigningOutEverywhereRefusesTheSubjectsEarlierSessionsOnly(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		revoked := func(kind, subject string, began time.Time) bool {
			t.Helper()
			ok, err := st.SessionRevoked(ctx, "nonce-"+subject, kind, subject, began)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		before := time.Now().Add(-time.Hour)
		cutoff, err := st.RevokeSessionsOf(ctx, "customer", "ana", 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		after := cutoff.Add(time.Microsecond)
		if !revoked("customer", "ana", before) || !revoked("customer", "ana", cutoff.Add(-time.Microsecond)) {
			t.Error("a session of ana begun before the cutoff is still valid")
		}
		if revoked("customer", "ana", cutoff) || revoked("customer", "ana", after) {
			t.Error("a session of ana begun at or after the cutoff is refused")
		}
		if revoked("customer", "bruno", before) || revoked("staff", "ana", before) {
			t.Error("another subject's session, or a staff member of the same name, is refused")
		}
		// Again later: the cutoff moves on, and sessions begun in between are refused too.
		time.Sleep(2 * time.Millisecond)
		if _, err := st.RevokeSessionsOf(ctx, "customer", "ana", 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if !revoked("customer", "ana", after) {
			t.Error("a session begun between two cutoffs is still valid")
		}
		// Cutoffs older than the longest session are forgotten by the next revocation.
		if _, err := st.RevokeSessionsOf(ctx, "staff", "joao", time.Nanosecond); err != nil {
			t.Fatal(err)
		}
		var rows int
		if err := st.DB().GetContext(ctx, &rows, `SELECT COUNT(*) FROM session_cutoffs`); err != nil {
			t.Fatal(err)
		}
		if rows != 1 || !revoked("staff", "joao", before) {
			t.Fatalf("%d cutoffs kept, want only the newest", rows)
		}
	})
}

func TestSigningOutEverywhereNeverMovesAnEarlierCallsCutoffBack(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		// Another instance, whose clock runs a second ahead, has just signed ana out everywhere.
		ahead := time.Now().UTC().Add(time.Second).Truncate(time.Microsecond)
		if _, err := st.DB().ExecContext(ctx, st.DB().Rebind(`INSERT INTO session_cutoffs (kind, subject, not_before) VALUES ('customer', 'ana', ?)`), ahead); err != nil {
			t.Fatal(err)
		}
		cutoff, err := st.RevokeSessionsOf(ctx, "customer", "ana", 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		between := cutoff.Add(ahead.Sub(cutoff) / 2)
		revoked, err := st.SessionRevoked(ctx, "nonce", "customer", "ana", between)
		if err != nil {
			t.Fatal(err)
		}
		if !revoked {
			t.Fatal("a session begun before the other instance's cutoff is valid again after a second sign-out")
		}
	})
}

func TestASignInLinkIsFirstUsedOnceEvenByManyAtOnceAndForgottenAfterItExpires(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		const users = 12
		used := make([]time.Time, users)
		firsts := make([]bool, users)
		errs := make([]error, users)
		var wg sync.WaitGroup
		for i := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				firsts[i], used[i], errs[i] = st.UseSignInLink(ctx, "link-a", time.Now().Add(time.Hour))
			}()
		}
		wg.Wait()
		n := 0
		for i := range users {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if !used[i].Equal(used[0]) || used[i].IsZero() {
				t.Fatalf("uses at once saw first uses %v and %v, want one", used[0], used[i])
			}
			if firsts[i] {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d of %d uses at once were first, want 1", n, users)
		}
		time.Sleep(20 * time.Millisecond)
		if first, again, err := st.UseSignInLink(ctx, "link-a", time.Now().Add(time.Hour)); err != nil || first || !again.Equal(used[0]) {
			t.Fatalf("link-a later: first %v, first used %v, want %v (%v)", first, again, used[0], err)
		}
		// Forgotten a minute after it expires: the minute covers instances whose clocks differ.
		if _, _, err := st.UseSignInLink(ctx, "link-b", time.Now().Add(-30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.UseSignInLink(ctx, "link-c", time.Now().Add(-2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.UseSignInLink(ctx, "link-d", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		var hashes []string
		if err := st.DB().SelectContext(ctx, &hashes, `SELECT token_hash FROM used_sign_in_links ORDER BY token_hash`); err != nil {
			t.Fatal(err)
		}
		if strings.Join(hashes, ",") != "link-a,link-b,link-d" {
			t.Fatalf("links kept: %v, want link-a, link-b (expired less than a minute ago) and link-d", hashes)
		}
	})
}
