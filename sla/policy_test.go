package sla

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestPolicyDocumentsAreCheckedFieldByField(t *testing.T) {
	cases := []struct {
		name  string
		doc   string
		field string // "" when valid
	}{
		{"the contract's example is valid", `{"first_response":"4h","next_response":"8h","resolution":"72h","warn_before":"30m",
			"hours":{"timezone":"Europe/Lisbon","holidays":"PT","week":{"mon":["09:00-13:00","14:00-18:00"],"sat":[],"sun":[]}}}`, ""},
		{"a policy without hours runs round the clock", `{"first_response":"45s"}`, ""},
		{"a duration in days is refused", `{"first_response":"2d"}`, "first_response"},
		{"a negative duration is refused", `{"resolution":"-4h"}`, "resolution"},
		{"a policy with no target is refused", `{"warn_before":"30m"}`, "first_response"},
		{"an unknown time zone is refused", `{"first_response":"4h","hours":{"timezone":"Europe/Porto","week":{"mon":["09:00-18:00"]}}}`, "hours.timezone"},
		{"an unknown holiday calendar is refused", `{"first_response":"4h","hours":{"timezone":"UTC","holidays":"ES","week":{"mon":["09:00-18:00"]}}}`, "hours.holidays"},
		{"a misspelt weekday is refused", `{"first_response":"4h","hours":{"timezone":"UTC","week":{"mon":["09:00-18:00"],"tues":[]}}}`, "hours.week.tues"},
		{"overlapping spans are refused", `{"first_response":"4h","hours":{"timezone":"UTC","week":{"mon":["09:00-13:00","12:00-18:00"]}}}`, "hours.week.mon"},
		{"a span past midnight is refused", `{"first_response":"4h","hours":{"timezone":"UTC","week":{"mon":["22:00-24:30"]}}}`, "hours.week.mon"},
		{"a week without open hours is refused", `{"first_response":"4h","hours":{"timezone":"UTC","week":{"sat":[]}}}`, "hours.week"},
		{"a closed day that is not a date is refused", `{"first_response":"4h","hours":{"timezone":"UTC","week":{"mon":["09:00-18:00"]},"closed":["24/12"]}}`, "hours.closed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var doc Document
			if err := json.Unmarshal([]byte(c.doc), &doc); err != nil {
				t.Fatal(err)
			}
			_, problems := doc.Policy()
			if c.field == "" && len(problems) != 0 {
				t.Fatalf("refused: %v", problems)
			}
			if c.field != "" && problems[c.field] == "" {
				t.Fatalf("problems %v do not name %s", problems, c.field)
			}
		})
	}
}

func TestAStoredPolicyReadsBackTheSame(t *testing.T) {
	doc := Document{FirstResponse: "90m", Resolution: "72h", WarnBefore: "45s", Hours: &HoursDocument{Timezone: "Europe/Lisbon",
		Holidays: HolidaysPT, Week: map[string][]string{"mon": {"14:00-18:00", "09:00-13:00"}}, Closed: []string{"2026-12-31", "2026-12-24"}}}
	p, problems := doc.Policy()
	if len(problems) != 0 {
		t.Fatal(problems)
	}
	again, problems := p.Document().Policy()
	if len(problems) != 0 {
		t.Fatal(problems)
	}
	if !reflect.DeepEqual(p.Document(), again.Document()) || p.FirstResponse != 90*time.Minute || p.WarnBefore != 45*time.Second {
		t.Fatalf("read back %+v, stored %+v", again.Document(), p.Document())
	}
	if got := p.Document().Hours.Week["mon"]; !reflect.DeepEqual(got, []string{"09:00-13:00", "14:00-18:00"}) {
		t.Fatalf("monday stored as %v", got)
	}
}
