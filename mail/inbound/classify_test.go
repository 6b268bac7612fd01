package inbound

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/tickets"
)

// Fixture is a sample of real-world-shaped mail in mail/testdata/inbound and what the poller
// must make of it. Its placeholders are filled by FillFixture.
type Fixture struct {
	File    string
	Outcome string
	Reason  string
}

// Fixtures lists every sample; the poller tests run them through a real IMAP server.
var Fixtures = []Fixture{
	{"gmail_reply.eml", storage.InboundAnsweredTicket, ReasonByMessageID},
	{"outlook_reply.eml", storage.InboundAnsweredTicket, ReasonBySubjectTag},
	{"closed_reply.eml", storage.InboundAnsweredClosed, ReasonByMessageID},
	{"iso8859_new.eml", storage.InboundAnsweredNoTicket, ReasonNoReference},
	{"base64_new.eml", storage.InboundAnsweredNoTicket, ReasonNoReference},
	{"auto_submitted_no.eml", storage.InboundAnsweredNoTicket, ReasonNoReference},
	{"forged_subject.eml", storage.InboundAnsweredNoTicket, ReasonOtherSender},
	{"vacation_reply.eml", storage.InboundIgnoredAutomatic, ReasonAutoSubmitted},
	{"outlook_oof.eml", storage.InboundIgnoredAutomatic, ReasonSuppress},
	{"dsn_bounce.eml", storage.InboundIgnoredAutomatic, ReasonDeliveryReport},
	{"mailing_list.eml", storage.InboundIgnoredAutomatic, ReasonListHeader},
	{"newsletter.eml", storage.InboundIgnoredAutomatic, ReasonPrecedence},
	{"noreply_sender.eml", storage.InboundIgnoredAutomatic, ReasonRobotSender},
	{"null_return_path.eml", storage.InboundIgnoredAutomatic, ReasonNullReturnPath},
	{"missing_return_path.eml", storage.InboundIgnoredAutomatic, ReasonNullReturnPath},
	{"x_autoreply.eml", storage.InboundIgnoredAutomatic, ReasonAutoresponder},
	{"own_address.eml", storage.InboundIgnoredAutomatic, ReasonOwnAddress},
	{"bcc_copy.eml", storage.InboundNotAddressed, ReasonNotAddressedToUs},
	{"malformed_boundary.eml", storage.InboundUnparseable, ReasonMalformed},
}

// FixtureValues are what the placeholders of the samples stand for.
type FixtureValues struct {
	Ticket, OurID    string // an open ticket of ana.silva@gmail.com and one of our Message-IDs about it
	Ticket2          string // an open ticket of rui.costa@outlook.pt
	Closed, ClosedID string // a closed ticket of ana.silva@gmail.com and one of our Message-IDs about it
}

// FillFixture reads a sample and fills its placeholders. The samples are mail as received, kept
// beside the parser in mail/testdata/inbound.
func FillFixture(t testing.TB, file string, v FixtureValues) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "inbound", file))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer("{{TICKET}}", v.Ticket, "{{OUR_ID}}", v.OurID, "{{TICKET2}}", v.Ticket2,
		"{{CLOSED}}", v.Closed, "{{CLOSED_ID}}", v.ClosedID).Replace(string(raw)))
}

// parseSample parses a raw message as the poller does once IMAP served it as BODY[HEADER] and
// BODY[TEXT].
func parseSample(raw []byte) (*mail.Inbound, error) {
	header, body, found := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !found {
		return mail.ParseInbound(raw, nil)
	}
	return mail.ParseInbound(raw[:len(header)+4], body)
}

func testSigner() *mail.IDSigner {
	return mail.NewIDSigner([]byte("test key for message ids"), "example.pt")
}

