package api_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
)

type revealed struct {
	Password  string    `json:"password"`
	ExpiresAt time.Time `json:"expires_at"`
	Error     struct {
		Code string `json:"code"`
	} `json:"error"`
}

func createWithPassword(t *testing.T, s *systemtest.System, password string) string {
	t.Helper()
	return createTicket(t, s, "ana", map[string]any{"subject_id": "hosting-cpanel", "domain": "loja-exemplo.com", "message": "Não consigo entrar no painel.", "password": password})
}

func reveal(t *testing.T, s *systemtest.System, number, staff string) (int, revealed) {
	t.Helper()
	var r revealed
	code := s.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/password/reveal", systemtest.StaffToken, map[string]string{"staff": staff}, &r)
	return code, r
}

func customerPasswordState(t *testing.T, s *systemtest.System, number string) any {
	var d struct {
		Password any `json:"password"`
	}
	s.Do(t, "GET", "/api/v1/customers/ana/tickets/"+number, systemtest.APIToken, nil, &d)
	return d.Password
}

func ciphertextRows(t *testing.T, s *systemtest.System) int {
	var n int
	if err := s.Store.DB().Get(&n, `SELECT COUNT(*) FROM ticket_passwords WHERE password_sealed IS NOT NULL OR data_key_sealed IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAPasswordIsRevealedUntilItsDeadlineAndDestroyedAfter(t *testing.T) {
	const ttl = 3 * time.Second
	systemtest.Each(t, systemtest.Options{SecretTTL: ttl}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		start := time.Now()
		number := createWithPassword(t, s, plaintext)
		if got := customerPasswordState(t, s, number); got != "provided" {
			t.Fatalf("customer sees %v, want provided", got)
		}
		code, r := reveal(t, s, number, "joao")
		if code != http.StatusOK || r.Password != plaintext {
			t.Fatalf("reveal before the deadline: %d %q", code, r.Password)
		}
		if d := r.ExpiresAt.Sub(start); d < ttl-time.Second || d > ttl+time.Second {
			t.Fatalf("expires_at is %s after the request, want %s", d, ttl)
		}
		t.Cleanup(func() {
			if t.Failed() {
				keys, _ := s.Redis.Keys(context.Background(), "*").Result()
				t.Log(keys, s.Log.String())
			}
		})
		time.Sleep(time.Until(r.ExpiresAt))
		code, r = reveal(t, s, number, "joao")
		if code != http.StatusGone || r.Error.Code != "password_expired" || r.Password != secret.Obfuscated {
			t.Fatalf("reveal after the deadline: %d %+v", code, r)
		}
		if got := customerPasswordState(t, s, number); got != secret.Obfuscated {
			t.Fatalf("customer sees %v after expiry", got)
		}
		systemtest.Eventually(t, 10*time.Second, "the secret:expire task to destroy the ciphertext", func() bool { return ciphertextRows(t, s) == 0 })
		var audit struct {
			PasswordReveals []struct{ Staff, Outcome string } `json:"password_reveals"`
		}
		s.Do(t, "GET", "/api/v1/staff/tickets/"+number, systemtest.StaffToken, nil, &audit, systemtest.AsJoao...)
		if len(audit.PasswordReveals) != 2 || audit.PasswordReveals[0].Outcome != "revealed" || audit.PasswordReveals[1].Outcome != "expired" {
			t.Fatalf("audit = %+v", audit.PasswordReveals)
		}
		assertNowhere(t, s, plaintext)
	})
}

func TestThePromiseHoldsWhenTheServiceWasDownAndRedisLostEverything(t *testing.T) {
	const ttl = 2 * time.Second
	systemtest.Each(t, systemtest.Options{SecretTTL: ttl}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		number := createWithPassword(t, s, plaintext)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := s.Sink.Wait(ctx, 2); err != nil {
			t.Fatal(err)
		}
		s.StopWorker()
		if err := s.Redis.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(ttl + 200*time.Millisecond)
		if code, r := reveal(t, s, number, "joao"); code != http.StatusGone || r.Password != secret.Obfuscated {
			t.Fatalf("with no purge run, reveal after the deadline: %d %+v", code, r)
		}
		if ciphertextRows(t, s) != 1 {
			t.Fatal("the test expects the ciphertext to be still there before the restart")
		}
		s.StartWorker(t)
		systemtest.Eventually(t, 60*time.Second, "the sweep after restart to destroy the ciphertext", func() bool { return ciphertextRows(t, s) == 0 })
		var purged int
		_ = s.Store.DB().Get(&purged, `SELECT COUNT(*) FROM ticket_passwords WHERE purged_at IS NOT NULL`)
		if purged != 1 {
			t.Fatalf("purged_at recorded on %d rows", purged)
		}
	})
}

func TestTamperedOrMovedCiphertextRevealsNothingAndIsAudited(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		a := createWithPassword(t, s, "first secret")
		b := createWithPassword(t, s, "second secret")
		db := s.Store.DB()
		// Move A's sealed password onto B: the binding to the ticket must refuse it.
		if _, err := db.Exec(db.Rebind(`UPDATE ticket_passwords SET password_sealed = (SELECT password_sealed FROM ticket_passwords p JOIN tickets t ON t.id = p.ticket_id WHERE t.number = ?),
			data_key_sealed = (SELECT data_key_sealed FROM ticket_passwords p JOIN tickets t ON t.id = p.ticket_id WHERE t.number = ?)
			WHERE ticket_id = (SELECT id FROM tickets WHERE number = ?)`), a, a, b); err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error struct{ Code, Message string }
		}
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+b+"/password/reveal", systemtest.StaffToken, map[string]string{"staff": "joao"}, &e); code != 500 || e.Error.Code != "password_unreadable" {
			t.Fatalf("moved ciphertext: %d %+v", code, e)
		}
		// Flip a byte of A's ciphertext.
		var sealed []byte
		_ = db.Get(&sealed, db.Rebind(`SELECT password_sealed FROM ticket_passwords WHERE ticket_id = (SELECT id FROM tickets WHERE number = ?)`), a)
		sealed[len(sealed)-1] ^= 0xff
		_, _ = db.Exec(db.Rebind(`UPDATE ticket_passwords SET password_sealed = ? WHERE ticket_id = (SELECT id FROM tickets WHERE number = ?)`), sealed, a)
		var r revealed
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+a+"/password/reveal", systemtest.StaffToken, map[string]string{"staff": "joao"}, &r); code != 500 || r.Password != "" {
			t.Fatalf("tampered ciphertext: %d %+v", code, r)
		}
		var outcome string
		_ = db.Get(&outcome, db.Rebind(`SELECT outcome FROM password_reveals WHERE ticket_id = (SELECT id FROM tickets WHERE number = ?)`), a)
		if outcome != storage.RevealFailed {
			t.Fatalf("audit outcome %q, want failed", outcome)
		}
	})
}

func TestRotatedKeysKeepLiveSecretsAndRetireTheOldKey(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		number := createWithPassword(t, s, plaintext)
		newKey := secret.GenerateKey()
		// Every instance first gets the new key in front; the old one still opens.
		rotated, _ := secret.ParseKeyring(newKey)
		both := keyringWith(t, newKey, s)
		if n, err := s.Store.ResealPasswords(context.Background(), time.Now().UTC(), both.Reseal); err != nil || n != 1 {
			t.Fatalf("rotate: n=%d err=%v", n, err)
		}
		srv := api.New(api.Config{APIToken: systemtest.APIToken, StaffToken: systemtest.StaffToken, SecretTTL: time.Hour},
			api.Deps{Store: s.Store, Keys: rotated, Composer: s.Composer, Enqueuer: s.Deps.Enqueuer, Log: s.Deps.Log})
		s.HTTP.Config.Handler = srv
		if code, r := reveal(t, s, number, "joao"); code != 200 || r.Password != plaintext {
			t.Fatalf("after rotation, with only the new key: %d", code)
		}
	})
}

// A password whose data key no key of the ring opens does not stop a rotation: the others are
// re-sealed, and the error names it.
func TestRotationGoesPastAPasswordItCannotOpenAndNamesIt(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		broken := createWithPassword(t, s, plaintext)
		good := createWithPassword(t, s, plaintext)
		db := s.Store.DB()
		var brokenID int64
		var dataKey []byte
		if err := db.QueryRow(db.Rebind(`SELECT p.ticket_id, p.data_key_sealed FROM ticket_passwords p JOIN tickets t ON t.id = p.ticket_id
			WHERE t.number = ?`), broken).Scan(&brokenID, &dataKey); err != nil {
			t.Fatal(err)
		}
		dataKey[len(dataKey)-1] ^= 0xff
		if _, err := db.Exec(db.Rebind(`UPDATE ticket_passwords SET data_key_sealed = ? WHERE ticket_id = ?`), dataKey, brokenID); err != nil {
			t.Fatal(err)
		}
		newKey := secret.GenerateKey()
		n, err := s.Store.ResealPasswords(context.Background(), time.Now().UTC(), keyringWith(t, newKey, s).Reseal)
		var unsealed *storage.UnsealedError
		if n != 1 || !errors.As(err, &unsealed) || !slices.Equal(unsealed.TicketIDs, []int64{brokenID}) || !errors.Is(err, secret.ErrOpen) {
			t.Fatalf("rotate: n=%d err=%v; want 1 re-sealed and ticket %d named", n, err, brokenID)
		}
		rotated, _ := secret.ParseKeyring(newKey)
		srv := api.New(api.Config{APIToken: systemtest.APIToken, StaffToken: systemtest.StaffToken, SecretTTL: time.Hour},
			api.Deps{Store: s.Store, Keys: rotated, Composer: s.Composer, Enqueuer: s.Deps.Enqueuer, Log: s.Deps.Log})
		s.HTTP.Config.Handler = srv
		if code, r := reveal(t, s, good, "joao"); code != 200 || r.Password != plaintext {
			t.Fatalf("the other password, with only the new key: %d", code)
		}
	})
}

// keyringWith returns a ring with key first and the system's current key after it.
func keyringWith(t *testing.T, key string, s *systemtest.System) *secret.Keyring {
	t.Helper()
	ring, err := secret.ParseKeyring(key + "," + s.KeySpec)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func TestTwoStaffRevealingAtOnceAreBothAudited(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		number := createWithPassword(t, s, plaintext)
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i, who := range []string{"joao", "maria"} {
			wg.Add(1)
			go func() { defer wg.Done(); codes[i], _ = reveal(t, s, number, who) }()
		}
		wg.Wait()
		if codes[0] != 200 || codes[1] != 200 {
			t.Fatalf("codes %v", codes)
		}
		var audit struct {
			PasswordReveals []struct{ Staff string } `json:"password_reveals"`
		}
		s.Do(t, "GET", "/api/v1/staff/tickets/"+number, systemtest.StaffToken, nil, &audit, systemtest.AsJoao...)
		if len(audit.PasswordReveals) != 2 {
			t.Fatalf("audit = %+v", audit)
		}
	})
}

func TestAnEmptyPasswordIsNone(t *testing.T) {
	s := systemtest.Start(t, systemtestSQLite(t), systemtest.Options{NoWorker: true})
	s.PutCustomer(t, "ana", "pt-PT")
	number := createWithPassword(t, s, "")
	if got := customerPasswordState(t, s, number); got != nil {
		t.Fatalf("password state %v, want null", got)
	}
	var e struct{ Error struct{ Code string } }
	if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/password/reveal", systemtest.StaffToken, map[string]string{"staff": "joao"}, &e); code != 404 || e.Error.Code != "no_password" {
		t.Fatalf("reveal: %d %+v", code, e)
	}
}

func TestOnlyAnActiveMemberIsNamedForARevealAsForAnAnswer(t *testing.T) {
	s := systemtest.Start(t, systemtestSQLite(t), systemtest.Options{NoWorker: true})
	s.PutCustomer(t, "ana", "pt-PT")
	number := createWithPassword(t, s, plaintext)
	// A free-text name, as staff typed before they were members, names nobody now.
	for _, bad := range []string{"", "   ", strings.Repeat("Ωλ", 40), "joao\r\nX-Injected: 1", "someone"} {
		var e errorReply
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/messages", systemtest.StaffToken, map[string]string{"staff": bad, "message": "Já vimos."}, &e); code != 403 || e.Error.Code != "staff_member_unknown" {
			t.Fatalf("answer by %q: %d %+v", bad, code, e)
		}
		if code := s.Do(t, "POST", "/api/v1/staff/tickets/"+number+"/password/reveal", systemtest.StaffToken, map[string]string{"staff": bad}, &e); code != 403 || e.Error.Code != "staff_member_unknown" {
			t.Fatalf("reveal by %q: %d %+v", bad, code, e)
		}
	}
	if code, r := reveal(t, s, number, "  joao "); code != http.StatusOK || r.Password != plaintext {
		t.Fatalf("reveal by a member, named with spaces around: %d %+v", code, r)
	}
	var audit struct {
		PasswordReveals []struct{ Staff, Member, Via string } `json:"password_reveals"`
	}
	s.Do(t, "GET", "/api/v1/staff/tickets/"+number, systemtest.StaffToken, nil, &audit, systemtest.AsJoao...)
	if len(audit.PasswordReveals) != 1 || audit.PasswordReveals[0].Member != "joao" || audit.PasswordReveals[0].Via != "service" {
		t.Fatalf("audit %+v, want one reveal by joao through the service token", audit.PasswordReveals)
	}
}

// The checklist's boundary, with the promised 72 hours and the API's own clock: revealed at
// 71h59m, obfuscated at 72h00m, with no purge having run.
func TestAPasswordIsRevealedAt71h59mAndObfuscatedAt72h(t *testing.T) {
	systemtest.Each(t, systemtest.Options{NoWorker: true}, func(t *testing.T, s *systemtest.System) {
		s.PutCustomer(t, "ana", "pt-PT")
		var clock atomic.Int64
		created := time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)
		clock.Store(created.UnixNano())
		s.HTTP.Config.Handler = api.New(api.Config{APIToken: systemtest.APIToken, StaffToken: systemtest.StaffToken, SecretTTL: 72 * time.Hour},
			api.Deps{Store: s.Store, Keys: s.Keys, Composer: s.Composer, Enqueuer: s.Deps.Enqueuer, Log: s.Deps.Log,
				Now: func() time.Time { return time.Unix(0, clock.Load()).UTC() }})
		number := createWithPassword(t, s, plaintext)

		clock.Store(created.Add(71*time.Hour + 59*time.Minute).UnixNano())
		if code, r := reveal(t, s, number, "joao"); code != http.StatusOK || r.Password != plaintext || !r.ExpiresAt.Equal(created.Add(72*time.Hour)) {
			t.Fatalf("at 71h59m: %d %+v", code, r)
		}
		if got := customerPasswordState(t, s, number); got != "provided" {
			t.Fatalf("the customer sees %v at 71h59m", got)
		}

		clock.Store(created.Add(72 * time.Hour).UnixNano())
		if code, r := reveal(t, s, number, "joao"); code != http.StatusGone || r.Error.Code != "password_expired" || r.Password != secret.Obfuscated {
			t.Fatalf("at 72h00m: %d %+v", code, r)
		}
		if got := customerPasswordState(t, s, number); got != secret.Obfuscated {
			t.Fatalf("the customer sees %v at 72h00m", got)
		}
		if ciphertextRows(t, s) != 1 {
			t.Fatal("the test means to read before any purge")
		}
	})
}
