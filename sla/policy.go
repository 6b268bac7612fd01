package sla

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Targets a policy sets; they name the clocks of a ticket and its breaches.
const (
	FirstResponse = "first_response"
	NextResponse  = "next_response"
	Resolution    = "resolution"
)

// Policy is a department's service level: how much business time each response and the
// resolution may take, and how long before a due time its warning goes out. A zero target sets
// no clock.
type Policy struct {
	FirstResponse time.Duration
	NextResponse  time.Duration
	Resolution    time.Duration
	WarnBefore    time.Duration
	Hours         *Hours // nil: round the clock
}

// Document is a policy as the API and the database hold it.
type Document struct {
	FirstResponse string         `json:"first_response"`
	NextResponse  string         `json:"next_response"`
	Resolution    string         `json:"resolution"`
	WarnBefore    string         `json:"warn_before"`
	Hours         *HoursDocument `json:"hours"`
}

// HoursDocument is business hours as the API and the database hold them.
type HoursDocument struct {
	Timezone string              `json:"timezone"`
	Holidays string              `json:"holidays,omitempty"`
	Week     map[string][]string `json:"week"`
	Closed   []string            `json:"closed,omitempty"`
}

// HolidaysPT names Portugal's national public holidays in a HoursDocument.
const HolidaysPT = "PT"

// weekdays are the keys of a timetable's week, by time.Weekday.
var weekdays = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// Policy reads a document. problems names each field that is wrong (as the API's field
// errors do: "first_response", "hours.week.mon", …); the policy is valid when it is empty.
func (doc Document) Policy() (p Policy, problems map[string]string) {
	problems = map[string]string{}
	targets := []struct {
		name string
		text string
		into *time.Duration
	}{
		{FirstResponse, doc.FirstResponse, &p.FirstResponse},
		{NextResponse, doc.NextResponse, &p.NextResponse},
		{Resolution, doc.Resolution, &p.Resolution},
		{"warn_before", doc.WarnBefore, &p.WarnBefore},
	}
	for _, t := range targets {
		if t.text == "" {
			continue
		}
		d, err := ParseDuration(t.text)
		if err != nil {
			problems[t.name] = err.Error()
			continue
		}
		*t.into = d
	}
	if doc.FirstResponse == "" && doc.NextResponse == "" && doc.Resolution == "" {
		problems[FirstResponse] = "set at least one of first_response, next_response, resolution"
	}
	if doc.Hours != nil {
		p.Hours = doc.Hours.hours(problems)
	}
	return p, problems
}

// ParseDuration reads a target such as "4h", "90m", "45s" or "1h30m": positive, whole seconds.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d%time.Second != 0 {
		return 0, fmt.Errorf("a positive duration in whole seconds, such as 4h, 90m or 45s")
	}
	return d, nil
}

// FormatDuration writes a duration in the largest whole unit: 4h, 90m, 45s.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return ""
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	default:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
}

func (hd *HoursDocument) hours(problems map[string]string) *Hours {
	h := &Hours{Closed: map[Date]bool{}}
	loc, err := time.LoadLocation(hd.Timezone)
	if hd.Timezone == "" || err != nil {
		problems["hours.timezone"] = "an IANA time zone, such as Europe/Lisbon"
	}
	h.Location = loc
	switch hd.Holidays {
	case "":
	case HolidaysPT:
		h.PortugueseHolidays = true
	default:
		problems["hours.holidays"] = `"PT" (Portugal's national public holidays) or nothing`
	}
	open := false
	for key, spans := range hd.Week {
		day := slices.Index(weekdays[:], key)
		if day < 0 {
			problems["hours.week."+key] = "not a day: use mon, tue, wed, thu, fri, sat, sun"
			continue
		}
		ivs, err := parseIntervals(spans)
		if err != nil {
			problems["hours.week."+key] = err.Error()
			continue
		}
		h.Week[day] = ivs
		open = open || len(ivs) > 0
	}
	if !open && problems["hours.week"] == "" {
		problems["hours.week"] = "at least one day needs open hours (leave hours out for round the clock)"
	}
	for _, c := range hd.Closed {
		t, err := time.Parse(time.DateOnly, c)
		if err != nil {
			problems["hours.closed"] = fmt.Sprintf("%q is not a date (YYYY-MM-DD)", c)
			continue
		}
		h.Closed[Date{t.Year(), t.Month(), t.Day()}] = true
	}
	return h
}

// parseIntervals reads "09:00-13:00" spans, sorted and apart; an end may be 24:00.
func parseIntervals(spans []string) ([]Interval, error) {
	var ivs []Interval
	for _, s := range spans {
		a, b, ok := strings.Cut(s, "-")
		start, err1 := parseClock(a)
		end, err2 := parseClock(b)
		if !ok || err1 != nil || err2 != nil || start >= end || start == 24*60 {
			return nil, fmt.Errorf("%q is not a span such as 09:00-13:00 (start before end, end at most 24:00)", s)
		}
		ivs = append(ivs, Interval{start, end})
	}
	slices.SortFunc(ivs, func(x, y Interval) int { return x.Start - y.Start })
	for i := 1; i < len(ivs); i++ {
		if ivs[i].Start < ivs[i-1].End {
			return nil, fmt.Errorf("spans overlap")
		}
	}
	return ivs, nil
}

func parseClock(s string) (int, error) {
	hh, mm, ok := strings.Cut(strings.TrimSpace(s), ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || len(hh) != 2 || len(mm) != 2 || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return h*60 + m, nil
}

// Document writes a policy back in its stored form: durations in their largest whole unit,
// every weekday present, closed days sorted.
func (p Policy) Document() Document {
	doc := Document{
		FirstResponse: FormatDuration(p.FirstResponse), NextResponse: FormatDuration(p.NextResponse),
		Resolution: FormatDuration(p.Resolution), WarnBefore: FormatDuration(p.WarnBefore),
	}
	if h := p.Hours; h != nil {
		hd := &HoursDocument{Timezone: h.Location.String(), Week: map[string][]string{}}
		if h.PortugueseHolidays {
			hd.Holidays = HolidaysPT
		}
		for day, ivs := range h.Week {
			spans := []string{}
			for _, iv := range ivs {
				spans = append(spans, fmt.Sprintf("%02d:%02d-%02d:%02d", iv.Start/60, iv.Start%60, iv.End/60, iv.End%60))
			}
			hd.Week[weekdays[day]] = spans
		}
		for d := range h.Closed {
			hd.Closed = append(hd.Closed, d.String())
		}
		slices.Sort(hd.Closed)
		doc.Hours = hd
	}
	return doc
}

// Location is where the policy's due times are shown: its timetable's zone, or Lisbon for a
// policy round the clock.
func (p Policy) Location() *time.Location {
	if p.Hours != nil && p.Hours.Location != nil {
		return p.Hours.Location
	}
	loc, err := time.LoadLocation("Europe/Lisbon")
	if err != nil {
		return time.UTC
	}
	return loc
}
