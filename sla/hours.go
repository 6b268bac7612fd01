// Package sla holds the service levels of a department: business hours (a weekly timetable in
// a timezone, Portugal's public holidays, extra closed days), the targets of a policy, and the
// clocks of one ticket. It is pure: no database, no Redis, no wall clock of its own; every
// function takes the instants it works on.
package sla

import (
	"time"
	_ "time/tzdata" // policies name IANA zones; a minimal image has no zoneinfo of its own
)

// Interval is an open stretch of one day, in minutes from midnight; End may be 24*60.
type Interval struct {
	Start, End int
}

// Date is a civil date, as a timetable's holidays and closed days are.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf is the civil date of an instant in a location.
func DateOf(t time.Time, loc *time.Location) Date {
	y, m, d := t.In(loc).Date()
	return Date{y, m, d}
}

func (d Date) String() string {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
}

// Hours are business hours. A nil *Hours is round the clock.
type Hours struct {
	Location *time.Location
	// Week holds each weekday's open intervals, sorted and apart, indexed by time.Weekday.
	Week [7][]Interval
	// PortugueseHolidays closes Portugal's national public holidays.
	PortugueseHolidays bool
	// Closed are extra days without business.
	Closed map[Date]bool
}

// searchDays bounds how far Add looks for open time: a timetable with none is refused when a
// policy is read, this only keeps a bad value from looping.
const searchDays = 3660

// closedOn reports whether a whole day is without business.
func (h *Hours) closedOn(d Date) bool {
	return h.Closed[d] || (h.PortugueseHolidays && PortugueseHoliday(d))
}

// openings returns a day's open intervals as instants. Wall-clock boundaries are taken in the
// location, so a day on which the clocks change has an hour more or less of business.
func (h *Hours) openings(d Date) [][2]time.Time {
	if h.closedOn(d) {
		return nil
	}
	day := time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, h.Location)
	ivs := h.Week[day.Weekday()]
	out := make([][2]time.Time, 0, len(ivs))
	for _, iv := range ivs {
		s := time.Date(d.Year, d.Month, d.Day, iv.Start/60, iv.Start%60, 0, 0, h.Location)
		e := time.Date(d.Year, d.Month, d.Day, iv.End/60, iv.End%60, 0, 0, h.Location)
		if e.After(s) {
			out = append(out, [2]time.Time{s, e})
		}
	}
	return out
}

func nextDay(d Date) Date {
	y, m, dd := time.Date(d.Year, d.Month, d.Day+1, 12, 0, 0, 0, time.UTC).Date()
	return Date{y, m, dd}
}

// Add returns the instant at which d of business time has passed since from. A d of zero or
// less is from itself.
func (h *Hours) Add(from time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return from
	}
	if h == nil {
		return from.Add(d)
	}
	day := DateOf(from, h.Location)
	for range searchDays {
		for _, o := range h.openings(day) {
			if !o[1].After(from) {
				continue
			}
			start := o[0]
			if from.After(start) {
				start = from
			}
			if left := o[1].Sub(start); d <= left {
				return start.Add(d).In(from.Location())
			} else {
				d -= left
			}
		}
		day = nextDay(day)
	}
	return from.Add(searchDays * 24 * time.Hour)
}

// Between returns the business time from a to b; negative when b is before a.
func (h *Hours) Between(a, b time.Time) time.Duration {
	if b.Before(a) {
		return -h.Between(b, a)
	}
	if h == nil {
		return b.Sub(a)
	}
	var sum time.Duration
	last := DateOf(b, h.Location)
	for day := DateOf(a, h.Location); ; day = nextDay(day) {
		for _, o := range h.openings(day) {
			s, e := o[0], o[1]
			if a.After(s) {
				s = a
			}
			if b.Before(e) {
				e = b
			}
			if e.After(s) {
				sum += e.Sub(s)
			}
		}
		if day == last {
			return sum
		}
	}
}
