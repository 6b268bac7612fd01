package sla

import (
	"testing"
	"time"
)

var lisbon = mustLocation("Europe/Lisbon")

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// at is a wall-clock time in Lisbon, "2026-12-04 19:00".
func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, lisbon)
	if err != nil {
		panic(err)
	}
	return t
}

func hoursOf(t *testing.T, doc HoursDocument) *Hours {
	t.Helper()
	p, problems := Document{FirstResponse: "1h", Hours: &doc}.Policy()
	if len(problems) != 0 {
		t.Fatalf("timetable refused: %v", problems)
	}
	return p.Hours
}

var office = HoursDocument{Timezone: "Europe/Lisbon", Holidays: HolidaysPT, Week: map[string][]string{
	"mon": {"09:00-13:00", "14:00-18:00"}, "tue": {"09:00-13:00", "14:00-18:00"}, "wed": {"09:00-13:00", "14:00-18:00"},
	"thu": {"09:00-13:00", "14:00-18:00"}, "fri": {"09:00-13:00", "14:00-18:00"}, "sat": {}, "sun": {}}}

func TestAddCountsBusinessTimeOnly(t *testing.T) {
	withEve := office
	withEve.Closed = []string{"2026-12-24"}
	lateShift := HoursDocument{Timezone: "Europe/Lisbon", Week: map[string][]string{"fri": {"20:00-24:00"}, "mon": {"09:00-10:00"}}}
	sundays := HoursDocument{Timezone: "Europe/Lisbon", Week: map[string][]string{"sun": {"00:00-24:00"}, "mon": {"09:00-18:00"}}}
	cases := []struct {
		name  string
		hours HoursDocument
		from  string
		add   time.Duration
		want  string
	}{
		{"a ticket inside the morning is due later the same morning", office, "2026-12-09 09:30", time.Hour, "2026-12-09 10:30"},
		{"a ticket at lunch starts counting at two", office, "2026-12-09 13:30", 90 * time.Minute, "2026-12-09 15:30"},
		{"a target that spans lunch skips the lunch hour", office, "2026-12-09 12:00", 2 * time.Hour, "2026-12-09 15:00"},
		{"a target that ends exactly at closing is due at closing", office, "2026-12-09 17:00", time.Hour, "2026-12-09 18:00"},
		{"a ticket on a Friday evening is due on Monday morning", office, "2026-12-04 19:00", 4 * time.Hour, "2026-12-07 13:00"},
		{"a ticket on a holiday eve skips the holiday (8 December)", office, "2026-12-07 17:00", 4 * time.Hour, "2026-12-09 12:00"},
		{"a ticket before Christmas skips a closed Christmas Eve, Christmas and the weekend", withEve, "2026-12-23 17:00", 2 * time.Hour, "2026-12-28 10:00"},
		{"a ticket before Good Friday 2026 is due after Easter", office, "2026-04-02 17:00", 2 * time.Hour, "2026-04-06 10:00"},
		{"a ticket before Corpus Christi 2025 skips it", office, "2025-06-18 17:00", 2 * time.Hour, "2025-06-20 10:00"},
		{"a ticket before Good Friday 2027 is due after Easter", office, "2027-03-25 17:00", 2 * time.Hour, "2027-03-29 10:00"},
		{"a ticket over the March clock change in office hours counts wall-clock hours", office, "2026-03-27 17:00", 2 * time.Hour, "2026-03-30 10:00"},
		{"a Sunday of the March change holds 23 hours", sundays, "2026-03-28 23:00", 24 * time.Hour, "2026-03-30 10:00"},
		{"a Sunday of the October change holds 25 hours", sundays, "2026-10-25 00:00", 24 * time.Hour, "2026-10-25 23:00"},
		{"an interval that ends at midnight runs to midnight", lateShift, "2026-12-04 22:00", 2 * time.Hour, "2026-12-05 00:00"},
		{"an interval that ends at midnight carries over to the next open day", lateShift, "2026-12-04 23:00", 2 * time.Hour, "2026-12-07 10:00"},
		{"a ticket on a holiday waits for the next working day", office, "2026-06-10 10:00", 30 * time.Minute, "2026-06-11 09:30"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := hoursOf(t, c.hours)
			got := h.Add(at(c.from), c.add)
			if want := at(c.want); !got.Equal(want) {
				t.Fatalf("Add(%s, %s) = %s, want %s", c.from, c.add, got.In(lisbon), want)
			}
			if back := h.Between(at(c.from), got); back != c.add {
				t.Fatalf("Between(%s, %s) = %s, want %s", c.from, got.In(lisbon), back, c.add)
			}
		})
	}
}

