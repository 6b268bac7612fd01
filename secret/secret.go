// Package secret seals the passwords customers give through the secure tool.
//
// Envelope encryption: every password gets its own random 256-bit data key; the password is
// sealed with it (AES-256-GCM), and the data key is sealed with the active key of the key ring
// (ASSISTD_SECRET_KEYS). Both ciphertexts are bound to the ticket they belong to, so a sealed
// password moved to another row does not open. Purging a secret destroys both; rotating the ring
// re-seals only the data keys. The plaintext lives only in a Password value, which never prints.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Obfuscated is what every view shows once a password is gone.
const Obfuscated = "***PASSWORD OBFUSCATED***"

// MaxPasswordBytes bounds what the secure tool accepts.
const MaxPasswordBytes = 1024

const (
	keySize   = 32
	keyIDSize = 8
	version   = 1
)

// ErrOpen is returned for anything that cannot be opened: tampered or moved ciphertext, or a key
// that is no longer in the ring. It never carries key or plaintext material.
var ErrOpen = errors.New("secret: sealed password cannot be opened (tampered, moved, or its key is no longer in the ring)")

// Password is a plaintext password. Its String, GoString, Format, LogValue, MarshalJSON and
// MarshalText all redact, so that a Password passed to a logger, an error or an encoder by
// mistake leaks nothing. Only Reveal returns the text.
//
// The text sits behind a pointer: fmt cannot call the methods of a value it reaches through an
// unexported field (a Password kept in a private field of any struct) and prints its fields
// instead, and a pointer field prints as an address.
type Password struct{ s *string }

// NewPassword wraps a plaintext.
func NewPassword(s string) Password { return Password{s: &s} }

// Reveal returns the plaintext. Call it only to hand the password to authorised staff.
func (p Password) Reveal() string {
	if p.s == nil {
		return ""
	}
	return *p.s
}

// Empty reports whether no password was given.
func (p Password) Empty() bool { return p.Len() == 0 }

// Len is the size in bytes of the plaintext.
func (p Password) Len() int { return len(p.Reveal()) }

const redacted = "[REDACTED]"

func (Password) String() string                { return redacted }
func (Password) GoString() string              { return redacted }
func (Password) LogValue() slog.Value          { return slog.StringValue(redacted) }
func (Password) MarshalJSON() ([]byte, error)  { return []byte(`"` + redacted + `"`), nil }
func (Password) MarshalText() ([]byte, error)  { return []byte(redacted), nil }
func (Password) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }

// Keyring holds the key-encryption keys: the first seals, all open.
type Keyring struct {
	keys []kek
}

type kek struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
	mac  []byte // the key of Digest, derived from the ring key
}

// ParseKeyring reads ASSISTD_SECRET_KEYS: comma-separated standard base64 keys of 32 bytes each.
func ParseKeyring(spec string) (*Keyring, error) {
	var ring Keyring
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(part)
		if err != nil {
			return nil, fmt.Errorf("secret: key %d of ASSISTD_SECRET_KEYS is not valid base64", i+1)
		}
		if len(raw) != keySize {
			return nil, fmt.Errorf("secret: key %d of ASSISTD_SECRET_KEYS has %d bytes, want %d (generate one with `assistd keys generate`)", i+1, len(raw), keySize)
		}
		aead, err := newAEAD(raw)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(raw)
		var k kek
		copy(k.id[:], sum[:keyIDSize])
		k.aead = aead
		k.mac = hmacSHA256(raw, []byte("assistd/digest-key/v1"))
		ring.keys = append(ring.keys, k)
	}
	if len(ring.keys) == 0 {
		return nil, errors.New("secret: ASSISTD_SECRET_KEYS is empty: set at least one base64 32-byte key (generate one with `assistd keys generate`)")
	}
	return &ring, nil
}

// GenerateKey returns a new random key, base64-encoded as ASSISTD_SECRET_KEYS expects.
func GenerateKey() string {
	k := make([]byte, keySize)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// Sealed is a password sealed for one ticket.
type Sealed struct {
	Password []byte // version || nonce || AES-GCM(data key, plaintext)
	DataKey  []byte // version || key id || nonce || AES-GCM(ring key, data key)
}

// Seal seals p for the ticket identified by binding (the ticket's id).
func (r *Keyring) Seal(p Password, binding string) (Sealed, error) {
	dk := make([]byte, keySize)
	if _, err := rand.Read(dk); err != nil {
		return Sealed{}, fmt.Errorf("secret: %w", err)
	}
	aead, err := newAEAD(dk)
	if err != nil {
		return Sealed{}, err
	}
	sealedKey, err := r.sealDataKey(dk, binding)
	clear(dk)
	if err != nil {
		return Sealed{}, err
	}
	return Sealed{Password: seal(aead, []byte{version}, []byte(p.Reveal()), aad("password", binding)), DataKey: sealedKey}, nil
}

// Open returns the password sealed for binding, or ErrOpen.
func (r *Keyring) Open(s Sealed, binding string) (Password, error) {
	dk, err := r.openDataKey(s.DataKey, binding)
	if err != nil {
		return Password{}, err
	}
	aead, err := newAEAD(dk)
	clear(dk)
	if err != nil {
		return Password{}, err
	}
	if len(s.Password) < 1 || s.Password[0] != version {
		return Password{}, ErrOpen
	}
	plain, err := open(aead, s.Password[:1], s.Password[1:], aad("password", binding))
	if err != nil {
		return Password{}, ErrOpen
	}
	return NewPassword(string(plain)), nil
}

// Reseal re-seals a data key under the active ring key; the sealed password is untouched.
// It reports whether anything changed (false when the active key already sealed it).
func (r *Keyring) Reseal(dataKey []byte, binding string) ([]byte, bool, error) {
	if len(dataKey) > 1+keyIDSize && [keyIDSize]byte(dataKey[1:1+keyIDSize]) == r.keys[0].id {
		return dataKey, false, nil
	}
	dk, err := r.openDataKey(dataKey, binding)
	if err != nil {
		return nil, false, err
	}
	out, err := r.sealDataKey(dk, binding)
	clear(dk)
	return out, err == nil, err
}

func (r *Keyring) sealDataKey(dk []byte, binding string) ([]byte, error) {
	active := r.keys[0]
	prefix := append([]byte{version}, active.id[:]...)
	return seal(active.aead, prefix, dk, aad("data-key", binding)), nil
}

func (r *Keyring) openDataKey(sealed []byte, binding string) ([]byte, error) {
	return r.openKey(sealed, "data-key", binding)
}

// Digest is a keyed hash (HMAC-SHA256 under a key derived from the active ring key) of data
// that may hold a password, such as the canonical form of a request: it tells two requests apart
// without letting whoever reads the database try guesses at the password. A digest made before
// the ring's active key changed no longer matches.
func (r *Keyring) Digest(data []byte) string {
	return base64.RawStdEncoding.EncodeToString(hmacSHA256(r.keys[0].mac, data))
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal returns prefix || nonce || ciphertext, authenticating the prefix with the data.
func seal(aead cipher.AEAD, prefix, plain, ad []byte) []byte {
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := append(append([]byte{}, prefix...), nonce...)
	return aead.Seal(out, nonce, plain, append(ad, prefix...))
}

func open(aead cipher.AEAD, prefix, body, ad []byte) ([]byte, error) {
	if len(body) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrOpen
	}
	nonce, ct := body[:aead.NonceSize()], body[aead.NonceSize():]
	return aead.Open(nil, nonce, ct, append(ad, prefix...))
}

func aad(purpose, binding string) []byte {
	return []byte("assistd/ticket-" + purpose + "/v1:" + binding)
}
