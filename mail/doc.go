// Package mail composes, sends and parses the service's email. With mail/inbound, which reads the
// support mailbox, it is the only code of assistd that speaks SMTP or IMAP.
//
// The outgoing half builds every email the service sends (the confirmation copy of a request,
// the department notifications, status updates, the automatic-close notice and the RFC 3834
// automatic answers to inbound email) and delivers them through a pooled SMTP [Sender]. The
// wording of each language is a text/template in templates/; the text and HTML layouts around it
// are written in Go (layout.go). The inbound half parses what the poller fetches of a received
// message ([ParseInbound]); deciding whether to answer it is mail/inbound's.
//
// What the package must never do:
//   - read the database or Redis: it composes, sends and parses, and callers bring what a
//     message says;
//   - put a customer's password in an email: a [TicketMail] only says whether one was provided,
//     never what it is;
//   - build a header from customer text by string concatenation: every header goes through
//     go-message (the one field put together by hand joins a B-encoded name and a checked bare
//     address), and customer-typed values are cleaned of control, bidi and zero-width
//     characters and truncated before they get there;
//   - place a value in HTML unescaped: the HTML layout is written by hand, not with
//     html/template, and escapes every value as html/template would in its place (an element's
//     text, a quoted attribute, a link's href); TestLayoutEscapesAsHTMLTemplateDoes keeps them
//     equal;
//   - include a message body in an error or a log line.
//
// Message-IDs are minted and recognised by an [IDSigner], so that a reply or a bounce can be
// tied back to its ticket and a forged id is rejected.
package mail
