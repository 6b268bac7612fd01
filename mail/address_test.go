package mail

import (
	"errors"
	"strings"
	"testing"
)

func TestCanonicalAddressIsTheOneRuleForAnAddress(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"a plain address is kept", "ana@example.pt", "ana@example.pt"},
		{"an internationalised domain becomes its IDNA form", "user@exämple.pt", "user@xn--exmple-cua.pt"},
		{"a domain in capitals is lowered, the local part kept", "Ana.Silva@EXAMPLE.pt", "Ana.Silva@example.pt"},
		{"a .test domain passes: no lookups", "ana@clientes.test", "ana@clientes.test"},
		{"a subaddress passes", "ana+suporte@example.pt", "ana+suporte@example.pt"},
		{"a domain already in IDNA form passes", "user@xn--exmple-cua.pt", "user@xn--exmple-cua.pt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CanonicalAddress(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("CanonicalAddress(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, in string }{
		{"an IPv4 literal", "dave@[127.0.0.1]"},
		{"an IPv6 literal", "dave@[IPv6:::1]"},
		{"a host with no dot", "dave@localhost"},
		{"a display name", "Dave <dave@example.pt>"},
		{"two addresses", "a@example.pt, b@example.pt"},
		{"a quoted local part", `"dave smith"@example.pt`},
		{"a local part out of ASCII", "joão@example.pt"},
		{"a local part of 65 bytes", strings.Repeat("a", 65) + "@example.pt"},
		{"a domain label of 64 bytes", "dave@" + strings.Repeat("a", 64) + ".pt"},
		{"an underscore in the domain", "dave@ex_ample.pt"},
		{"a trailing dot", "dave@example.pt."},
		{"an empty label", "dave@example..pt"},
		{"a leading dot in the local part", ".dave@example.pt"},
		{"no domain", "dave@"},
		{"no at sign", "dave"},
		{"a line break", "dave@example.pt\r\nBcc: x@example.pt"},
		{"an invalid IDNA label", "dave@xn--zz.pt"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			got, err := CanonicalAddress(tc.in)
			if !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("CanonicalAddress(%q) = %q, %v; want ErrInvalidAddress", tc.in, got, err)
			}
			if strings.Contains(err.Error(), "dave") {
				t.Fatalf("the error %q quotes the address", err)
			}
		})
	}
}
