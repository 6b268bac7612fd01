package storage_test

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/assistd/assistd/migrations"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
	"github.com/assistd/assistd/tickets"
)

func TestAMemberReachesOnlyTheirDepartmentsInEveryStaffQuery(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		emailTicket := createTicket(t, st, "ana")
		nt := newTicket("ana", "")
		nt.SubjectID = "billing-invoice"
		c, err := st.CreateTicket(ctx, nt)
		if err != nil {
			t.Fatal(err)
		}
		billingTicket, err := st.TicketByID(ctx, c.TicketID)
		if err != nil {
			t.Fatal(err)
		}
		rita := putMember(t, st, "rita", false, map[string]string{"email": storage.RoleAgent})
		bruno := putMember(t, st, "bruno", false, map[string]string{"faturacao": storage.RoleLead})
		admin := putMember(t, st, "joao", true, nil)
		if rita.Role("email") != storage.RoleAgent || rita.Role("faturacao") != "" || bruno.Role("faturacao") != storage.RoleLead || admin.Role("x") != storage.RoleAdmin {
			t.Fatal("roles are not as stored")
		}
		open := func(storage.SealedPassword) error { return nil }
		for _, c := range []struct {
			who          storage.StaffMember
			mine, theirs storage.Ticket
		}{{rita, emailTicket, billingTicket}, {bruno, billingTicket, emailTicket}} {
			r := c.who.Reach()
			if _, err := st.TicketByNumber(ctx, r, c.mine.Number); err != nil {
				t.Fatalf("%s: own ticket: %v", c.who.ID, err)
			}
			if _, err := st.TicketByNumber(ctx, r, c.theirs.Number); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("%s: another department's ticket: %v, want not found", c.who.ID, err)
			}
			if _, _, err := st.TicketWithCustomer(ctx, r, c.theirs.Number); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("%s: another department's ticket with its customer: %v, want not found", c.who.ID, err)
			}
			if tk, cust, err := st.TicketWithCustomer(ctx, r, c.mine.Number); err != nil || tk.ID != c.mine.ID || cust.ID != c.mine.CustomerID || cust.Email == "" {
				t.Fatalf("%s: own ticket with its customer: %+v, %+v, %v", c.who.ID, tk, cust, err)
			}
			if q, err := st.Queue(ctx, storage.QueueQuery{Reach: r, DepartmentID: c.theirs.DepartmentID, Limit: 10}); err != nil || len(q) != 0 {
				t.Fatalf("%s: another department's queue: %d tickets, %v", c.who.ID, len(q), err)
			}
			if q, err := st.Queue(ctx, storage.QueueQuery{Reach: r, DepartmentID: c.mine.DepartmentID, Limit: 10}); err != nil || len(q) != 1 {
				t.Fatalf("%s: own queue: %d tickets, %v", c.who.ID, len(q), err)
			}
			if n, err := st.QueueCounts(ctx, r, c.theirs.DepartmentID); err != nil || n[tickets.Open] != 0 {
				t.Fatalf("%s: another department's counts: %v, %v", c.who.ID, n, err)
			}
			if n, err := st.QueueCounts(ctx, r, c.mine.DepartmentID); err != nil || n[tickets.Open] != 1 {
				t.Fatalf("%s: own counts: %v, %v", c.who.ID, n, err)
			}
			if ds, err := st.StaffDepartments(ctx, r); err != nil || len(ds) != 1 || ds[0].ID != c.mine.DepartmentID {
				t.Fatalf("%s: departments %+v, %v", c.who.ID, ds, err)
			}
			if _, err := st.StaffDepartment(ctx, r, c.theirs.DepartmentID); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("%s: another department: %v, want not found", c.who.ID, err)
			}
			if _, n, err := st.QueueDepartment(ctx, r, c.theirs.DepartmentID); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("%s: another department's queue heading: %v, %v, want not found", c.who.ID, n, err)
			}
			if d, n, err := st.QueueDepartment(ctx, r, c.mine.DepartmentID); err != nil || d.ID != c.mine.DepartmentID || n[tickets.Open] != 1 || len(n) != len(tickets.Statuses)-1 {
				t.Fatalf("%s: own queue heading: %+v, %v, %v", c.who.ID, d, n, err)
			}
			by := storage.Revealer{MemberID: c.who.ID, Via: storage.ViaToken}
			if _, _, err := st.RevealPassword(ctx, r, c.theirs.ID, by, time.Now(), open); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("%s: reveal out of reach: %v, want not found", c.who.ID, err)
			}
			if _, _, err := st.AddStaffMessage(ctx, r, c.theirs.Number, c.who.ID, "Olá.", "", nil); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("%s: answer out of reach: %v, want not found", c.who.ID, err)
			}
			if _, _, err := st.SetStatus(ctx, r, c.theirs.Number, c.who.ID, tickets.OnHold, nil); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("%s: status out of reach: %v, want not found", c.who.ID, err)
			}
			report, err := st.ResponseTimes(ctx, r, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "")
			if err != nil || len(report) != 1 || report[0].Department.ID != c.mine.DepartmentID || report[0].Tickets != 1 {
				t.Fatalf("%s: report %+v, %v", c.who.ID, report, err)
			}
		}
		if rv, _ := st.Reveals(ctx, emailTicket.ID); len(rv) != 0 {
			t.Fatalf("a refused reveal was recorded: %+v", rv)
		}
		if ds, err := st.StaffDepartments(ctx, admin.Reach()); err != nil || len(ds) < 6 {
			t.Fatalf("the admin's departments: %d, %v", len(ds), err)
		}
		if _, err := st.TicketByNumber(ctx, storage.Reach{}, emailTicket.Number); !errors.Is(err, storage.ErrNotFound) {
			t.Fatal("an empty reach reaches a ticket")
		}
	})
}

