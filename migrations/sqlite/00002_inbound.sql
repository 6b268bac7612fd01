-- +goose Up
-- Where the IMAP poller stands in each mailbox: everything up to last_uid under uidvalidity has
-- been recorded in inbound_messages. It advances in the transaction that records a batch.
CREATE TABLE mailbox_cursors (
    mailbox     text PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,
    updated_at  DATETIME NOT NULL
);

-- Every message the poller has seen, once: the unique key is the normalised Message-ID, or a
-- hash of the headers and the start of the body when it has none, so two pollers racing (or a
-- mailbox rebuilt with new UIDs) record a message once and answer it at most once.
CREATE TABLE inbound_messages (
    id          INTEGER PRIMARY KEY,
    mailbox     text NOT NULL,
    dedupe_key  text NOT NULL,
    uidvalidity INTEGER NOT NULL,
    uid         INTEGER NOT NULL,
    from_addr   text NOT NULL DEFAULT '',
    subject     text NOT NULL DEFAULT '',
    outcome     text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    ticket_id   INTEGER REFERENCES tickets (id),
    -- the automatic answer queued, or for a delivery report the outbox row it bounced
    outbox_id   INTEGER REFERENCES outbox (id),
    created_at  DATETIME NOT NULL,
    UNIQUE (mailbox, dedupe_key)
);
CREATE INDEX inbound_messages_recent ON inbound_messages (created_at DESC, id DESC);
CREATE INDEX inbound_messages_outcome ON inbound_messages (outcome, created_at DESC, id DESC);

-- The last automatic answer per sender and ticket (limit_key = 'sender|number', or 'sender|' for
-- mail about no ticket): one a day per key, and the rows of the last hour are the global cap.
CREATE TABLE auto_answer_limits (
    limit_key   text PRIMARY KEY,
    answered_at DATETIME NOT NULL
);
CREATE INDEX auto_answer_limits_answered ON auto_answer_limits (answered_at);

-- +goose Down
DROP TABLE auto_answer_limits;
DROP TABLE inbound_messages;
DROP TABLE mailbox_cursors;
