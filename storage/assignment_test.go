package storage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
	"github.com/assistd/assistd/tickets"
)

func ptr(s string) *string { return &s }

func TestAnAgentTakesAndReleasesTheirOwnAndALeadAssignsMembersOfTheDepartment(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		putMember(t, st, "rita", false, map[string]string{"email": "lead"})
		putMember(t, st, "pedro", false, map[string]string{"email": "agent"})
		putMember(t, st, "ines", false, map[string]string{"email": "agent"})
		putMember(t, st, "sofia", false, map[string]string{"faturacao": "agent"})
		putMember(t, st, "joao", true, nil)
		tk := createTicket(t, st, "ana")
		email := storage.ReachOnly("email")
		agent := func(id string) storage.AssignRule { return storage.AssignRule{Caller: id} }
		lead := func(id string) storage.AssignRule { return storage.AssignRule{Caller: id, Others: true} }

		steps := []struct {
			name   string
			reach  storage.Reach
			member *string
			rule   storage.AssignRule
			want   error
			after  *string
		}{
			{"an agent assigns someone else", email, ptr("ines"), agent("pedro"), storage.ErrAssignRefused, nil},
			{"an agent takes it", email, ptr("pedro"), agent("pedro"), nil, ptr("pedro")},
			{"another agent takes it from them", email, ptr("ines"), agent("ines"), storage.ErrAssignRefused, ptr("pedro")},
			{"another agent releases it", email, nil, agent("ines"), storage.ErrAssignRefused, ptr("pedro")},
			{"a member of another department takes it", storage.ReachOnly("faturacao"), ptr("sofia"), agent("sofia"), storage.ErrNotFound, ptr("pedro")},
			{"the agent releases their own", email, nil, agent("pedro"), nil, nil},
			{"the lead assigns someone not of the department", email, ptr("sofia"), lead("rita"), storage.ErrAssignRefused, nil},
			{"the lead assigns nobody who exists", email, ptr("nobody"), lead("rita"), storage.ErrAssignRefused, nil},
			{"the lead assigns an agent", email, ptr("ines"), lead("rita"), nil, ptr("ines")},
			{"the lead assigns an admin", email, ptr("joao"), lead("rita"), nil, ptr("joao")},
			{"the lead releases another's", email, nil, lead("rita"), nil, nil},
		}
		for _, s := range steps {
			got, err := st.Assign(ctx, s.reach, tk.Number, s.member, s.rule)
			if !errors.Is(err, s.want) {
				t.Fatalf("%s: %v, want %v", s.name, err, s.want)
			}
			now, _ := st.TicketByID(ctx, tk.ID)
			if !slices.Equal(list(now.AssigneeID), list(s.after)) || (err == nil && !slices.Equal(list(got.AssigneeID), list(s.after))) {
				t.Fatalf("%s: assignee %v, want %v", s.name, list(now.AssigneeID), list(s.after))
			}
		}
		// An inactive member is assigned nothing.
		m, _ := st.StaffMember(ctx, "ines")
		m.Active = false
		if _, err := st.PutStaffMember(ctx, m); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Assign(ctx, email, tk.Number, ptr("ines"), lead("rita")); !errors.Is(err, storage.ErrAssignRefused) {
			t.Fatalf("an inactive member assigned: %v", err)
		}
	})
}

func list(p *string) []string {
	if p == nil {
		return nil
	}
	return []string{*p}
}

func TestATransferKeepsTheAssigneeOnlyIfTheyAreAMemberThere(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		putMember(t, st, "pedro", false, map[string]string{"email": "agent"})
		putMember(t, st, "rui", false, map[string]string{"email": "agent", "faturacao": "agent"})
		for _, c := range []struct {
			assignee string
			kept     bool
		}{{"pedro", false}, {"rui", true}} {
			tk := createTicket(t, st, "ana")
			if _, err := st.Assign(ctx, storage.ReachAll(), tk.Number, &c.assignee, storage.AssignRule{Caller: "x", Others: true}); err != nil {
				t.Fatal(err)
			}
			var to []storage.ChangeMail
			compose := func(m storage.ChangeMail) ([]storage.Email, error) { to = append(to, m); return nil, nil }
			moved, _, err := st.Transfer(ctx, storage.ReachAll(), tk.Number, "joao", "faturacao", compose)
			if err != nil {
				t.Fatal(err)
			}
			if kept := moved.AssigneeID != nil && *moved.AssigneeID == c.assignee; kept != c.kept {
				t.Fatalf("%s kept: %v, want %v", c.assignee, kept, c.kept)
			}
			if got := to[0].Assignee != nil; got != c.kept || (got && to[0].Assignee.Email != c.assignee+"@suporte.example.pt") {
				t.Fatalf("the transfer's mail for %s goes to the assignee: %v (%+v)", c.assignee, got, to[0].Assignee)
			}
		}
	})
}