func TestClassifyFixtures(t *testing.T) {
	ids := testSigner()
	v := FixtureValues{Ticket: "31415926", Ticket2: "27182818", Closed: "16180339"}
	v.OurID = ids.New(v.Ticket, "confirmation")
	v.ClosedID = ids.New(v.Closed, "autoclose")
	known := map[string]storage.InboundTicket{
		v.Ticket:  {ID: 1, Number: v.Ticket, Status: tickets.Answered, CustomerEmail: "ana.silva@gmail.com", Language: "pt-PT"},
		v.Ticket2: {ID: 2, Number: v.Ticket2, Status: tickets.Open, CustomerEmail: "rui.costa@outlook.pt", Language: "en"},
		v.Closed:  {ID: 3, Number: v.Closed, Status: tickets.Closed, CustomerEmail: "ana.silva@gmail.com", Language: "pt-PT"},
	}
	c := newClassifier([]string{"Apoio ao Cliente <suporte@example.pt>"}, ids, "")
	for _, f := range Fixtures {
		t.Run(strings.TrimSuffix(f.File, ".eml"), func(t *testing.T) {
			m, err := parseSample(FillFixture(t, f.File, v))
			if f.Outcome == storage.InboundUnparseable {
				if err == nil {
					t.Fatalf("parsed a malformed message")
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got := c.classify(m)
			tk, ok := known[got.Number]
			got = resolve(got, tk, ok, m.ReturnPath)
			if got.Outcome != f.Outcome || got.Reason != f.Reason {
				t.Errorf("got %s/%s, want %s/%s", got.Outcome, got.Reason, f.Outcome, f.Reason)
			}
		})
	}
}

// TestClassifyRules holds every rule of RFC 3834 and the checklist, one header at a time on a
// customer's otherwise answerable mail.
func TestClassifyRules(t *testing.T) {
	ids := testSigner()
	c := newClassifier([]string{"suporte@example.pt", "apoio@example.pt"}, ids, "")
	base := map[string]string{
		"Return-Path": "<cliente@exemplo.pt>",
		"From":        "Cliente <cliente@exemplo.pt>",
		"To":          "suporte@example.pt",
		"Subject":     "Uma pergunta",
		"Message-Id":  "<m1@exemplo.pt>",
	}
	answer := storage.InboundAnsweredNoTicket
	auto := storage.InboundIgnoredAutomatic
	tests := []struct {
		name    string
		set     map[string]string
		outcome string
		reason  string
	}{
		{"a person's mail is answered", nil, answer, ReasonNoReference},
		{"Auto-Submitted: no is a person", map[string]string{"Auto-Submitted": "no"}, answer, ReasonNoReference},
		{"Auto-Submitted: auto-generated", map[string]string{"Auto-Submitted": "auto-generated"}, auto, ReasonAutoSubmitted},
		{"Auto-Submitted: auto-replied", map[string]string{"Auto-Submitted": "auto-replied"}, auto, ReasonAutoSubmitted},
		{"Auto-Submitted: auto-notified", map[string]string{"Auto-Submitted": "auto-notified"}, auto, ReasonAutoSubmitted},
		{"Auto-Submitted: an unknown value", map[string]string{"Auto-Submitted": "Auto-Something; x=y"}, auto, ReasonAutoSubmitted},
		{"Auto-Submitted with no value", map[string]string{"Auto-Submitted": " "}, auto, ReasonAutoSubmitted},
		{"Return-Path missing", map[string]string{"Return-Path": ""}, auto, ReasonNullReturnPath},
		{"Return-Path <>", map[string]string{"Return-Path": "<>"}, auto, ReasonNullReturnPath},
		{"Return-Path empty", map[string]string{"Return-Path": " "}, auto, ReasonNullReturnPath},
		{"MAILER-DAEMON", map[string]string{"Return-Path": "<MAILER-DAEMON@mx.exemplo.pt>", "From": "MAILER-DAEMON@mx.exemplo.pt"}, auto, ReasonRobotSender},
		{"postmaster", map[string]string{"From": "postmaster@exemplo.pt"}, auto, ReasonRobotSender},
		{"LISTSERV", map[string]string{"Return-Path": "<LISTSERV@lists.exemplo.pt>"}, auto, ReasonRobotSender},
		{"majordomo", map[string]string{"Return-Path": "<majordomo@lists.exemplo.pt>"}, auto, ReasonRobotSender},
		{"owner-*", map[string]string{"Return-Path": "<owner-dev@lists.exemplo.pt>"}, auto, ReasonRobotSender},
		{"*-request", map[string]string{"Return-Path": "<dev-request@lists.exemplo.pt>"}, auto, ReasonRobotSender},
		{"noreply", map[string]string{"From": "NoReply@loja.exemplo.pt"}, auto, ReasonRobotSender},
		{"no-reply", map[string]string{"Return-Path": "<no-reply@loja.exemplo.pt>"}, auto, ReasonRobotSender},
		{"donotreply", map[string]string{"From": "DoNotReply@loja.exemplo.pt"}, auto, ReasonRobotSender},
		{"noreply with a tag", map[string]string{"Return-Path": "<noreply+promo@loja.exemplo.pt>", "From": "NoReply+promo@loja.exemplo.pt"}, auto, ReasonRobotSender},
		{"a person with a tag is a person", map[string]string{"Return-Path": "<cliente+loja@exemplo.pt>", "From": "cliente+loja@exemplo.pt"}, answer, ReasonNoReference},
		{"List-Id", map[string]string{"List-Id": "<dev.lists.exemplo.pt>"}, auto, ReasonListHeader},
		{"List-Unsubscribe", map[string]string{"List-Unsubscribe": "<mailto:x@exemplo.pt>"}, auto, ReasonListHeader},
		{"Precedence: bulk", map[string]string{"Precedence": "bulk"}, auto, ReasonPrecedence},
		{"Precedence: junk", map[string]string{"Precedence": "junk"}, auto, ReasonPrecedence},
		{"Precedence: list", map[string]string{"Precedence": "List"}, auto, ReasonPrecedence},
		{"Precedence: auto_reply", map[string]string{"Precedence": "auto_reply"}, auto, ReasonPrecedence},
		{"X-Precedence: bulk", map[string]string{"X-Precedence": "bulk"}, auto, ReasonPrecedence},
		{"Precedence: first-class is a person", map[string]string{"Precedence": "first-class"}, answer, ReasonNoReference},
		{"X-Auto-Response-Suppress: All", map[string]string{"X-Auto-Response-Suppress": "All"}, auto, ReasonSuppress},
		{"X-Auto-Response-Suppress: AutoReply", map[string]string{"X-Auto-Response-Suppress": "DR, AutoReply"}, auto, ReasonSuppress},
		{"X-Auto-Response-Suppress: OOF", map[string]string{"X-Auto-Response-Suppress": "OOF"}, auto, ReasonSuppress},
		{"X-Auto-Response-Suppress: DR only", map[string]string{"X-Auto-Response-Suppress": "DR, RN"}, answer, ReasonNoReference},
		{"X-Autoreply", map[string]string{"X-Autoreply": "yes"}, auto, ReasonAutoresponder},
		{"X-Autorespond", map[string]string{"X-Autorespond": "x"}, auto, ReasonAutoresponder},
		{"X-Autoresponse", map[string]string{"X-Autoresponse": "x"}, auto, ReasonAutoresponder},
		{"X-AutoReply-From", map[string]string{"X-AutoReply-From": "x@exemplo.pt"}, auto, ReasonAutoresponder},
		{"X-Mail-Autoreply", map[string]string{"X-Mail-Autoreply": "x"}, auto, ReasonAutoresponder},
		{"X-Autogenerated: Reply", map[string]string{"X-Autogenerated": "Reply"}, auto, ReasonAutoresponder},
		{"X-Loop", map[string]string{"X-Loop": "suporte@example.pt"}, auto, ReasonAutoresponder},
		{"X-Failed-Recipients", map[string]string{"X-Failed-Recipients": "x@exemplo.pt"}, auto, ReasonAutoresponder},
		{"a disposition notification", map[string]string{"Content-Type": `multipart/report; report-type=disposition-notification; boundary="b"`}, auto, ReasonDeliveryReport},
		{"a feedback report", map[string]string{"Content-Type": `multipart/report; report-type=feedback-report; boundary="b"`}, auto, ReasonDeliveryReport},
		{"from our own address", map[string]string{"From": "Apoio <APOIO@example.pt>"}, auto, ReasonOwnAddress},
		{"a Message-ID we minted", map[string]string{"Message-Id": ids.New("12345678", "update")}, auto, ReasonOwnMessageID},
		{"a forged Message-ID of our shape is not ours", map[string]string{"Message-Id": "<pedido.12345678.update.aaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbb@example.pt>"}, answer, ReasonNoReference},
		{"a Bcc copy", map[string]string{"To": "outro@exemplo.pt"}, storage.InboundNotAddressed, ReasonNotAddressedToUs},
		{"our address in Cc", map[string]string{"To": "outro@exemplo.pt", "Cc": "Apoio <apoio@example.pt>"}, answer, ReasonNoReference},
		{"our address in Resent-To", map[string]string{"To": "outro@exemplo.pt", "Resent-To": "suporte@example.pt"}, answer, ReasonNoReference},
		{"our address in Resent-Cc", map[string]string{"To": "outro@exemplo.pt", "Resent-Cc": "suporte@example.pt"}, answer, ReasonNoReference},
		{"a reply to our mail", map[string]string{"In-Reply-To": ids.New("12345678", "confirmation")}, storage.InboundAnsweredTicket, ReasonByMessageID},
		{"a reply whose References hold our mail", map[string]string{"References": "<a@b> " + ids.New("12345678", "update") + " <c@d>"}, storage.InboundAnsweredTicket, ReasonByMessageID},
		{"a [Pedido #N] tag", map[string]string{"Subject": "Re: [Pedido #12345678] Recebemos"}, storage.InboundAnsweredTicket, ReasonBySubjectTag},
		{"a #N tag", map[string]string{"Subject": "Sobre o pedido #12345678"}, storage.InboundAnsweredTicket, ReasonBySubjectTag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			fields := map[string]string{}
			for k, v := range base {
				fields[k] = v
			}
			for k, v := range tt.set {
				fields[k] = v
			}
			for k, v := range fields {
				if v != "" {
					b.WriteString(k + ": " + v + "\r\n")
				}
			}
			b.WriteString("\r\nbody\r\n")
			m, err := parseSample([]byte(b.String()))
			if err != nil {
				t.Fatal(err)
			}
			got := c.classify(m)
			if got.Outcome != tt.outcome || got.Reason != tt.reason {
				t.Errorf("got %s/%s, want %s/%s", got.Outcome, got.Reason, tt.outcome, tt.reason)
			}
		})
	}
}

func TestResolveNeverTrustsASubjectTagFromAStranger(t *testing.T) {
	v := verdict{Outcome: storage.InboundAnsweredTicket, Variant: mail.AutoAnswerTicket, Number: "12345678", byTag: true}
	tk := storage.InboundTicket{ID: 7, Number: "12345678", Status: tickets.Closed, CustomerEmail: "Ana@Exemplo.pt"}
	if got := resolve(v, tk, true, "ana@exemplo.pt"); got.Variant != mail.AutoAnswerClosed {
		t.Errorf("customer's own tag: %+v", got)
	}
	if got := resolve(v, tk, true, "outro@exemplo.pt"); got.Variant != mail.AutoAnswerNoTicket || got.Reason != ReasonOtherSender {
		t.Errorf("stranger's tag: %+v", got)
	}
	if got := resolve(v, tk, false, "ana@exemplo.pt"); got.Variant != mail.AutoAnswerNoTicket || got.Reason != ReasonUnknownTicket {
		t.Errorf("unknown ticket: %+v", got)
	}
}

func TestBounceNamesOurMessageAndItsStatus(t *testing.T) {
	ids := testSigner()
	ours := ids.New("31415926", "confirmation")
	c := newClassifier([]string{"suporte@example.pt"}, ids, "")
	m, err := parseSample(FillFixture(t, "dsn_bounce.eml", FixtureValues{Ticket: "31415926", OurID: ours}))
	if err != nil {
		t.Fatal(err)
	}
	v := c.classify(m)
	if len(v.bounce) != 1 || v.bounce[0] != ours || v.bounceStatus != "5.1.1" {
		t.Errorf("bounce %q status %q", v.bounce, v.bounceStatus)
	}
}

// Mail servers that rewrite the returned headers (Exchange among them) fold a long Message-ID
// onto its own line; RFC 5322 allows it, and the bounce must still find our mail.
func TestABounceQuotingOurMessageIDFoldedStillNamesIt(t *testing.T) {
	ids := testSigner()
	ours := ids.New("31415926", "confirmation")
	c := newClassifier([]string{"suporte@example.pt"}, ids, "")
	for name, fold := range map[string]string{
		"folded with a space": "Message-Id:\r\n " + ours,
		"folded with a tab":   "Message-ID:\r\n\t" + ours,
		"folded with bare LF": "Message-ID:\n " + ours,
	} {
		t.Run(name, func(t *testing.T) {
			raw := FillFixture(t, "dsn_bounce.eml", FixtureValues{Ticket: "31415926", OurID: ours})
			raw = []byte(strings.Replace(string(raw), "Message-Id: "+ours, fold, 1))
			m, err := parseSample(raw)
			if err != nil {
				t.Fatal(err)
			}
			v := c.classify(m)
			if len(v.bounce) != 1 || v.bounce[0] != ours || v.bounceStatus != "5.1.1" {
				t.Errorf("bounce %q status %q, want %q 5.1.1", v.bounce, v.bounceStatus, ours)
			}
		})
	}
}

// A delivery report is a bounce only when it says the delivery failed: a "delayed" warning
// (the mail is still being retried) or a "delivered" notice must not mark our email bounced.
// A failure after the queue's lifetime keeps the 4.x.x status of the last try.
func TestOnlyAFailedDeliveryReportIsABounce(t *testing.T) {
	ids := testSigner()
	ours := ids.New("31415926", "confirmation")
	c := newClassifier([]string{"suporte@example.pt"}, ids, "")
	tests := []struct {
		name, action, status string
		bounce               bool
	}{
		{"a failure", "failed", "5.1.1", true},
		{"a failure after the queue's lifetime", "failed", "4.4.1", true},
		{"a delay warning", "delayed", "4.4.1", false},
		{"a delivery notice", "delivered", "2.0.0", false},
		{"a relay notice", "relayed", "2.0.0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := string(FillFixture(t, "dsn_bounce.eml", FixtureValues{Ticket: "31415926", OurID: ours}))
			raw = strings.Replace(raw, "Action: failed", "Action: "+tt.action, 1)
			raw = strings.Replace(raw, "Status: 5.1.1", "Status: "+tt.status, 1)
			m, err := parseSample([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			v := c.classify(m)
			if v.Outcome != storage.InboundIgnoredAutomatic || v.Reason != ReasonDeliveryReport {
				t.Errorf("classified %s/%s", v.Outcome, v.Reason)
			}
			if got := len(v.bounce) > 0; got != tt.bounce {
				t.Errorf("linked to our mail: %v, want %v (ids %q, status %q)", got, tt.bounce, v.bounce, v.bounceStatus)
			}
		})
	}
}

// Only our own receiving server's Authentication-Results counts, and only when it is there.
func TestAuthenticationResultsOfOurServerDecideWhetherMailIsACustomers(t *testing.T) {
	ids := testSigner()
	ours := ids.New("31415926", "confirmation")
	c := newClassifier([]string{"suporte@example.pt"}, ids, "mx.example.pt")
	known := map[string]bool{"ana@exemplo.pt": true}
	cases := []struct {
		name     string
		from     string
		signed   bool
		headers  []string
		customer bool
	}{
		{"a reply carrying our Message-ID with no Authentication-Results is a customer's", "x@y.example", true, nil, true},
		{"mail from a customer's address with no Authentication-Results is a customer's", "ana@exemplo.pt", false, nil, true},
		{"mail from anyone else, carrying nothing of ours, is a stranger's", "x@y.example", false,
			[]string{"Authentication-Results: mx.example.pt; spf=pass smtp.mailfrom=y.example; dmarc=pass"}, false},
		{"our server saying DMARC passed keeps a customer's mail a customer's", "ana@exemplo.pt", false,
			[]string{"Authentication-Results: mx.example.pt; spf=fail smtp.mailfrom=exemplo.pt; dmarc=pass (p=reject) header.from=exemplo.pt"}, true},
		{"our server saying SPF passed keeps a customer's mail a customer's", "ana@exemplo.pt", true,
			[]string{"Authentication-Results: MX.example.pt 1; spf=pass smtp.mailfrom=exemplo.pt; dmarc=none"}, true},
		{"our server saying DMARC and SPF failed makes a customer's address a stranger's", "ana@exemplo.pt", false,
			[]string{"Authentication-Results: mx.example.pt; spf=fail smtp.mailfrom=exemplo.pt; dmarc=fail header.from=exemplo.pt"}, false},
		{"our server saying DMARC and SPF failed makes a reply with our Message-ID a stranger's", "x@y.example", true,
			[]string{"Authentication-Results: mx.example.pt; spf=softfail; dmarc=fail"}, false},
		{"our server's field with no result at all makes it a stranger's", "ana@exemplo.pt", false,
			[]string{"Authentication-Results: mx.example.pt; none"}, false},
		{"a foreign server's failing field is ignored", "ana@exemplo.pt", false,
			[]string{"Authentication-Results: relay.other.example; spf=fail; dmarc=fail"}, true},
		{"a foreign server's passing field does not outweigh ours failing", "ana@exemplo.pt", false,
			[]string{"Authentication-Results: mx.example.pt; spf=fail; dmarc=fail",
				"Authentication-Results: relay.other.example; spf=pass; dmarc=pass"}, false},
		{"a foreign server's passing field does not make a stranger a customer", "x@y.example", false,
			[]string{"Authentication-Results: relay.other.example; spf=pass; dmarc=pass"}, false},
		{"a pass inside a comment is not a pass", "ana@exemplo.pt", false,
			[]string{"Authentication-Results: mx.example.pt; spf=fail (dmarc=pass); dmarc=fail"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			extra := tc.headers
			if tc.signed {
				extra = append(slices.Clone(extra), "In-Reply-To: "+ours)
			}
			var b bytes.Buffer
			fmt.Fprintf(&b, "Return-Path: <%s>\r\nFrom: <%s>\r\nTo: suporte@example.pt\r\nSubject: Olá\r\nMessage-ID: <m1@y.example>\r\n", tc.from, tc.from)
			for _, h := range extra {
				b.WriteString(h + "\r\n")
			}
			b.WriteString("\r\nOlá\r\n")
			m, err := parseSample(b.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			v := c.classify(m)
			if v.Variant == "" {
				t.Fatalf("not answerable: %+v", v)
			}
			if got := isCustomer(v, m, known); got != tc.customer {
				t.Errorf("customer %v, want %v (verdict %+v)", got, tc.customer, v)
			}
		})
	}
}
