package mail

import (
	"fmt"
	netmail "net/mail"
	"strings"

	"golang.org/x/net/idna"
)

// addressProfile converts an internationalised domain to the ASCII form every relay takes
// (IDNA 2008, UTS #46 mapping, as browsers and mail clients do) and checks the result is a host
// name: letters, digits and hyphens, labels of 1 to 63 bytes, 253 bytes in all.
var addressProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.StrictDomainName(true),
	idna.ValidateLabels(true), idna.VerifyDNSLength(true), idna.Transitional(false))

// CanonicalAddress is the one rule for what an email address is, shared by the API, the
// catalog and the composer. It accepts one bare address ("ana@example.pt") that a relay takes
// without extensions: an ASCII dot-atom local part of at most 64 bytes and a host name, which an
// internationalised domain ("exämple.pt") becomes in its IDNA form ("xn--exmple-cua.pt"). It
// refuses a display name, a list, a quoted local part, a domain literal ("[127.0.0.1]") and a
// host with no dot. It checks syntax only: no DNS or top-level-domain lookup.
//
// The error wraps ErrInvalidAddress and never quotes the address, which is personal data.
func CanonicalAddress(s string) (string, error) {
	if s == "" || len(s) > 254 || strings.ContainsAny(s, " \t\r\n\x00,;:<>()[]\"\\") {
		return "", ErrInvalidAddress
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || !dotAtom(local) || len(local) > 64 {
		return "", ErrInvalidAddress
	}
	ascii, err := addressProfile.ToASCII(domain)
	if err != nil || !strings.Contains(ascii, ".") || strings.HasSuffix(ascii, ".") {
		return "", fmt.Errorf("%w: the domain is not a host name", ErrInvalidAddress)
	}
	out := local + "@" + strings.ToLower(ascii)
	if len(out) > 254 {
		return "", ErrInvalidAddress
	}
	// net/mail has the last word on the syntax the message header will carry.
	if a, err := netmail.ParseAddress(out); err != nil || a.Name != "" || a.Address != out {
		return "", ErrInvalidAddress
	}
	return out, nil
}

// dotAtom reports whether s is an RFC 5322 dot-atom of printable ASCII: atext runs joined by
// single dots.
func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