func TestBetweenCountsBusinessTimeOnly(t *testing.T) {
	sundays := HoursDocument{Timezone: "Europe/Lisbon", Week: map[string][]string{"sun": {"00:00-24:00"}}}
	cases := []struct {
		name     string
		hours    HoursDocument
		from, to string
		want     time.Duration
	}{
		{"a whole working week holds forty hours", office, "2026-12-14 00:00", "2026-12-21 00:00", 40 * time.Hour},
		{"a week with a holiday holds thirty-two hours", office, "2026-11-30 00:00", "2026-12-07 00:00", 32 * time.Hour},
		{"a weekend holds nothing", office, "2026-12-05 08:00", "2026-12-06 20:00", 0},
		{"the March change Sunday holds 23 hours", sundays, "2026-03-29 00:00", "2026-03-30 00:00", 23 * time.Hour},
		{"the October change Sunday holds 25 hours", sundays, "2026-10-25 00:00", "2026-10-26 00:00", 25 * time.Hour},
		{"an end before the start is negative", office, "2026-12-09 11:00", "2026-12-09 10:00", -time.Hour},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := hoursOf(t, c.hours).Between(at(c.from), at(c.to)); got != c.want {
				t.Fatalf("Between = %s, want %s", got, c.want)
			}
		})
	}
}

func TestRoundTheClockIsWallTime(t *testing.T) {
	var h *Hours
	from := at("2026-03-28 23:00")
	if got := h.Add(from, 24*time.Hour); !got.Equal(from.Add(24 * time.Hour)) {
		t.Fatalf("round the clock Add = %s", got)
	}
	if got := h.Between(from, from.Add(90*time.Minute)); got != 90*time.Minute {
		t.Fatalf("round the clock Between = %s", got)
	}
}

func TestPortugueseHolidaysFollowEaster(t *testing.T) {
	cases := []struct {
		name                 string
		year                 int
		easter, good, corpus string
	}{
		{"in 2024 Easter is on 31 March", 2024, "2024-03-31", "2024-03-29", "2024-05-30"},
		{"in 2025 Easter is on 20 April", 2025, "2025-04-20", "2025-04-18", "2025-06-19"},
		{"in 2026 Easter is on 5 April", 2026, "2026-04-05", "2026-04-03", "2026-06-04"},
		{"in 2027 Easter is on 28 March", 2027, "2027-03-28", "2027-03-26", "2027-05-27"},
		{"in 2038 Easter falls on Freedom Day", 2038, "2038-04-25", "2038-04-23", "2038-06-24"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Easter(c.year).String(); got != c.easter {
				t.Fatalf("Easter(%d) = %s, want %s", c.year, got, c.easter)
			}
			days := map[string]bool{}
			for _, d := range PortugueseHolidays(c.year) {
				days[d.String()] = true
			}
			for _, want := range []string{c.easter, c.good, c.corpus, "%d-01-01", "%d-04-25", "%d-12-08"} {
				if len(want) > 2 && want[0] == '%' {
					want = time.Date(c.year, 1, 1, 0, 0, 0, 0, time.UTC).Format("2006") + want[2:]
				}
				if !days[want] {
					t.Errorf("%s is not a holiday in %d: %v", want, c.year, days)
				}
			}
			if c.year != 2038 && len(days) != 13 {
				t.Errorf("%d has %d national holidays, want 13", c.year, len(days))
			}
		})
	}
}
