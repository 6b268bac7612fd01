package mail

import (
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestIDSignerRoundTrip(t *testing.T) {
	s := NewIDSigner([]byte("test key"), "Example.PT")
	tests := []struct {
		name, number, kind string
	}{
		{"a confirmation names its ticket", "48213957", "confirmation"},
		{"an automatic answer without a ticket names none", "", "autoanswer"},
		{"an odd kind is reduced to safe characters", "1", "Auto Answer!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := s.New(tt.number, tt.kind)
			if !validMsgID(id) {
				t.Fatalf("New = %q, not a valid msg-id", id)
			}
			if !strings.HasPrefix(id, "<pedido.") || !strings.HasSuffix(id, "@example.pt>") {
				t.Errorf("New = %q, want <pedido....@example.pt>", id)
			}
			for _, form := range []string{
				id,
				strings.Trim(id, "<>"),
				strings.TrimSuffix(id, "example.pt>") + "EXAMPLE.PT>",
			} {
				if number, ok := s.Verify(form); !ok || number != tt.number {
					t.Errorf("Verify(%q) = %q, %v; want %q, true", form, number, ok, tt.number)
				}
			}
		})
	}
	if a, b := s.New("1", "x"), s.New("1", "x"); a == b {
		t.Errorf("two ids are equal: %q", a)
	}
}

func TestIDSignerRejects(t *testing.T) {
	s := NewIDSigner([]byte("test key"), "example.pt")
	id := s.New("48213957", "confirmation")
	other := NewIDSigner([]byte("another key"), "example.pt").New("48213957", "confirmation")
	tests := []struct {
		name string
		id   string
	}{
		{"a tampered ticket number", strings.Replace(id, "48213957", "48213958", 1)},
		{"a tampered kind", strings.Replace(id, "confirmation", "update", 1)},
		{"a tampered random part", tamper(id, 35)},
		{"a tampered mac", tamper(id, len(id)-15)},
		{"another domain", strings.Replace(id, "@example.pt", "@evil.example", 1)},
		{"an id signed with another key", other},
		{"a foreign id", "<CAFE1234.5678@mail.gmail.com>"},
		{"a foreign id shaped like ours", "<pedido.1.confirmation.aaaa.bbbb@example.pt>"},
		{"an empty string", ""},
		{"angle brackets only", "<>"},
		{"an id with CRLF", strings.Replace(id, "@", "\r\n@", 1)},
		{"an id followed by a header", id + "\r\nBcc: x@evil.example"},
		{"2 KB of garbage", "<" + strings.Repeat("a.", 1024) + "@example.pt>"},
		{"our id padded to 2 KB", id + strings.Repeat(" ", 2048)},
		{"too many dots", strings.Replace(id, "pedido.", "pedido.1.", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is rejected", func(t *testing.T) {
			if number, ok := s.Verify(tt.id); ok {
				t.Errorf("Verify(%q) = %q, true", tt.id, number)
			}
		})
	}
}

// tamper changes the letter at i to another base32 letter.
func tamper(s string, i int) string {
	b := []byte(s)
	if b[i] == 'a' {
		b[i] = 'b'
	} else {
		b[i] = 'a'
	}
	return string(b)
}

func TestStableIDsAreTheSameEachTimeAndVerify(t *testing.T) {
	s := NewIDSigner([]byte("key one"), "suporte.example.pt")
	a, b := s.Stable("48213957", "confirmation"), s.Stable("48213957", "confirmation")
	if a != b {
		t.Fatalf("stable ids differ: %s, %s", a, b)
	}
	if a == s.Stable("48213957", "department") || a == s.Stable("48213958", "confirmation") {
		t.Fatal("stable ids of another kind or ticket collide")
	}
	if n, ok := s.Verify(a); !ok || n != "48213957" {
		t.Fatalf("Verify(%s) = %q, %v", a, n, ok)
	}
}

func TestIDsSignedBeforeARotationStillVerify(t *testing.T) {
	before := NewIDSigner([]byte("old key"), "suporte.example.pt")
	id := before.New("48213957", "update")
	after := NewIDSigner([]byte("new key"), "suporte.example.pt", []byte("old key"))
	if n, ok := after.Verify(id); !ok || n != "48213957" {
		t.Fatalf("an id signed with the old key no longer verifies: %q %v", n, ok)
	}
	if _, ok := NewIDSigner([]byte("new key"), "suporte.example.pt").Verify(id); ok {
		t.Fatal("an id verifies without its key")
	}
	if _, ok := before.Verify(after.New("48213957", "update")); ok {
		t.Fatal("the old signer accepts an id of the new key")
	}
}

// The signer keeps its HMACs for reuse; goroutines sharing it must each get the MAC of their own
// id, never one mixed with another's.
func TestIDSignerSharedByGoroutines(t *testing.T) {
	s := NewIDSigner([]byte("test key"), "example.pt")
	want := map[string]string{}
	for i := range 64 {
		n := strconv.Itoa(10000000 + i)
		want[n] = NewIDSigner([]byte("test key"), "example.pt").Stable(n, "confirmation")
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(want)*20)
	for n, id := range want {
		wg.Go(func() {
			for range 20 {
				if got := s.Stable(n, "confirmation"); got != id {
					errs <- n + ": " + got + " != " + id
				}
				if fresh := s.New(n, "update"); func() bool { got, ok := s.Verify(fresh); return !ok || got != n }() {
					errs <- n + ": " + fresh + " does not verify"
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