func TestDisablingAMemberRevokesTheirTokensAndSessionsAndAMemberIsCheckedAgain(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		m := putMember(t, st, "rita", false, map[string]string{"email": storage.RoleAgent})
		if _, err := st.AddStaffToken(ctx, "rita", "t1", "hash-1", "cli"); err != nil {
			t.Fatal(err)
		}
		if got, id, err := st.StaffMemberByToken(ctx, "hash-1"); err != nil || got.ID != "rita" || id != "t1" {
			t.Fatalf("by token: %+v %q %v", got, id, err)
		}
		if ts, err := st.StaffTokens(ctx, "rita"); err != nil || len(ts) != 1 || ts[0].LastUsedAt == nil {
			t.Fatalf("tokens %+v %v, want one with its last use", ts, err)
		}
		if _, _, err := st.StaffMemberByToken(ctx, "hash-2"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("an unknown hash: %v", err)
		}
		began := time.Now().Add(-time.Minute)
		if _, err := st.PutStaffMember(ctx, storage.StaffMember{ID: "other", Name: "x", Email: "RITA@suporte.example.pt", Language: "pt-PT", Active: true}); !errors.Is(err, storage.ErrEmailTaken) {
			t.Fatalf("another member with Rita's email: %v", err)
		}
		if _, err := st.PutStaffMember(ctx, storage.StaffMember{ID: "other", Name: "x", Email: "x@suporte.example.pt", Language: "pt-PT", Active: true,
			Departments: map[string]string{"nope": "agent"}}); !errors.Is(err, storage.ErrUnknownDepartment) {
			t.Fatalf("an unknown department: %v", err)
		}
		m.Active = false
		if _, err := st.PutStaffMember(ctx, m); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.StaffMemberByToken(ctx, "hash-1"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a disabled member's token: %v", err)
		}
		if _, err := st.ActiveStaffMember(ctx, "rita"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a disabled member is active: %v", err)
		}
		if revoked, err := st.SessionRevoked(ctx, "nonce", "staff", "rita", began); err != nil || !revoked {
			t.Fatalf("a disabled member's session: revoked=%v %v", revoked, err)
		}
		if _, err := st.AddStaffToken(ctx, "rita", "t2", "hash-2", "cli"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a token for a disabled member: %v", err)
		}
		// Made active again, the old token stays revoked.
		m.Active = true
		if _, err := st.PutStaffMember(ctx, m); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.StaffMemberByToken(ctx, "hash-1"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a token revoked by disabling works again: %v", err)
		}
		if err := st.RevokeStaffToken(ctx, "bruno", "t1"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("revoking another member's token: %v", err)
		}
	})
}

