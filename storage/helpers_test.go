package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/assistd/assistd/storage"
)

func putCustomer(t *testing.T, st *storage.Store, id string) storage.Customer {
	t.Helper()
	c, err := st.PutCustomer(context.Background(), storage.Customer{ID: id, Name: "Ana Silva", Email: id + "@example.pt", Language: "pt-PT",
		Domains: []string{"example.pt", "loja-exemplo.com"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newTicket(cid, key string) storage.NewTicket {
	return storage.NewTicket{CustomerID: cid, SubjectID: "email-account-setup", Message: "O Outlook diz que a palavra-passe está errada.",
		IdempotencyKey: key, CreatedAt: time.Now().UTC()}
}

// fileTicket stores a new ticket of a customer, not yet processed.
func fileTicket(t *testing.T, st *storage.Store, cid string) storage.Created {
	t.Helper()
	c, err := st.CreateTicket(context.Background(), newTicket(cid, ""))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createTicket stores a new ticket of a customer and processes it, as ticket:create would.
func createTicket(t *testing.T, st *storage.Store, cid string) storage.Ticket {
	t.Helper()
	return processTicket(t, st, fileTicket(t, st, cid))
}

// processTicket processes a ticket stored, as ticket:create would, and reads it back.
func processTicket(t *testing.T, st *storage.Store, c storage.Created) storage.Ticket {
	t.Helper()
	ctx := context.Background()
	if _, _, err := st.RecordTicketProcessed(ctx, c.TicketID, nil, nil); err != nil {
		t.Fatal(err)
	}
	tk, err := st.TicketByID(ctx, c.TicketID)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// putMember stores the active member id: an admin, or a member of the departments given (id to
// role).
func putMember(t *testing.T, st *storage.Store, id string, admin bool, departments map[string]string) storage.StaffMember {
	t.Helper()
	m, err := st.PutStaffMember(context.Background(), storage.StaffMember{ID: id, Name: id, Email: id + "@suporte.example.pt", Language: "pt-PT",
		Active: true, Admin: admin, Departments: departments})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
