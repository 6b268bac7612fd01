package mail

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"hash"
	"io"
	"strings"
	"sync"
)

// Message-IDs minted by an IDSigner look like
//
//	<pedido.48213957.confirmation.RANDOM.MAC@domain>
//
// where RANDOM is 80 random bits and MAC is the HMAC-SHA256 of the local part
// before it, truncated to 128 bits. Both are lowercase base32 without padding.
// A mail sent without a ticket carries "-" in place of the number.
const (
	idPrefix    = "pedido"
	idNoTicket  = "-"
	idRandLen   = 10
	idMACLen    = 16
	maxMsgIDLen = 250
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// IDSigner mints Message-IDs that name the ticket they belong to and carry a
// MAC, so that inbound replies and bounces can be tied to a ticket and ids
// forged by someone else are recognised as foreign.
type IDSigner struct {
	keys   [][]byte // the first signs; every one verifies
	domain string
	// macs keeps HMACs keyed with keys[0]: setting a key up hashes two blocks, as much work as
	// the short id itself, and every outgoing email signs two ids.
	macs sync.Pool
}

// NewIDSigner returns a signer using key for the MAC and domain as the right
// part of every id. The key must not be empty (it panics otherwise: that is a
// wiring mistake, not a runtime condition).
func NewIDSigner(key []byte, domain string, older ...[]byte) *IDSigner {
	s := &IDSigner{domain: strings.ToLower(domain)}
	for _, k := range append([][]byte{key}, older...) {
		if len(k) == 0 {
			panic("mail: NewIDSigner needs non-empty keys")
		}
		s.keys = append(s.keys, append([]byte(nil), k...))
	}
	return s
}

// New returns a fresh Message-ID, with angle brackets, for a mail of the
// given kind (e.g. "confirmation") about ticketNumber, which may be "" for
// mail that belongs to no ticket. ticketNumber is expected to be digits and
// kind lowercase letters, digits and '-': other characters are dropped.
func (s *IDSigner) New(ticketNumber, kind string) string {
	number := keepOnly(ticketNumber, isDigit)
	if number == "" {
		number = idNoTicket
	}
	kind = keepOnly(strings.ToLower(kind), isKindChar)
	if kind == "" {
		kind = "mail"
	}
	random := make([]byte, idRandLen)
	rand.Read(random) // never returns an error (crypto/rand since Go 1.24)
	return s.id(number, kind, random)
}

// Stable returns the Message-ID of the one mail of a kind that a ticket ever gets (its
// confirmation copy, its department notification): the same every time it is asked, so that a
// mail rendered again after a lost commit is recognisably the same message.
func (s *IDSigner) Stable(ticketNumber, kind string) string {
	number := keepOnly(ticketNumber, isDigit)
	if number == "" {
		return s.New(ticketNumber, kind)
	}
	kind = keepOnly(strings.ToLower(kind), isKindChar)
	if kind == "" {
		kind = "mail"
	}
	return s.id(number, kind, s.sign("stable." + number + "." + kind)[:idRandLen])
}

func (s *IDSigner) id(number, kind string, random []byte) string {
	local := idPrefix + "." + number + "." + kind + "." + idEncoding.EncodeToString(random)
	return "<" + local + "." + idEncoding.EncodeToString(s.sign(local)) + "@" + s.domain + ">"
}

// Verify reports whether msgID (with or without angle brackets) was minted by
// this signer and, if so, the ticket number it names ("" for mail sent
// without a ticket).
func (s *IDSigner) Verify(msgID string) (ticketNumber string, ok bool) {
	if len(msgID) > maxMsgIDLen {
		return "", false
	}
	for i := 0; i < len(msgID); i++ {
		// Printable ASCII only: the base32 decoder would skip CR and LF.
		if msgID[i] < 0x21 || msgID[i] > 0x7e {
			return "", false
		}
	}
	id := strings.TrimSuffix(strings.TrimPrefix(msgID, "<"), ">")
	local, domain, found := strings.Cut(id, "@")
	if !found || !strings.EqualFold(domain, s.domain) {
		return "", false
	}
	parts := strings.Split(local, ".")
	if len(parts) != 5 || parts[0] != idPrefix {
		return "", false
	}
	mac, err := idEncoding.DecodeString(parts[4])
	if err != nil || len(mac) != idMACLen {
		return "", false
	}
	signed := false
	for _, k := range s.keys {
		signed = signed || hmac.Equal(mac, s.mac(k, strings.Join(parts[:4], ".")))
	}
	if !signed {
		return "", false
	}
	if parts[1] == idNoTicket {
		return "", true
	}
	return parts[1], true
}

// sign is mac under the signing key, with a kept HMAC.
func (s *IDSigner) sign(local string) []byte {
	h, _ := s.macs.Get().(hash.Hash)
	if h == nil {
		h = hmac.New(sha256.New, s.keys[0])
	}
	h.Reset()
	io.WriteString(h, local)
	sum := h.Sum(nil)[:idMACLen]
	s.macs.Put(h)
	return sum
}

func (s *IDSigner) mac(key []byte, local string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(local))
	return h.Sum(nil)[:idMACLen]
}

func keepOnly(s string, keep func(rune) bool) string {
	return strings.Map(func(r rune) rune {
		if keep(r) {
			return r
		}
		return -1
	}, s)
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func isKindChar(r rune) bool { return r >= 'a' && r <= 'z' || isDigit(r) || r == '-' }
