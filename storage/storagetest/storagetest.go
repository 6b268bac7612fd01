// Package storagetest gives tests a fresh, migrated database on every backend they should run
// on: SQLite always, and PostgreSQL too when ASSISTD_TEST_DATABASE_URL is set.
package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/assistd/assistd/storage"
)

// Backend is one database to run a test on.
type Backend struct {
	Name string
	URL  string
}

// Backends lists SQLite (a temporary file) and, when ASSISTD_TEST_DATABASE_URL is set, a fresh
// PostgreSQL database created for the test and dropped after it.
func Backends(t testing.TB) []Backend {
	t.Helper()
	bs := []Backend{{Name: "sqlite", URL: "sqlite:" + filepath.Join(t.TempDir(), "assistd.db")}}
	if pg := os.Getenv("ASSISTD_TEST_DATABASE_URL"); pg != "" {
		bs = append(bs, Backend{Name: "postgres", URL: freshPostgres(t, pg)})
	}
	return bs
}

// Open opens and migrates a backend's database, with the default catalog, closed at cleanup.
func Open(t testing.TB, b Backend) *storage.Store {
	t.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, b.URL)
	if err != nil {
		t.Fatalf("open %s: %v", b.Name, err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", b.Name, err)
	}
	if err := st.EnsureCatalog(ctx); err != nil {
		t.Fatalf("catalog %s: %v", b.Name, err)
	}
	return st
}

// Each runs fn as a subtest on every backend.
func Each(t *testing.T, fn func(t *testing.T, st *storage.Store)) {
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) { fn(t, Open(t, b)) })
	}
}

func freshPostgres(t testing.TB, base string) string {
	t.Helper()
	admin, err := sqlx.Open("pgx", base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer admin.Close()
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	name := "assistd_test_" + hex.EncodeToString(suffix)
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("postgres: create database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sqlx.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
