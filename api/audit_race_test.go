package api_test

import (
	"sync"
	"testing"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/storage"
)

// TestTransfersAndStatusChangesAtOnceOnOneTicketEachTakeEffectWhole sends transfers back and forth
// and status changes on one ticket at once: each is answered 200 or as a ticket no longer within
// reach, never 500, and the history records exactly the moves that were answered 200, each from
// where the previous one left the ticket.
func TestTransfersAndStatusChangesAtOnceOnOneTicketEachTakeEffectWhole(t *testing.T) {
	workflowEach(t, func(t *testing.T, env *webEnv, number string) {
		env.PutMember(t, "lia", false, map[string]string{"faturacao": "lead", "email": "agent"})
		st := systemtest.StaffToken
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			moved int
		)
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var code int
				switch i % 3 {
				case 0: // rita leads Email: moves it to Faturação
					code = env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/department", st, map[string]any{"department": "faturacao"}, nil, asMember("rita")...)
				case 1: // lia leads Faturação: moves it back
					code = env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/department", st, map[string]any{"department": "email"}, nil, asMember("lia")...)
				default:
					status := []string{"on_hold", "in_progress"}[i%2]
					code = env.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/status", st, map[string]any{"status": status}, nil, systemtest.AsJoao...)
				}
				switch {
				case code == 200 && i%3 != 2:
					mu.Lock()
					moved++
					mu.Unlock()
				case code == 200 || code == 404 || code == 403 && i%3 == 1 || code == 409:
				default:
					t.Errorf("request %d: %d", i, code)
				}
			}()
		}
		wg.Wait()
		var view staffView
		env.Do(t, "GET", "/api/v1/staff/tickets/"+number, st, nil, &view, systemtest.AsJoao...)
		dept := "email"
		moves := 0
		for _, h := range view.StatusHistory {
			if h.FromDepartment == "" && h.ToDepartment == "" {
				continue
			}
			if h.FromDepartment == h.ToDepartment {
				continue
			}
			moves++
			if h.FromDepartment != dept {
				t.Errorf("a move from %s while the ticket was in %s", h.FromDepartment, dept)
			}
			dept = h.ToDepartment
		}
		tk, _ := env.Store.TicketByNumber(t.Context(), storage.ReachAll(), number)
		if tk.DepartmentID != dept || view.Department.ID != dept {
			t.Errorf("the ticket is in %s, its history ends in %s", tk.DepartmentID, dept)
		}
		// A move to where it already is answers 200 without a record: at most that many more.
		if moves > moved {
			t.Errorf("%d moves recorded, %d answered 200", moves, moved)
		}
	})
}
