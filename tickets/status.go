// Package tickets holds the rules of a support request that do not depend on where it is
// stored: its statuses and their labels, which changes are allowed, and how numbers are drawn.
package tickets

// Status is the code of a ticket's state, as the API and the database carry it.
type Status string

// The statuses (the README's Statuses table); their order is the order of the customer's status table.
const (
	Open          Status = "open"
	InProgress    Status = "in_progress"
	Answered      Status = "answered"
	CustomerReply Status = "customer_reply"
	OnHold        Status = "on_hold"
	Closed        Status = "closed"
)

// Statuses lists every status in display order.
var Statuses = []Status{Open, InProgress, Answered, CustomerReply, OnHold, Closed}

var labels = map[Status][2]string{
	Open:          {"Aberto", "Open"},
	InProgress:    {"Em Tratamento", "In progress"},
	Answered:      {"Respondido", "Answered"},
	CustomerReply: {"Resposta do Cliente", "Customer reply"},
	OnHold:        {"Em Espera", "On hold"},
	Closed:        {"Fechado", "Closed"},
}

var descriptions = map[Status][2]string{
	Open:          {"O pedido foi recebido e aguarda tratamento pelo departamento.", "The request was received and waits for the department."},
	InProgress:    {"Um técnico está a tratar o pedido.", "A member of staff is working on the request."},
	Answered:      {"O departamento respondeu; pode acrescentar informação na Área de Cliente.", "The department answered; you can add information in the client area."},
	CustomerReply: {"Acrescentou informação; o departamento vai analisá-la.", "You added information; the department will look at it."},
	OnHold:        {"O pedido aguarda a resposta de terceiros ou uma data combinada.", "The request waits for a third party or an agreed date."},
	Closed:        {"O pedido está fechado e já não pode ser respondido: crie um novo pedido referente a este.", "The request is closed and can no longer be answered: open a new request referring to it."},
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool { _, ok := labels[s]; return ok }

// Label is the status's name in the given language (pt-PT unless lang is English).
func (s Status) Label(lang string) string {
	l, ok := labels[s]
	if !ok {
		return string(s)
	}
	return l[langIndex(lang)]
}

// Description explains the status to a customer, for the status table.
func (s Status) Description(lang string) string { return descriptions[s][langIndex(lang)] }

// CustomerMayReply reports whether the customer can still add to a ticket in this status.
func (s Status) CustomerMayReply() bool { return s != Closed }

// CanChange reports whether a ticket may move from one status to another. It is the one place
// that decides: a closed ticket never changes again, and a change must name a known status.
func CanChange(from, to Status) bool {
	return from.Valid() && to.Valid() && from != Closed
}

// Languages are the languages customers can choose; the first is the default.
var Languages = []string{"pt-PT", "en"}

func langIndex(lang string) int {
	if lang == "en" {
		return 1
	}
	return 0
}
