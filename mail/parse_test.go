package mail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readSample reads a sample of mail as received, from testdata/inbound.
func readSample(t *testing.T, file string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "inbound", file))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// splitMessage cuts a raw message as IMAP serves it: BODY[HEADER] and BODY[TEXT].
func splitMessage(raw []byte) (header, body []byte) {
	s := string(raw)
	if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
		return []byte(s[:i+4]), []byte(s[i+4:])
	}
	return raw, nil
}

func TestParseInboundDecodesWhatCustomersSend(t *testing.T) {
	m, err := ParseInbound(splitMessage(readSample(t, "iso8859_new.eml")))
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Pedido de informação sobre faturação" {
		t.Errorf("ISO-8859-1 subject decoded as %q", m.Subject)
	}
	if m.ReturnPath != "jose.araujo@sapo.pt" || m.From != "jose.araujo@sapo.pt" {
		t.Errorf("return path %q, from %q", m.ReturnPath, m.From)
	}
	if m.DedupeKey != "mid:20261104100000.12345@sapo.pt" {
		t.Errorf("dedupe key %q", m.DedupeKey)
	}
	m, err = ParseInbound(splitMessage(readSample(t, "base64_new.eml")))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Recipients) != 2 || m.Recipients[0] != "suporte@example.pt" {
		t.Errorf("recipients %q", m.Recipients)
	}
}

func TestParseInboundWithoutMessageIDHashesTheMessage(t *testing.T) {
	raw := "Return-Path: <a@b.example>\r\nFrom: a@b.example\r\nTo: suporte@example.pt\r\nSubject: x\r\n\r\nbody\r\n"
	m1, err := ParseInbound(splitMessage([]byte(raw)))
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := ParseInbound(splitMessage([]byte(strings.Replace(raw, "body", "other body", 1))))
	if !strings.HasPrefix(m1.DedupeKey, "sha256:") || m1.DedupeKey == m2.DedupeKey {
		t.Errorf("keys %q and %q", m1.DedupeKey, m2.DedupeKey)
	}
}

func TestParseInboundRejectsMalformedMail(t *testing.T) {
	for name, raw := range map[string]string{
		"empty":                 "",
		"garbage header":        "this is not a header\r\nnor this\r\n\r\nbody",
		"multipart no boundary": "From: a@b.example\r\nContent-Type: multipart/mixed\r\n\r\nbody",
		"bad content type":      "From: a@b.example\r\nContent-Type: text/plain; charset=\"unterminated\r\n\r\nbody",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseInbound(splitMessage([]byte(raw))); err == nil {
				t.Error("parsed")
			}
		})
	}
}

func TestParseInboundSurvivesAHeaderCutByTheFetchLimit(t *testing.T) {
	h := "Return-Path: <a@b.example>\r\nFrom: a@b.example\r\nTo: suporte@example.pt\r\nSubject: x\r\nReceived: from somewhere very long"
	m, err := ParseInbound([]byte(h), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "a@b.example" {
		t.Errorf("from %q", m.From)
	}
}
