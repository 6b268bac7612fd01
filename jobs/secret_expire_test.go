package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/jobs"
	"github.com/assistd/assistd/secret"
)

// revealAt asks the API, whose clock reads at, for a ticket's password, and returns the status
// and the password field of the answer.
func revealAt(t *testing.T, s *systemtest.System, at time.Time, number string) (int, string) {
	t.Helper()
	s.HTTP.Config.Handler = api.New(api.Config{APIToken: systemtest.APIToken, StaffToken: systemtest.StaffToken, SecretTTL: 72 * time.Hour},
		api.Deps{Store: s.Store, Keys: s.Keys, Composer: s.Composer, Enqueuer: s.Deps.Enqueuer, Log: s.Deps.Log, Now: func() time.Time { return at }})
	var r struct {
		Password string `json:"password"`
	}
	code := s.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/password/reveal", systemtest.StaffToken, map[string]string{"staff": "joao"}, &r)
	var view struct {
		Password any `json:"password"`
	}
	s.Do(t, "GET", "/api/v1/customers/ana/tickets/"+number, systemtest.APIToken, nil, &view)
	if want := map[bool]any{true: "provided", false: secret.Obfuscated}[code == http.StatusOK]; view.Password != want {
		t.Fatalf("at %s the reveal answers %d but the customer sees %v", at, code, view.Password)
	}
	return code, r.Password
}

func TestAPasswordIsKeptExactly72HoursWhetherTheSweepRunsOrNot(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		s.PutCustomer(t, "ana", "pt-PT")
		tk := newTicket(t, s, "s3gredo")
		if tk.PasswordExpiresAt == nil || tk.PasswordExpiresAt.Sub(tk.CreatedAt) != 72*time.Hour {
			t.Fatalf("created %s, expires %v: want exactly 72 h later", tk.CreatedAt, tk.PasswordExpiresAt)
		}
		created := tk.CreatedAt
		sweepAt := func(at time.Time) {
			t.Helper()
			s.Deps.Now = func() time.Time { return at }
			if err := s.Deps.HandleSecretSweep(ctx, jobs.NewPeriodicTask(jobs.TypeSecretSweep, time.Minute, at)); err != nil {
				t.Fatal(err)
			}
		}
		for _, at := range []time.Duration{71*time.Hour + 59*time.Minute, 72*time.Hour - time.Microsecond} {
			sweepAt(created.Add(at))
			if code, p := revealAt(t, s, created.Add(at), tk.Number); code != http.StatusOK || p != "s3gredo" {
				t.Fatalf("at %s after creation: %d %q, want the password", at, code, p)
			}
		}
		// At 72h00m the password is gone for every reader before any purge has run...
		if code, p := revealAt(t, s, created.Add(72*time.Hour), tk.Number); code != http.StatusGone || p != secret.Obfuscated {
			t.Fatalf("at 72h00m, before any purge: %d %q", code, p)
		}
		if n := ciphertexts(t, s); n != 1 {
			t.Fatalf("%d ciphertexts before the purge, want 1 (the test needs the read rule alone to hide it)", n)
		}
		// ...and the sweep at 72h00m destroys it.
		sweepAt(created.Add(72 * time.Hour))
		if n := ciphertexts(t, s); n != 0 {
			t.Fatalf("%d ciphertexts after the sweep at 72h00m", n)
		}
		if code, p := revealAt(t, s, created.Add(72*time.Hour+time.Minute), tk.Number); code != http.StatusGone || p != secret.Obfuscated {
			t.Fatalf("after the purge: %d %q", code, p)
		}
	})
}

func ciphertexts(t *testing.T, s *systemtest.System) int {
	t.Helper()
	var n int
	if err := s.Store.DB().Get(&n, `SELECT COUNT(*) FROM ticket_passwords WHERE password_sealed IS NOT NULL OR data_key_sealed IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAfterThePurgeNoTaskNoRedisValueAndNoLogHoldsThePassword(t *testing.T) {
	const ttl = 2 * time.Second
	const plaintext = "Segr3do-do-cliente"
	systemtest.Each(t, systemtest.Options{SecretTTL: ttl}, func(t *testing.T, s *systemtest.System) {
		ctx := context.Background()
		s.PutCustomer(t, "ana", "pt-PT")
		tk := newTicket(t, s, plaintext)
		var sealed struct {
			Password []byte `db:"password_sealed"`
			DataKey  []byte `db:"data_key_sealed"`
		}
		if err := s.Store.DB().Get(&sealed, s.Store.DB().Rebind(`SELECT password_sealed, data_key_sealed FROM ticket_passwords WHERE ticket_id = ?`), tk.ID); err != nil {
			t.Fatal(err)
		}
		systemtest.Eventually(t, 15*time.Second, "the ciphertext to be destroyed", func() bool { return ciphertexts(t, s) == 0 })
		ins := asynq.NewInspectorFromRedisClient(s.Redis)
		ticketTasks := func() []string {
			var found []string
			for _, q := range []string{jobs.QueueCritical, jobs.QueueDefault, jobs.QueueLow} {
				for state, list := range map[string]func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
					"pending": ins.ListPendingTasks, "active": ins.ListActiveTasks, "scheduled": ins.ListScheduledTasks,
					"retry": ins.ListRetryTasks, "archived": ins.ListArchivedTasks, "completed": ins.ListCompletedTasks,
				} {
					infos, err := list(q)
					if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
						t.Fatal(err)
					}
					for _, i := range infos {
						if i.Type == jobs.TypeSecretExpire || strings.Contains(string(i.Payload), strconv.FormatInt(tk.ID, 10)) {
							found = append(found, fmt.Sprintf("%s %s %s %s", q, state, i.ID, i.Payload))
						}
					}
				}
			}
			return found
		}
		systemtest.Eventually(t, 10*time.Second, "the ticket's tasks to leave Redis", func() bool { return len(ticketTasks()) == 0 })
		keys, err := s.Redis.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			var values []string
			switch s.Redis.Type(ctx, k).Val() {
			case "string":
				values = []string{s.Redis.Get(ctx, k).Val()}
			case "hash":
				for _, v := range s.Redis.HGetAll(ctx, k).Val() {
					values = append(values, v)
				}
			case "list":
				values = s.Redis.LRange(ctx, k, 0, -1).Val()
			case "set":
				values = s.Redis.SMembers(ctx, k).Val()
			case "zset":
				values = s.Redis.ZRange(ctx, k, 0, -1).Val()
			}
			for _, v := range append(values, k) {
				for what, needle := range map[string][]byte{"plaintext": []byte(plaintext), "sealed password": sealed.Password, "sealed data key": sealed.DataKey} {
					if bytes.Contains([]byte(v), needle) {
						t.Errorf("Redis key %s holds the %s", k, what)
					}
				}
			}
		}
		if strings.Contains(s.Log.String(), plaintext) {
			t.Error("the logs hold the password")
		}
	})
}
