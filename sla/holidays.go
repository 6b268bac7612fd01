package sla

import "time"

// Easter returns Easter Sunday of a Gregorian year (the anonymous Gregorian algorithm of
// Meeus, Jones and Butcher).
func Easter(year int) Date {
	a := year % 19
	b, c := year/100, year%100
	d, e := b/4, b%4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i, k := c/4, c%4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	month := (h + l - 7*m + 114) / 31
	day := (h+l-7*m+114)%31 + 1
	return Date{year, time.Month(month), day}
}

// fixedPortugueseHolidays are Portugal's national public holidays on a fixed date.
var fixedPortugueseHolidays = [][2]int{
	{1, 1}, {4, 25}, {5, 1}, {6, 10}, {8, 15}, {10, 5}, {11, 1}, {12, 1}, {12, 8}, {12, 25},
}

// Easter-relative national holidays, in days from Easter Sunday: Good Friday, Easter Sunday,
// Corpus Christi.
var easterPortugueseHolidays = []int{-2, 0, 60}

// PortugueseHoliday reports whether a date is one of Portugal's national public holidays.
func PortugueseHoliday(d Date) bool {
	for _, f := range fixedPortugueseHolidays {
		if int(d.Month) == f[0] && d.Day == f[1] {
			return true
		}
	}
	e := Easter(d.Year)
	easter := time.Date(e.Year, e.Month, e.Day, 12, 0, 0, 0, time.UTC)
	for _, off := range easterPortugueseHolidays {
		y, m, dd := easter.AddDate(0, 0, off).Date()
		if d == (Date{y, m, dd}) {
			return true
		}
	}
	return false
}

// PortugueseHolidays lists a year's national public holidays in date order.
func PortugueseHolidays(year int) []Date {
	var out []Date
	for day := (Date{year, time.January, 1}); day.Year == year; day = nextDay(day) {
		if PortugueseHoliday(day) {
			out = append(out, day)
		}
	}
	return out
}
