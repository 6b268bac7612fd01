package sla

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Clocks are one ticket's service-level clocks, as stored on the ticket. A due time is kept
// while its clock is paused (PausedAt set); resuming moves it by the business time the pause
// took. A nil due time is a clock that does not run.
type Clocks struct {
	FirstResponseDue *time.Time
	NextResponseDue  *time.Time
	ResolutionDue    *time.Time
	FirstResponseAt  *time.Time
	PausedAt         *time.Time
	// Round counts the next-response clocks started: each customer addition after a staff
	// answer is one, and its warning and breach fire once.
	Round int
	// Breached lists the targets missed, each once, in the order they were.
	Breached []string
	// Fired lists the warnings and breaches already sent (Moment.Key), so each goes once.
	Fired []string
	// Business time taken by the first response and by the resolution, once known.
	FirstResponseTime *time.Duration
	ResolutionTime    *time.Duration
}

// Event is what happened to a ticket, as far as its clocks care.
type Event struct {
	StaffAnswer      bool // a member of staff answered the customer
	CustomerAddition bool // the customer added to the thread
	Paused           bool // the ticket is now answered or on hold
	Closed           bool // the ticket is now closed
}

// Start sets the clocks of a ticket created at a time: first response and resolution run.
func (c *Clocks) Start(p *Policy, created time.Time) {
	*c = Clocks{FirstResponseAt: c.FirstResponseAt, FirstResponseTime: c.FirstResponseTime}
	if p == nil {
		return
	}
	if p.FirstResponse > 0 && c.FirstResponseAt == nil {
		c.FirstResponseDue = ptr(p.Hours.Add(created, p.FirstResponse))
	}
	if p.Resolution > 0 {
		c.ResolutionDue = ptr(p.Hours.Add(created, p.Resolution))
	}
}

// Apply moves the clocks for an event at a time. created is when the ticket was created (the
// first response's start when no policy timed it).
func (c *Clocks) Apply(p *Policy, e Event, created, at time.Time) {
	if e.CustomerAddition {
		c.resume(p, at)
		if c.FirstResponseAt != nil && c.NextResponseDue == nil && p != nil && p.NextResponse > 0 {
			c.Round++
			c.NextResponseDue = ptr(p.Hours.Add(at, p.NextResponse))
		}
	}
	if e.StaffAnswer {
		if c.FirstResponseAt == nil {
			c.FirstResponseAt = ptr(at)
			c.FirstResponseTime = ptr(c.taken(p, c.FirstResponseDue, p.target(FirstResponse), created, at))
			c.stop(FirstResponse, &c.FirstResponseDue, at)
		}
		c.stop(NextResponse, &c.NextResponseDue, at)
	}
	switch {
	case e.Closed:
		if c.ResolutionTime == nil {
			c.ResolutionTime = ptr(c.taken(p, c.ResolutionDue, p.target(Resolution), created, at))
		}
		c.stop(FirstResponse, &c.FirstResponseDue, at)
		c.stop(NextResponse, &c.NextResponseDue, at)
		c.stop(Resolution, &c.ResolutionDue, at)
		c.PausedAt = nil
	case e.Paused && c.PausedAt == nil && c.running():
		c.PausedAt = ptr(at)
	case !e.Paused:
		c.resume(p, at)
	}
}

func (p *Policy) target(name string) time.Duration {
	if p == nil {
		return 0
	}
	switch name {
	case FirstResponse:
		return p.FirstResponse
	case NextResponse:
		return p.NextResponse
	default:
		return p.Resolution
	}
}

func (p *Policy) hours() *Hours {
	if p == nil {
		return nil
	}
	return p.Hours
}

// taken is the business time a clock ran: its target less what was left of it at the time
// (pauses moved the due time), or, without a clock, the business time since creation.
func (c *Clocks) taken(p *Policy, due *time.Time, target time.Duration, created, at time.Time) time.Duration {
	if due == nil {
		return p.hours().Between(created, at)
	}
	end := at
	if c.PausedAt != nil {
		end = *c.PausedAt
	}
	return target - p.hours().Between(end, *due)
}

// stop ends a running clock at a time, recording a breach when it ran past its due time.
func (c *Clocks) stop(target string, due **time.Time, at time.Time) {
	if *due == nil {
		return
	}
	end := at
	if c.PausedAt != nil {
		end = *c.PausedAt
	}
	if end.After(**due) {
		c.breach(target)
	}
	*due = nil
}

