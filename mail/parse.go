package mail

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	netmail "net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// What the poller fetches of each message, never the whole of it: the start of its header
// section and of its body.
const (
	MaxInboundHeader = 64 << 10
	MaxInboundBody   = 24 << 10
)

const maxInboundIDs = 50 // ids of In-Reply-To and References looked at

// ErrUnparseable is wrapped by ParseInbound for mail that cannot be read: it is moved aside
// and never answered.
var ErrUnparseable = errors.New("mail: unparseable message")

// Inbound is what the poller reads of one message: its header and the start of its body.
// Every string in it came from outside and is hostile until cleaned.
type Inbound struct {
	UID          uint32
	InternalDate time.Time

	MessageID  string   // with brackets; "" when missing or malformed
	InReplyTo  []string // with brackets
	References []string // with brackets, oldest first
	// ReturnPath is the bare address of the first Return-Path field, "" when it is missing or
	// the null path <>; HasReturnPath tells the two apart.
	ReturnPath    string
	HasReturnPath bool
	From          string   // bare address of the first From
	Subject       string   // decoded, raw when undecodable
	Recipients    []string // To, Cc, Resent-To and Resent-Cc addresses, lower case
	MediaType     string   // of the whole message, lower case
	ReportType    string   // report-type of a multipart/report, lower case
	DedupeKey     string   // normalised Message-ID, or a hash of header and body

	header mail.Header
	body   []byte
}

// HasAttachments reports whether the message carries files, as far as the start of its body
// tells: a part given as an attachment, or, in a multipart/mixed message, a named part or a part
// that is not text.
func (m *Inbound) HasAttachments() bool {
	if !strings.HasPrefix(m.MediaType, "multipart/") {
		return false
	}
	start := bytes.ToLower(m.body)
	if bytes.Contains(start, []byte("content-disposition: attachment")) {
		return true
	}
	if m.MediaType != "multipart/mixed" {
		return false // multipart/related and alternative: a message's own images and versions
	}
	if bytes.Contains(start, []byte("filename=")) {
		return true
	}
	for _, line := range bytes.Split(start, []byte("\n")) {
		v, ok := bytes.CutPrefix(line, []byte("content-type:"))
		if !ok {
			continue
		}
		t := bytes.TrimSpace(v)
		if !bytes.HasPrefix(t, []byte("text/")) && !bytes.HasPrefix(t, []byte("multipart/")) {
			return true
		}
	}
	return false
}

// Header returns the value of a header field, "" when absent.
func (m *Inbound) Header(key string) string { return m.header.Get(key) }

// HeaderValues returns every value of a header field, the topmost first.
func (m *Inbound) HeaderValues(key string) []string { return m.header.Values(key) }

// HasHeader reports whether the message has a header field, empty or not.
func (m *Inbound) HasHeader(key string) bool { return m.header.Has(key) }

// HasHeaderPrefix reports whether the name of any header field starts with prefix, in any case
// (List- for the fields of RFC 2369 and RFC 2919).
func (m *Inbound) HasHeaderPrefix(prefix string) bool {
	prefix = strings.ToLower(prefix)
	for f := m.header.Fields(); f.Next(); {
		if strings.HasPrefix(strings.ToLower(f.Key()), prefix) {
			return true
		}
	}
	return false
}

// ParseInbound reads a message from its header section and the start of its body, as fetched.
// An error wrapping ErrUnparseable means the mail is malformed beyond use.
func ParseInbound(header, body []byte) (*Inbound, error) {
	header = completeHeader(header)
	if len(bytes.TrimSpace(header)) == 0 {
		return nil, fmt.Errorf("%w: empty header", ErrUnparseable)
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(header)))
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrUnparseable, err)
	}
	m := &Inbound{header: mail.Header{Header: message.Header{Header: h}}, body: body}
	if ct := m.header.Get("Content-Type"); ct != "" {
		media, params, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, fmt.Errorf("%w: content type: %v", ErrUnparseable, err)
		}
		m.MediaType = strings.ToLower(media)
		if strings.HasPrefix(m.MediaType, "multipart/") && params["boundary"] == "" {
			return nil, fmt.Errorf("%w: multipart without boundary", ErrUnparseable)
		}
		m.ReportType = strings.ToLower(params["report-type"])
	} else {
		m.MediaType = "text/plain"
	}

	if id := firstMsgID(m.header.Get("Message-Id")); id != "" {
		m.MessageID = id
	}
	m.InReplyTo = msgIDs(m.header.Get("In-Reply-To"))
	m.References = msgIDs(m.header.Get("References"))
	if rp := m.header.Values("Return-Path"); len(rp) > 0 {
		m.HasReturnPath = true
		m.ReturnPath = AddressIn(rp[0])
	}
	m.From = firstAddress(&m.header, "From")
	if s, err := m.header.Subject(); err == nil {
		m.Subject = s
	} else {
		m.Subject = m.header.Get("Subject") // an unknown charset: keep the encoded words
	}
	for _, key := range []string{"To", "Cc", "Resent-To", "Resent-Cc"} {
		m.Recipients = append(m.Recipients, addresses(&m.header, key)...)
	}
	m.DedupeKey = dedupeKey(m.MessageID, header, body)
	return m, nil
}

