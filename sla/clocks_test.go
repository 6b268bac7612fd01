package sla

import (
	"slices"
	"testing"
	"time"
)

func TestClocksFollowTheTicket(t *testing.T) {
	p := &Policy{FirstResponse: 4 * time.Hour, NextResponse: 2 * time.Hour, Resolution: 16 * time.Hour, WarnBefore: 30 * time.Minute,
		Hours: hoursOf(t, office)}
	created := at("2026-12-09 09:00") // a Wednesday
	t.Run("a new ticket's first response and resolution clocks run from its creation", func(t *testing.T) {
		var c Clocks
		c.Start(p, created)
		if !c.FirstResponseDue.Equal(at("2026-12-09 13:00")) || !c.ResolutionDue.Equal(at("2026-12-10 18:00")) {
			t.Fatalf("due %s and %s", c.FirstResponseDue.In(lisbon), c.ResolutionDue.In(lisbon))
		}
		if got := c.ReplyExpectedBy(); got == nil || !got.Equal(*c.FirstResponseDue) {
			t.Fatalf("reply expected by %v", got)
		}
	})
	t.Run("an answer pauses the clocks and the customer's addition resumes them", func(t *testing.T) {
		var c Clocks
		c.Start(p, created)
		c.Apply(p, Event{StaffAnswer: true, Paused: true}, created, at("2026-12-09 10:00"))
		if c.FirstResponseDue != nil || c.FirstResponseAt == nil || *c.FirstResponseTime != time.Hour || c.PausedAt == nil {
			t.Fatalf("after the answer: %+v", c)
		}
		if c.Due() != nil || c.ReplyExpectedBy() != nil || len(c.Moments(p)) != 0 {
			t.Fatal("a paused ticket has no due time")
		}
		// A day later the customer adds: resolution had 15 business hours left.
		c.Apply(p, Event{CustomerAddition: true}, created, at("2026-12-10 10:00"))
		if !c.NextResponseDue.Equal(at("2026-12-10 12:00")) || !c.ResolutionDue.Equal(at("2026-12-11 18:00")) || c.Round != 1 {
			t.Fatalf("after the addition: next %s, resolution %s", c.NextResponseDue.In(lisbon), c.ResolutionDue.In(lisbon))
		}
		if got := c.ReplyExpectedBy(); got == nil || !got.Equal(at("2026-12-10 12:00")) {
			t.Fatalf("reply expected by %v", got)
		}
	})
	t.Run("a late answer records the breach once", func(t *testing.T) {
		var c Clocks
		c.Start(p, created)
		c.Apply(p, Event{StaffAnswer: true}, created, at("2026-12-09 15:00"))
		c.Apply(p, Event{Closed: true}, created, at("2026-12-14 09:00"))
		if !slices.Equal(c.Breached, []string{FirstResponse, Resolution}) || *c.FirstResponseTime != 5*time.Hour || *c.ResolutionTime != 24*time.Hour {
			t.Fatalf("breached %v, took %s and %s", c.Breached, *c.FirstResponseTime, *c.ResolutionTime)
		}
	})
	t.Run("each warning and breach fires once, at or after its moment", func(t *testing.T) {
		var c Clocks
		c.Start(p, created)
		ms := c.Moments(p)
		if len(ms) != 4 || ms[0].Kind != Warning || !ms[0].At.Equal(at("2026-12-09 12:30")) {
			t.Fatalf("moments %+v", ms)
		}
		if _, ok := c.Fire(p, ms[0].Key(), ms[0].Due, at("2026-12-09 12:29")); ok {
			t.Fatal("a warning fired before its moment")
		}
		if _, ok := c.Fire(p, ms[0].Key(), ms[0].Due, at("2026-12-09 12:30")); !ok {
			t.Fatal("the warning did not fire at its moment")
		}
		if _, ok := c.Fire(p, ms[0].Key(), ms[0].Due, at("2026-12-09 12:31")); ok {
			t.Fatal("the warning fired twice")
		}
		if _, ok := c.Fire(p, ms[1].Key(), ms[1].Due.Add(time.Minute), at("2026-12-09 13:01")); ok {
			t.Fatal("a breach for a due time that moved fired")
		}
		if m, ok := c.Fire(p, ms[1].Key(), ms[1].Due, at("2026-12-09 13:00")); !ok || m.Kind != Breach || !slices.Equal(c.Breached, []string{FirstResponse}) {
			t.Fatalf("breach %+v %v, breached %v", m, ok, c.Breached)
		}
	})
	t.Run("a ticket on hold before any answer sends nothing until it resumes", func(t *testing.T) {
		var c Clocks
		c.Start(p, created)
		c.Apply(p, Event{Paused: true}, created, at("2026-12-09 11:00"))
		if _, ok := c.Fire(p, FirstResponse+":0:"+Breach, at("2026-12-09 13:00"), at("2026-12-09 13:00")); ok {
			t.Fatal("a paused clock breached")
		}
		c.Apply(p, Event{}, created, at("2026-12-10 09:00"))
		if !c.FirstResponseDue.Equal(at("2026-12-10 11:00")) {
			t.Fatalf("resumed first response due %s", c.FirstResponseDue.In(lisbon))
		}
	})
}