func (c *Clocks) breach(target string) {
	if !slices.Contains(c.Breached, target) {
		c.Breached = append(c.Breached, target)
	}
}

func (c *Clocks) running() bool {
	return c.FirstResponseDue != nil || c.NextResponseDue != nil || c.ResolutionDue != nil
}

// resume restarts paused clocks: each due time moves by the business time the pause took.
func (c *Clocks) resume(p *Policy, at time.Time) {
	if c.PausedAt == nil {
		return
	}
	paused := *c.PausedAt
	c.PausedAt = nil
	for _, due := range []**time.Time{&c.FirstResponseDue, &c.NextResponseDue, &c.ResolutionDue} {
		if *due == nil || !(*due).After(paused) {
			continue // already past: the pause gives no time back
		}
		*due = ptr(p.hours().Add(at, p.hours().Between(paused, **due)))
	}
}

// Due is the earliest due time of a running clock (nil while paused or without clocks): the
// order of a queue sorted by urgency.
func (c *Clocks) Due() *time.Time {
	if c.PausedAt != nil {
		return nil
	}
	var first *time.Time
	for _, d := range []*time.Time{c.FirstResponseDue, c.NextResponseDue, c.ResolutionDue} {
		if d != nil && (first == nil || d.Before(*first)) {
			first = d
		}
	}
	return first
}

// ReplyExpectedBy is when the customer may expect the pending answer: nil when none is
// pending or the clock is paused.
func (c *Clocks) ReplyExpectedBy() *time.Time {
	if c.PausedAt != nil {
		return nil
	}
	if c.FirstResponseAt == nil {
		return c.FirstResponseDue
	}
	return c.NextResponseDue
}

// Moment kinds.
const (
	Warning = "warning"
	Breach  = "breach"
)

// Moment is a warning or a breach to send at a time.
type Moment struct {
	Target string
	Kind   string
	At     time.Time
	Due    time.Time
	Round  int
}

// Key names a moment among a ticket's: the same moment after a pause has the same key, so it
// goes once.
func (m Moment) Key() string {
	return m.Target + ":" + strconv.Itoa(m.Round) + ":" + m.Kind
}

// Moments lists the warnings and breaches still to send, earliest first; none while paused.
func (c *Clocks) Moments(p *Policy) []Moment {
	if c.PausedAt != nil || p == nil {
		return nil
	}
	var out []Moment
	add := func(target string, due *time.Time, round int) {
		if due == nil {
			return
		}
		ms := []Moment{{Target: target, Kind: Breach, At: *due, Due: *due, Round: round}}
		if p.WarnBefore > 0 {
			ms = append(ms, Moment{Target: target, Kind: Warning, At: due.Add(-p.WarnBefore), Due: *due, Round: round})
		}
		for _, m := range ms {
			if !slices.Contains(c.Fired, m.Key()) {
				out = append(out, m)
			}
		}
	}
	add(FirstResponse, c.FirstResponseDue, 0)
	add(NextResponse, c.NextResponseDue, c.Round)
	add(Resolution, c.ResolutionDue, 0)
	slices.SortFunc(out, func(a, b Moment) int { return a.At.Compare(b.At) })
	return out
}

// NextMoment is when the earliest moment still to send falls, nil for none.
func (c *Clocks) NextMoment(p *Policy) *time.Time {
	if ms := c.Moments(p); len(ms) > 0 {
		return ptr(ms[0].At)
	}
	return nil
}

// Fire records a moment as sent (and a breach as a missed target) if it is still to send at a
// time: its clock runs, with the same due time, and the moment has come. It reports whether
// the moment is to be sent now; false means it was sent, moved or stopped meanwhile.
func (c *Clocks) Fire(p *Policy, key string, due, at time.Time) (Moment, bool) {
	for _, m := range c.Moments(p) {
		if m.Key() != key || !m.Due.Equal(due) || at.Before(m.At) {
			continue
		}
		c.Fired = append(c.Fired, key)
		if m.Kind == Breach {
			c.breach(m.Target)
		}
		return m, true
	}
	return Moment{}, false
}

// JoinList and SplitList store Breached and Fired as comma-separated text.
func JoinList(l []string) string { return strings.Join(l, ",") }

// SplitList reads a list JoinList wrote.
func SplitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func ptr[T any](v T) *T { return &v }
