package secret_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/assistd/assistd/secret"
)

func ring(t *testing.T, keys ...string) *secret.Keyring {
	t.Helper()
	r, err := secret.ParseKeyring(strings.Join(keys, ","))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPasswordsSurviveTheRoundTripExactly(t *testing.T) {
	r := ring(t, secret.GenerateKey())
	for _, p := range []string{"a", " spaces at both ends ", `"quotes' and \backslashes`, "emoji 🔐🇵🇹", "\x00nul\r\nbreaks", strings.Repeat("x", secret.MaxPasswordBytes)} {
		s, err := r.Seal(secret.NewPassword(p), "42")
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Open(s, "42")
		if err != nil || got.Reveal() != p {
			t.Fatalf("round trip of %q: got %q, %v", p, got.Reveal(), err)
		}
	}
}

func TestSealedPasswordsFailClosed(t *testing.T) {
	r := ring(t, secret.GenerateKey())
	s, _ := r.Seal(secret.NewPassword("hunter2"), "42")
	flip := func(b []byte, i int) []byte { c := append([]byte{}, b...); c[i] ^= 1; return c }
	cases := map[string]secret.Sealed{
		"a flipped bit in the password": {Password: flip(s.Password, len(s.Password)-1), DataKey: s.DataKey},
		"a flipped bit in the data key": {Password: s.Password, DataKey: flip(s.DataKey, len(s.DataKey)-1)},
		"a flipped key id":              {Password: s.Password, DataKey: flip(s.DataKey, 2)},
		"a truncated password":          {Password: s.Password[:5], DataKey: s.DataKey},
		"no data key":                   {Password: s.Password},
		"another secret's data key":     {Password: s.Password, DataKey: mustSeal(t, r, "other", "42").DataKey},
	}
	for name, sealed := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := r.Open(sealed, "42")
			if !errors.Is(err, secret.ErrOpen) || p.Reveal() != "" {
				t.Fatalf("opened %q, err %v; want ErrOpen and nothing", p.Reveal(), err)
			}
		})
	}
	t.Run("a password moved to another ticket", func(t *testing.T) {
		if _, err := r.Open(s, "43"); !errors.Is(err, secret.ErrOpen) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a key no longer in the ring", func(t *testing.T) {
		if _, err := ring(t, secret.GenerateKey()).Open(s, "42"); !errors.Is(err, secret.ErrOpen) {
			t.Fatalf("err = %v", err)
		}
	})
}

func mustSeal(t *testing.T, r *secret.Keyring, p, binding string) secret.Sealed {
	s, err := r.Seal(secret.NewPassword(p), binding)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRotationResealsDataKeysAndOldKeysStillOpen(t *testing.T) {
	oldKey, newKey := secret.GenerateKey(), secret.GenerateKey()
	before := ring(t, oldKey)
	s := mustSeal(t, before, "hunter2", "7")
	after := ring(t, newKey, oldKey)
	if p, err := after.Open(s, "7"); err != nil || p.Reveal() != "hunter2" {
		t.Fatalf("old secret under the new ring: %v", err)
	}
	dk, changed, err := after.Reseal(s.DataKey, "7")
	if err != nil || !changed {
		t.Fatalf("reseal: changed=%v err=%v", changed, err)
	}
	if _, changed, _ := after.Reseal(dk, "7"); changed {
		t.Fatal("resealing twice changed it again")
	}
	onlyNew := ring(t, newKey)
	if p, err := onlyNew.Open(secret.Sealed{Password: s.Password, DataKey: dk}, "7"); err != nil || p.Reveal() != "hunter2" {
		t.Fatalf("after rotation the new key alone must open it: %v", err)
	}
	if _, err := before.Open(secret.Sealed{Password: s.Password, DataKey: dk}, "7"); err == nil {
		t.Fatal("after rotation the retired key still opens it")
	}
}

func TestAPasswordNeverPrints(t *testing.T) {
	p := secret.NewPassword("hunter2")
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "p", p, "s", struct{ P secret.Password }{p})
	js, _ := json.Marshal(map[string]any{"p": p})
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", p), "%s": fmt.Sprintf("%s", p), "%+v": fmt.Sprintf("%+v", struct{ P secret.Password }{p}),
		"%#v": fmt.Sprintf("%#v", p), "%q": fmt.Sprintf("%q", p), "error": fmt.Errorf("wrapped: %v", p).Error(),
		"slog": logs.String(), "json": string(js),
	} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s prints the password: %s", name, out)
		}
	}
}

// Go's fmt cannot call the methods of a value it reaches through an unexported field: it prints
// the fields of such a value itself. A password kept in a private field of any struct must still
// not print.
func TestAPasswordInAPrivateFieldNeverPrints(t *testing.T) {
	type request struct {
		staff    string
		password secret.Password
	}
	r := request{staff: "joao", password: secret.NewPassword("hunter2")}
	var text, js strings.Builder
	slog.New(slog.NewTextHandler(&text, nil)).Info("x", "r", r, "p", &r)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("x", "r", r)
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", r), "%+v": fmt.Sprintf("%+v", r), "%#v": fmt.Sprintf("%#v", r),
		"pointer %+v": fmt.Sprintf("%+v", &r),
		"slice %v":    fmt.Sprintf("%v", []request{r}), "map %v": fmt.Sprintf("%v", map[string]request{"a": r}),
		"error": fmt.Errorf("wrapped: %+v", r).Error(), "slog text": text.String(), "slog json": js.String(),
	} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s prints the password: %s", name, out)
		}
	}
	if got := r.password.Reveal(); got != "hunter2" {
		t.Fatalf("Reveal = %q", got)
	}
}

func TestAnEmptyPasswordIsEmpty(t *testing.T) {
	var zero secret.Password
	if !zero.Empty() || zero.Len() != 0 || zero.Reveal() != "" {
		t.Fatal("the zero Password is not empty")
	}
	if p := secret.NewPassword(""); !p.Empty() || p.Reveal() != "" {
		t.Fatal("an empty password is not empty")
	}
	if p := secret.NewPassword("x"); p.Empty() || p.Len() != 1 {
		t.Fatal("a one-byte password is empty")
	}
}

func TestBadKeysStopEverything(t *testing.T) {
	for name, spec := range map[string]string{
		"empty":       "",
		"not base64":  "%%%",
		"too short":   "c2hvcnQ=",
		"one of many": secret.GenerateKey() + ",c2hvcnQ=",
	} {
		if _, err := secret.ParseKeyring(spec); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), spec) && spec != "" {
			t.Errorf("%s: the error repeats key material: %v", name, err)
		}
	}
}

// A digest tells requests apart, and only a holder of the ring's active key can make one: a
// plain hash of a request would let whoever reads the database try guesses at its password.
func TestADigestNeedsTheActiveKey(t *testing.T) {
	k1, k2 := secret.GenerateKey(), secret.GenerateKey()
	a, b := ring(t, k1), ring(t, k2, k1)
	req := []byte(`{"message":"olá","password":"hunter2"}`)
	if a.Digest(req) != a.Digest(req) || a.Digest(req) == "" {
		t.Fatal("the same request has two digests")
	}
	if a.Digest(req) == a.Digest([]byte(`{"message":"olá","password":"hunter3"}`)) {
		t.Fatal("two passwords share a digest")
	}
	if a.Digest(req) == b.Digest(req) {
		t.Fatal("another active key makes the same digest")
	}
	if strings.Contains(a.Digest(req), "hunter2") {
		t.Fatal("the digest shows the password")
	}
}
