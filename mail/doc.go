// Package mail is the only package of assistd that speaks SMTP or IMAP.
//
// The outgoing half builds every email the service sends (the confirmation
// copy of a request, the department notifications, status updates, the
// automatic-close notice and the RFC 3834 automatic answers to inbound
// email) and delivers them through a pooled SMTP [Sender].
//
// What the package must never do:
//   - put a customer's password in an email: a [TicketMail] only says whether
//     one was provided, never what it is;
//   - build a header by string concatenation: every header goes through
//     go-message, and customer-typed values are cleaned of control, bidi and
//     zero-width characters and truncated before they get there;
//   - place customer text in HTML except through html/template;
//   - include a message body in an error or a log line.
//
// Message-IDs are minted and recognised by an [IDSigner], so that a reply or
// a bounce can be tied back to its ticket and a forged id is rejected.
package mail
