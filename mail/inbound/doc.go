// Package inbound watches the support mailbox over IMAP and answers the people who write to it.
//
// A [Poller] holds the mailbox under a lease in Redis, so that one instance reads it at a time,
// and records every message it finds with the database (package storage): batch by batch, each
// message's outcome, the bounce it reports and the RFC 3834 automatic answer it is due are
// committed in one transaction with the mailbox's cursor, and the answers are handed to the
// queue. The rules that decide whether a message is answered (classify.go) need no database;
// the ticket a message names is then checked against the tickets the database knows.
//
// What the package must never do:
//   - answer automatic mail (bounces, vacation notices, mailing lists, robots) or mail that
//     does not name our address, nor answer one sender about one ticket more often than the
//     limits allow: an answer is only due when every rule says a person wrote to us;
//   - answer the mail already in the mailbox at its first connection, or after the mailbox's
//     UIDVALIDITY changed: that mail is recorded without an answer;
//   - read the mailbox without holding the lease, or answer a message twice: the database
//     records each message once, across pollers, crashes and retries;
//   - delete mail: every message read is flagged seen and moved to a folder;
//   - log a message's body or the mailbox's password, or quote the sender's text in an answer.
//
// Composing, sending and parsing mail belong to package mail, which knows nothing of the
// database or Redis.
package inbound