// A member disabled, or taken out of a department, leaves its open tickets unassigned in their
// queue; their closed tickets keep the name, and an admin's tickets stay theirs.
func TestAMemberWhoMayNoLongerOwnTheirOpenTicketsLeavesThemUnassigned(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		rui := putMember(t, st, "rui", false, map[string]string{"email": "agent", "faturacao": "agent"})
		putMember(t, st, "joao", true, nil)
		assign := func(member, subject string) storage.Ticket {
			nt := newTicket("ana", "")
			nt.SubjectID = subject
			c, err := st.CreateTicket(ctx, nt)
			if err != nil {
				t.Fatal(err)
			}
			tk, err := st.TicketByID(ctx, c.TicketID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Assign(ctx, storage.ReachAll(), tk.Number, &member, storage.AssignRule{Caller: "x", Others: true}); err != nil {
				t.Fatal(err)
			}
			return tk
		}
		assignee := func(tk storage.Ticket) string {
			got, err := st.TicketByID(ctx, tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.AssigneeID == nil {
				return ""
			}
			return *got.AssigneeID
		}
		email, billing, closed := assign("rui", "email-delivery"), assign("rui", "billing-invoice"), assign("rui", "email-delivery")
		admins := assign("joao", "email-delivery")
		if _, _, err := st.SetStatus(ctx, storage.ReachAll(), closed.Number, "joao", tickets.Closed, func(storage.ChangeMail) ([]storage.Email, error) { return nil, nil }); err != nil {
			t.Fatal(err)
		}
		// Out of billing: its billing ticket goes back to the queue, the email ones stay.
		rui.Departments = map[string]string{"email": "agent"}
		if _, err := st.PutStaffMember(ctx, rui); err != nil {
			t.Fatal(err)
		}
		if assignee(billing) != "" || assignee(email) != "rui" {
			t.Fatalf("out of billing: billing ticket %q, email ticket %q", assignee(billing), assignee(email))
		}
		// Disabled: every open ticket of theirs; the closed one keeps their name.
		rui.Active = false
		if _, err := st.PutStaffMember(ctx, rui); err != nil {
			t.Fatal(err)
		}
		if assignee(email) != "" || assignee(closed) != "rui" || assignee(admins) != "joao" {
			t.Fatalf("disabled: open %q, closed %q, the admin's %q", assignee(email), assignee(closed), assignee(admins))
		}
		if mine, err := st.AssignedTo(ctx, storage.ReachAll(), "rui", 10); err != nil || len(mine) != 0 {
			t.Fatalf("a disabled member still owns %d tickets (%v)", len(mine), err)
		}
	})
}

func TestLeastOpenGivesTheNextTicketToTheMemberWithFewestOpenAndSkipsMembersAway(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		putMember(t, st, "a", false, map[string]string{"email": "agent"})
		putMember(t, st, "b", false, map[string]string{"email": "agent"})
		away := putMember(t, st, "c", false, map[string]string{"email": "agent"})
		away.Away = true
		if _, err := st.PutStaffMember(ctx, away); err != nil {
			t.Fatal(err)
		}
		// Off (the default): nothing is assigned.
		tk := createTicket(t, st, "ana")
		if _, assigned, err := st.AutoAssign(ctx, tk.ID); err != nil || assigned {
			t.Fatalf("assigned with automatic assignment off: %v %v", assigned, err)
		}
		if s, err := st.Settings(ctx, storage.ReachAll(), "email"); err != nil || s.AutoAssign != storage.AutoAssignOff {
			t.Fatalf("default settings: %+v %v", s, err)
		}
		if _, err := st.SetSettings(ctx, storage.ReachAll(), storage.DepartmentSettings{DepartmentID: "email", AutoAssign: storage.AutoAssignLeastOpen}); err != nil {
			t.Fatal(err)
		}
		// a already has two open tickets: the next two go to b.
		for range 2 {
			n := createTicket(t, st, "ana").Number
			if _, err := st.Assign(ctx, storage.ReachAll(), n, ptr("a"), storage.AssignRule{Caller: "x", Others: true}); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		for _, id := range []int64{tk.ID, createTicket(t, st, "ana").ID, createTicket(t, st, "ana").ID} {
			after, assigned, err := st.AutoAssign(ctx, id)
			if err != nil || !assigned {
				t.Fatalf("auto-assign: %v %v", assigned, err)
			}
			got = append(got, *after.AssigneeID)
		}
		if fmt.Sprint(got) != "[b b a]" {
			t.Fatalf("least open assigned %v", got)
		}
		// Again for an assigned ticket: nothing changes.
		if _, assigned, err := st.AutoAssign(ctx, tk.ID); err != nil || assigned {
			t.Fatalf("a second auto-assignment: %v %v", assigned, err)
		}
	})
}

