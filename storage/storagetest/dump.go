package storagetest

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/assistd/assistd/storage"
)

// Dump returns everything a database holds as text, for tests that look for what must be gone:
// on Postgres the output of pg_dump when it is installed, and on both databases every row of
// every table (bytes as text): the search documents too, and on SQLite the FTS5 index's own
// tables (ticket_search_data, _idx, _content, _docsize), which are tables of the file.
func Dump(t testing.TB, st *storage.Store) string {
	t.Helper()
	var b strings.Builder
	db := st.DB()
	var tables []string
	query := `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	if st.Postgres() {
		query = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
		if _, err := exec.LookPath("pg_dump"); err == nil {
			b.WriteString(pgDump(t, st))
		}
	}
	if err := db.Select(&tables, query); err != nil {
		t.Fatalf("dump: %v", err)
	}
	for _, table := range tables {
		rows, err := db.Queryx(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		for rows.Next() {
			vals, err := rows.SliceScan()
			if err != nil {
				t.Fatalf("dump %s: %v", table, err)
			}
			b.WriteString(table)
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, "\t%v", v)
			}
			b.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		rows.Close()
	}
	return b.String()
}

// pgDump runs pg_dump on the store's database, reached as ASSISTD_TEST_DATABASE_URL names its
// server.
func pgDump(t testing.TB, st *storage.Store) string {
	t.Helper()
	var name string
	if err := st.DB().Get(&name, `SELECT current_database()`); err != nil {
		t.Fatalf("dump: %v", err)
	}
	u, err := url.Parse(os.Getenv("ASSISTD_TEST_DATABASE_URL"))
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	u.Path = "/" + name
	out, err := exec.Command("pg_dump", "--no-owner", u.String()).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return string(out)
}