// completeHeader ends a header section cut by the fetch limit at its last whole line.
func completeHeader(b []byte) []byte {
	if bytes.HasSuffix(b, []byte("\r\n\r\n")) || bytes.HasSuffix(b, []byte("\n\n")) {
		return b
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	}
	return append(b[:len(b):len(b)], "\r\n"...)
}

// UnreadableKey is the identity of a message ParseInbound refused: a hash of what was fetched.
func UnreadableKey(header, body []byte) string { return dedupeKey("", header, body) }

// dedupeKey is the message's identity across UIDs and pollers.
func dedupeKey(msgID string, header, body []byte) string {
	if msgID != "" {
		local, domain, _ := strings.Cut(msgID[1:len(msgID)-1], "@")
		return "mid:" + local + "@" + strings.ToLower(domain)
	}
	h := sha256.New()
	h.Write(header)
	h.Write([]byte{0})
	h.Write(body)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

var msgIDPattern = regexp.MustCompile(`<[^<>\s]{1,248}>`)

// msgIDs returns the well-formed ids of a header value, at most maxInboundIDs (the last ones).
func msgIDs(v string) []string {
	found := msgIDPattern.FindAllString(v, -1)
	var ids []string
	for _, id := range found {
		if validMsgID(id) {
			ids = append(ids, id)
		}
	}
	if len(ids) > maxInboundIDs {
		ids = ids[len(ids)-maxInboundIDs:]
	}
	return ids
}

func firstMsgID(v string) string {
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// addressIn extracts one bare address from a header value, "" when there is none (<>).
func AddressIn(v string) string {
	v = strings.TrimSpace(v)
	if a, err := addressParser.Parse(v); err == nil {
		return normAddress(a.Address)
	}
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			v = v[i+1 : i+j]
		}
	}
	if strings.Count(v, "@") == 1 && !strings.ContainsAny(v, " \t\r\n,;<>") {
		return normAddress(v)
	}
	return ""
}

// addresses returns the addresses of an address-list field, leniently: a list that does not
// parse is split on commas.
func addresses(h *mail.Header, key string) []string {
	var out []string
	for _, v := range h.Values(key) {
		if list, err := addressParser.ParseList(v); err == nil {
			for _, a := range list {
				out = append(out, normAddress(a.Address))
			}
			continue
		}
		for part := range strings.SplitSeq(v, ",") {
			if a := AddressIn(part); a != "" {
				out = append(out, a)
			}
		}
	}
	return out
}

// addressParser decodes display names in any charset go-message knows.
var addressParser = &netmail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: charset.Reader}}

func firstAddress(h *mail.Header, key string) string {
	if as := addresses(h, key); len(as) > 0 {
		return as[0]
	}
	return ""
}

// normAddress lower-cases an address. Local parts are case-sensitive in theory and never in
// practice; comparing them folded is what every mail provider does.
func normAddress(a string) string { return strings.ToLower(strings.TrimSpace(a)) }

var (
	dsnActionPattern  = regexp.MustCompile(`(?im)^[ \t]*Action:[ \t]*([a-z]+)`)
	dsnStatusPattern  = regexp.MustCompile(`(?im)^[ \t]*Status:[ \t]*([245]\.\d{1,3}\.\d{1,3})`)
	textStatusPattern = regexp.MustCompile(`\b([45]\.\d{1,3}\.\d{1,3})\b`)
	// The id may be folded onto the next line, as servers that rewrite returned headers do.
	quotedIDPattern = regexp.MustCompile(`(?im)^[ \t]*(?:Message-ID|X-Original-Message-ID)[ \t]*:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]{1,248}>)`)
)

// DeliveryReport reads what a bounce says: the Message-IDs it quotes, its status code, and
// whether it reports a failure: a report whose Action fields (RFC 3464) are all delayed,
// delivered, relayed or expanded is a warning or a notice, not a bounce. Bounces are read
// leniently from the start of the body, as their structure varies.
func (m *Inbound) DeliveryReport() (ids []string, status string, failed bool) {
	actions := dsnActionPattern.FindAllSubmatch(m.body, -1)
	failed = len(actions) == 0 // a bounce in free text says no Action
	for _, a := range actions {
		failed = failed || strings.EqualFold(string(a[1]), "failed")
	}
	for _, match := range quotedIDPattern.FindAllSubmatch(m.body, maxInboundIDs) {
		ids = append(ids, string(match[1]))
	}
	ids = append(ids, m.InReplyTo...)
	if s := dsnStatusPattern.FindSubmatch(m.body); s != nil {
		status = string(s[1])
	} else if s := textStatusPattern.FindSubmatch(m.body); s != nil {
		status = string(s[1])
	}
	return ids, status, failed
}
