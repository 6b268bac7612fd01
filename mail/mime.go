package mail

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// envelope is everything about a message but its content.
type envelope struct {
	to, name      string
	number, kind  string
	subject, lang string
	auto, msgID   string
	inReplyTo     string
	references    []string
	nullSender    bool
	// staff marks mail to a department: plain text only. Staff read it in their own mail and
	// tools, and act on it in the staff area it links to; it is a quarter of the size of a
	// text-and-HTML message, and customer text never reaches a staff mail client as HTML.
	staff bool
}

// composePage renders a page and builds the message around it.
func (c *Composer) composePage(e envelope, p page) (Outgoing, error) {
	if p.Title == "" {
		p.Title = e.subject
	}
	body := c.render(p, !e.staff)
	defer body.release()
	return c.compose(e, body)
}

// renderBuffers keeps the buffers pages are rendered into: a page's parts are copied into the
// message, so their buffers serve the next page. Each starts large enough for a usual page, which
// saves growing it step by step.
var renderBuffers = sync.Pool{New: func() any {
	b := new(bytes.Buffer)
	b.Grow(8 << 10)
	return b
}}

// renderedPage is a page run through the text layout and, unless it is for staff, the HTML one.
type renderedPage struct {
	text, html []byte           // html is nil for a message in text alone
	buffers    [2]*bytes.Buffer // from renderBuffers, when rendered by render
}

// release hands the page's buffers back; text and html must not be used after.
func (r renderedPage) release() {
	for _, b := range r.buffers {
		if b != nil && b.Cap() <= 64<<10 {
			renderBuffers.Put(b)
		}
	}
}

// render lays a page out in text and, with withHTML, in HTML (layout.go). The caller releases
// the result once it has copied the parts.
func (c *Composer) render(p page, withHTML bool) renderedPage {
	text := renderBuffers.Get().(*bytes.Buffer)
	text.Reset()
	writeText(text, &p)
	if !withHTML {
		return renderedPage{text: text.Bytes(), buffers: [2]*bytes.Buffer{text}}
	}
	html := renderBuffers.Get().(*bytes.Buffer)
	html.Reset()
	writeHTML(html, &p)
	return renderedPage{text: text.Bytes(), html: html.Bytes(), buffers: [2]*bytes.Buffer{text, html}}
}

func (c *Composer) compose(e envelope, body renderedPage) (Outgoing, error) {
	to, err := CanonicalAddress(e.to)
	if err != nil {
		return Outgoing{}, err
	}
	msgID := e.msgID
	if msgID == "" {
		msgID = c.ids.New(e.number, e.kind)
	} else if !validMsgID(msgID) {
		return Outgoing{}, fmt.Errorf("mail: invalid Message-ID %q", msgID)
	}

	// go-message writes the fields last-added first: they are added bottom up
	// so that Date, From, To and Subject open the message.
	var h mail.Header
	h.Set("Content-Language", e.lang)
	if e.auto == autoReplied {
		h.Set("X-Auto-Response-Suppress", "All")
	} else {
		h.Set("X-Auto-Response-Suppress", "OOF, AutoReply")
	}
	h.Set("Auto-Submitted", e.auto)
	if len(e.references) > 0 {
		h.Set("References", strings.Join(e.references, " "))
	}
	if e.inReplyTo != "" {
		h.Set("In-Reply-To", e.inReplyTo)
	}
	h.Set("Message-Id", msgID)
	setSubject(&h, e.subject)
	setAddress(&h, "To", &mail.Address{Name: HeaderText(e.name), Address: to})
	setAddress(&h, "From", c.from)
	h.SetDate(c.now())

	var buf bytes.Buffer
	// Quoted-printable adds soft line breaks and escapes; a tenth more, plus the header, is
	// usually enough not to grow the message while it is written.
	buf.Grow(2048 + (len(body.text)+len(body.html))*11/10)
	h.Set("Mime-Version", "1.0")
	if body.html == nil {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		if err := textproto.WriteHeader(&buf, h.Header.Header); err != nil {
			return Outgoing{}, fmt.Errorf("mail: write header: %w", err)
		}
		if err := writeQP(&buf, body.text); err != nil {
			return Outgoing{}, fmt.Errorf("mail: write text: %w", err)
		}
		return c.outgoing(e, to, msgID, buf.Bytes())
	}
	// The multipart structure is written with go-message's textproto layer rather than its
	// mail.InlineWriter, which copies and reparses every header it is given (a fifth of the
	// composing time); the bytes written are the same.
	parts := textproto.NewMultipartWriter(&buf)
	h.Set("Content-Type", "multipart/alternative; boundary="+parts.Boundary())
	if err := textproto.WriteHeader(&buf, h.Header.Header); err != nil {
		return Outgoing{}, fmt.Errorf("mail: write header: %w", err)
	}
	if err := writePart(parts, "text/plain", body.text); err != nil {
		return Outgoing{}, err
	}
	if err := writePart(parts, "text/html", body.html); err != nil {
		return Outgoing{}, err
	}
	if err := parts.Close(); err != nil {
		return Outgoing{}, fmt.Errorf("mail: close message: %w", err)
	}
	return c.outgoing(e, to, msgID, buf.Bytes())
}

