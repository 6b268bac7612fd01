package storage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
)

// growing are the tables that grow with every ticket; the catalog (subjects, departments) stays
// a few dozen rows.
var growing = []string{"tickets", "messages", "status_changes", "ticket_passwords", "outbox", "customers", "customer_domains"}

// The plans Postgres keeps for the grouped statements are made once, possibly on empty tables,
// and kept while the tables grow: each must reach every growing table by key (an index condition),
// never by reading it whole, or through a partial index read whole.
func TestGroupedStatementsKeepPlansThatReachGrowingTablesByKey(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		if !st.Postgres() {
			t.Skip("SQLite plans each statement when it runs")
		}
		ctx := context.Background()
		conn, err := st.DB().Connx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, q := range storage.GroupedSession {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		// Every index of a growing table, by name.
		var indexes []string
		if err := conn.SelectContext(ctx, &indexes, `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ANY($1)`, growing); err != nil {
			t.Fatal(err)
		}
		growingIndex := map[string]bool{}
		for _, ix := range indexes {
			growingIndex[ix] = true
		}
		var params = regexp.MustCompile(`\$([0-9]+)`)
		for name, query := range storage.GroupedStatements {
			n := 0
			for _, m := range params.FindAllStringSubmatch(query, -1) {
				var k int
				fmt.Sscan(m[1], &k)
				n = max(n, k)
			}
			if _, err := conn.ExecContext(ctx, "PREPARE grouped AS "+query); err != nil {
				t.Fatalf("%s: prepare: %v", name, err)
			}
			var out string
			err := conn.GetContext(ctx, &out, "EXPLAIN (FORMAT JSON) EXECUTE grouped("+strings.TrimSuffix(strings.Repeat("NULL, ", n), ", ")+")")
			if _, derr := conn.ExecContext(ctx, "DEALLOCATE grouped"); derr != nil {
				t.Fatal(derr)
			}
			if err != nil {
				t.Fatalf("%s: explain: %v", name, err)
			}
			var plans []struct{ Plan planNode }
			if err := json.Unmarshal([]byte(out), &plans); err != nil || len(plans) != 1 {
				t.Fatalf("%s: plan %q: %v", name, out, err)
			}
			keyed := 0
			for _, bad := range unkeyedScans(plans[0].Plan, growingIndex, &keyed) {
				t.Errorf("%s: %s", name, bad)
			}
			if keyed == 0 && name != "intake" {
				t.Errorf("%s: no keyed scan of a growing table in its plan; the check saw nothing", name)
			}
		}
	})
}

type planNode struct {
	NodeType  string     `json:"Node Type"`
	Relation  string     `json:"Relation Name"`
	Index     string     `json:"Index Name"`
	IndexCond string     `json:"Index Cond"`
	Plans     []planNode `json:"Plans"`
}

// unkeyedScans lists the scans of growing tables that have no index condition, counting the
// keyed ones.
func unkeyedScans(n planNode, growingIndex map[string]bool, keyed *int) []string {
	var bad []string
	onGrowing := n.Index != "" && growingIndex[n.Index]
	for _, t := range growing {
		onGrowing = onGrowing || n.Relation == t
	}
	switch {
	case !onGrowing:
	case n.NodeType == "Seq Scan":
		bad = append(bad, "reads "+n.Relation+" whole")
	case strings.Contains(n.NodeType, "Index"):
		if n.IndexCond == "" {
			bad = append(bad, fmt.Sprintf("%s of %s with no key", n.NodeType, n.Index))
		} else {
			*keyed++
		}
	}
	for _, c := range n.Plans {
		bad = append(bad, unkeyedScans(c, growingIndex, keyed)...)
	}
	return bad
}

// Session settings are statements every connection runs when it opens (so that a pooler in
// session mode passes them on): relaxed commits on the deliveries' pool, kept index-only plans
// on the grouped statements' connections of either pool, and neither anywhere else.
func TestConnectionsRunTheirSessionSettings(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		if b.Name != "postgres" {
			continue
		}
		ctx := context.Background()
		main := storagetest.Open(t, b)
		relaxed, err := storage.Open(ctx, b.URL, storage.RelaxedCommit())
		if err != nil {
			t.Fatal(err)
		}
		defer relaxed.Close()
		show := func(db interface {
			GetContext(context.Context, any, string, ...any) error
		}, setting string) string {
			t.Helper()
			var v string
			if err := db.GetContext(ctx, &v, "SHOW "+setting); err != nil {
				t.Fatal(err)
			}
			return v
		}
		for _, c := range []struct {
			name                 string
			got                  func(string) string
			commit, plans, scans string
		}{
			{"main pool", func(s string) string { return show(main.DB(), s) }, "on", "auto", "on"},
			{"grouped statements", func(s string) string { return show(main.GroupedDB(), s) }, "on", "force_generic_plan", "off"},
			{"deliveries' pool", func(s string) string { return show(relaxed.DB(), s) }, "off", "auto", "on"},
			{"deliveries' grouped statements", func(s string) string { return show(relaxed.GroupedDB(), s) }, "off", "force_generic_plan", "off"},
		} {
			if got := c.got("synchronous_commit"); got != c.commit {
				t.Errorf("%s: synchronous_commit %s, want %s", c.name, got, c.commit)
			}
			if got := c.got("plan_cache_mode"); got != c.plans {
				t.Errorf("%s: plan_cache_mode %s, want %s", c.name, got, c.plans)
			}
			if got := c.got("enable_seqscan"); got != c.scans {
				t.Errorf("%s: enable_seqscan %s, want %s", c.name, got, c.scans)
			}
		}
	}
}