// Reveals recorded before staff were members keep the free-text name they were given, marked
// legacy; the migration's down step takes the new columns away again.
func TestTheMigrationKeepsEarlierRevealsUnderTheirFreeTextNamesMarkedLegacy(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st, err := storage.Open(ctx, b.URL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			p := migrationProvider(t, st)
			if _, err := p.UpTo(ctx, 14); err != nil {
				t.Fatal(err)
			}
			if err := st.EnsureCatalog(ctx); err != nil {
				t.Fatal(err)
			}
			putCustomer(t, st, "ana")
			tk := fileTicket(t, st, "ana")
			if _, err := st.DB().ExecContext(ctx, st.DB().Rebind(`INSERT INTO password_reveals (ticket_id, staff, outcome, created_at) VALUES (?, ?, ?, ?)`),
				tk.TicketID, "João da Recepção", storage.RevealGranted, time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			rv, err := st.Reveals(ctx, tk.TicketID)
			if err != nil || len(rv) != 1 || !rv[0].Legacy || rv[0].Staff != "João da Recepção" || rv[0].MemberID != nil || rv[0].Via != nil {
				t.Fatalf("the earlier reveal after the migration: %+v, %v", rv, err)
			}
			putMember(t, st, "rita", true, nil)
			if _, _, err := st.RevealPassword(ctx, storage.ReachAll(), tk.TicketID, storage.Revealer{MemberID: "rita", Via: storage.ViaLink}, time.Now(),
				func(storage.SealedPassword) error { return nil }); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a reveal of a ticket without a password: %v", err)
			}
			if _, err := p.DownTo(ctx, 14); err != nil {
				t.Fatalf("down to 14: %v", err)
			}
		})
	}
}

// migrationProvider steps a store's schema one migration at a time, as Migrate does all at once.
func migrationProvider(t *testing.T, st *storage.Store) *goose.Provider {
	t.Helper()
	dialect, fsys := goose.DialectSQLite3, fs.FS(migrations.SQLite)
	dir := "sqlite"
	if st.Postgres() {
		dialect, fsys, dir = goose.DialectPostgres, migrations.Postgres, "postgres"
	}
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(dialect, st.DB().DB, sub)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A ticket read with its customer has the customer as the customer's own read has it.
func TestATicketWithItsCustomerReadsTheCustomerAsTheirOwnReadDoes(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		for _, domains := range [][]string{nil, {"exemplo.pt", "aaa.pt", "zz.com"}} {
			c, err := st.PutCustomer(ctx, storage.Customer{ID: "ana", Name: "Ana Sá", Email: "ana@example.pt", Language: "en", Domains: domains})
			if err != nil {
				t.Fatal(err)
			}
			tk := createTicket(t, st, "ana")
			got, cust, err := st.TicketWithCustomer(ctx, storage.ReachAll(), tk.Number)
			if err != nil || got.ID != tk.ID || got.Number != tk.Number || got.DepartmentID != tk.DepartmentID {
				t.Fatalf("ticket %+v, %v; want %+v", got, err, tk)
			}
			if cust.ID != c.ID || cust.Name != c.Name || cust.Email != c.Email || cust.Language != c.Language ||
				!cust.CreatedAt.Equal(c.CreatedAt) || !cust.UpdatedAt.Equal(c.UpdatedAt) || !slices.Equal(cust.Domains, c.Domains) {
				t.Fatalf("customer %+v, want %+v", cust, c)
			}
		}
	})
}