// outgoing checks a built message and addresses it.
func (c *Composer) outgoing(e envelope, to, msgID string, raw []byte) (Outgoing, error) {
	if err := checkLines(raw); err != nil {
		return Outgoing{}, err
	}
	out := Outgoing{To: to, MessageID: msgID, Raw: raw}
	if !e.nullSender {
		out.EnvelopeFrom = c.from.Address
	}
	return out, nil
}

// setSubject encodes the subject as RFC 2047 words where needed and folds it
// between words, so that lines stay within 78 characters. go-message folds
// only where a space falls within 76 columns, else it lets a line run to 998.
func setSubject(h *mail.Header, subject string) {
	const key, width = "Subject:", 76
	var b strings.Builder
	b.WriteString(key)
	n := len(key)
	for word := range strings.SplitSeq(mime.QEncoding.Encode("utf-8", subject), " ") {
		if n > len(key) && n+1+len(word) > width {
			b.WriteString("\r\n")
			n = 0
		}
		b.WriteString(" " + word)
		n += 1 + len(word)
	}
	b.WriteString("\r\n")
	h.AddRaw([]byte(b.String()))
}

// setAddress writes a field of one address, whose name is cleaned and whose address is bare.
// net/mail Q-encodes a non-ASCII name but leaves a backslash in the encoded word bare, which
// RFC 2047 forbids in a phrase: the field would no longer parse as an address. Such a name is
// B-encoded instead, whose words hold only letters, digits, "+", "/" and "=".
func setAddress(h *mail.Header, key string, a *mail.Address) {
	if strings.ContainsRune(a.Name, '\\') && strings.ContainsFunc(a.Name, func(r rune) bool { return r >= utf8.RuneSelf }) {
		h.Set(key, mime.BEncoding.Encode("utf-8", a.Name)+" <"+a.Address+">")
		return
	}
	h.SetAddressList(key, []*mail.Address{a})
}

func writePart(parts *textproto.MultipartWriter, contentType string, content []byte) error {
	var h textproto.Header
	h.Set("Content-Type", contentType+"; charset=utf-8")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	h.Set("Content-Disposition", "inline")
	pw, err := parts.CreatePart(h)
	if err != nil {
		return fmt.Errorf("mail: create %s part: %w", contentType, err)
	}
	if err := writeQP(pw, content); err != nil {
		return fmt.Errorf("mail: write %s part: %w", contentType, err)
	}
	return nil
}

// writeQP writes content quoted-printable, its line breaks as CRLF.
func writeQP(w io.Writer, content []byte) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write(content); err != nil {
		return err
	}
	return qp.Close()
}

// checkLines guards the RFC 5322 limit whatever the content turned out to be.
func checkLines(raw []byte) error {
	for line := range bytes.SplitSeq(raw, []byte("\r\n")) {
		if len(line) > maxLineBytes {
			return fmt.Errorf("mail: built a line of %d bytes", len(line))
		}
	}
	return nil
}
