package metrics

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

var descParts = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

// An operator writes alerts and dashboards from the documentation: every family /metrics can
// show is named there, with its labels, on one line of the table in docs/scaling.md.
func TestEveryMetricFamilyIsDocumentedWithItsLabels(t *testing.T) {
	data, err := os.ReadFile("../docs/scaling.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if name, ok := strings.CutPrefix(line, "| `assistd_"); ok {
			name, _, _ = strings.Cut(name, "`")
			rows["assistd_"+name] = line
		}
	}
	cs := append([]prometheus.Collector{NewQueueCollector(nil)}, own...)
	seen := map[string]bool{}
	for _, c := range cs {
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := descParts.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read %s", d)
			}
			name := m[1]
			seen[name] = true
			row, ok := rows[name]
			if !ok {
				t.Errorf("%s is not in the metrics table of docs/scaling.md", name)
				continue
			}
			if m[2] == "" {
				continue
			}
			for _, label := range strings.Split(m[2], ",") {
				if !strings.Contains(row, "`"+label+"`") {
					t.Errorf("docs/scaling.md does not name the label %s of %s", label, name)
				}
			}
		}
	}
	for name := range rows {
		if !seen[name] {
			t.Errorf("docs/scaling.md documents %s, which no collector has", name)
		}
	}
}
