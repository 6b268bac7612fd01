package tickets

// Priority is how urgent staff judge a ticket to be; the API and the console name it by its code.
type Priority string

// The priorities, most urgent first.
const (
	Urgent Priority = "urgent"
	High   Priority = "high"
	Normal Priority = "normal"
	Low    Priority = "low"
)

// Priorities lists every priority, most urgent first: the order of a queue sorted by priority.
var Priorities = []Priority{Urgent, High, Normal, Low}

var priorityLabels = map[Priority][2]string{
	Urgent: {"Urgente", "Urgent"},
	High:   {"Alta", "High"},
	Normal: {"Normal", "Normal"},
	Low:    {"Baixa", "Low"},
}

// Valid reports whether p is one of the known priorities.
func (p Priority) Valid() bool { _, ok := priorityLabels[p]; return ok }

// Label is the priority's name in the given language (pt-PT unless lang is English).
func (p Priority) Label(lang string) string {
	l, ok := priorityLabels[p]
	if !ok {
		return string(p)
	}
	return l[langIndex(lang)]
}

// Rank is the priority's place in Priorities: 0 for urgent, up to 3 for low, as stored, so
// that an ascending order puts the most urgent first. An unknown priority ranks as normal.
func (p Priority) Rank() int {
	for i, q := range Priorities {
		if q == p {
			return i
		}
	}
	return 2
}

// PriorityOfRank is the priority stored as a rank; an unknown rank is normal.
func PriorityOfRank(rank int) Priority {
	if rank < 0 || rank >= len(Priorities) {
		return Normal
	}
	return Priorities[rank]
}