// TestConcurrentAutomaticAssignmentSpreadsEvenly assigns 1,000 tickets over 5 members from 16
// workers on two stores at once (two instances, on Postgres), in each mode.
func TestConcurrentAutomaticAssignmentSpreadsEvenly(t *testing.T) {
	for _, mode := range []string{storage.AutoAssignLeastOpen, storage.AutoAssignRoundRobin} {
		t.Run(mode, func(t *testing.T) {
			for _, b := range storagetest.Backends(t) {
				t.Run(b.Name, func(t *testing.T) {
					ctx := context.Background()
					stores := []*storage.Store{storagetest.Open(t, b)}
					st := stores[0]
					if st.Postgres() {
						stores = append(stores, storagetest.Open(t, b))
					}
					putCustomer(t, st, "ana")
					members := []string{"m1", "m2", "m3", "m4", "m5"}
					for _, m := range members {
						putMember(t, st, m, false, map[string]string{"email": "agent"})
					}
					away := putMember(t, st, "m6", false, map[string]string{"email": "agent"})
					away.Away = true
					if _, err := st.PutStaffMember(ctx, away); err != nil {
						t.Fatal(err)
					}
					if _, err := st.SetSettings(ctx, storage.ReachAll(), storage.DepartmentSettings{DepartmentID: "email", AutoAssign: mode}); err != nil {
						t.Fatal(err)
					}
					const n = 1000
					ids := make(chan int64, n)
					for range n {
						ids <- fileTicket(t, st, "ana").TicketID
					}
					close(ids)
					var (
						mu    sync.Mutex
						count = map[string]int{}
						wg    sync.WaitGroup
						errs  = make(chan error, 16)
					)
					for w := range 16 {
						wg.Add(1)
						go func(s *storage.Store) {
							defer wg.Done()
							for id := range ids {
								tk, assigned, err := s.AutoAssign(ctx, id)
								if err != nil || !assigned {
									errs <- fmt.Errorf("ticket %d: assigned %v, %v", id, assigned, err)
									return
								}
								mu.Lock()
								count[*tk.AssigneeID]++
								mu.Unlock()
							}
						}(stores[w%len(stores)])
					}
					wg.Wait()
					close(errs)
					for err := range errs {
						t.Fatal(err)
					}
					lo, hi := n, 0
					for _, m := range members {
						lo, hi = min(lo, count[m]), max(hi, count[m])
					}
					t.Logf("%s on %s, %d tickets over %d members from 16 workers on %d stores: %v (spread %d)", mode, b.Name, n, len(members), len(stores), count, hi-lo)
					if count["m6"] != 0 || hi-lo > 1 || len(count) != len(members) {
						t.Fatalf("%s spread %v", mode, count)
					}
					// The store agrees with what the calls reported.
					var stored []struct {
						Assignee string `db:"assignee"`
						N        int    `db:"n"`
					}
					if err := st.DB().Select(&stored, `SELECT assignee, COUNT(*) AS n FROM tickets WHERE status <> 'closed' GROUP BY assignee`); err != nil {
						t.Fatal(err)
					}
					for _, r := range stored {
						if r.N != count[r.Assignee] {
							t.Fatalf("stored %s: %d, reported %d", r.Assignee, r.N, count[r.Assignee])
						}
					}
				})
			}
		})
	}
}
