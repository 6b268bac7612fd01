-- +goose Up
CREATE TABLE departments (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    name_en     text NOT NULL,
    email       text NOT NULL
);

CREATE TABLE subjects (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    name_en       text NOT NULL,
    department_id text NOT NULL REFERENCES departments (id),
    keywords      text NOT NULL DEFAULT '',
    position      integer NOT NULL DEFAULT 0
);

CREATE TABLE customers (
    id                    text PRIMARY KEY,
    name                  text NOT NULL,
    email                 text NOT NULL,
    language              text NOT NULL,
    email_undeliverable_at timestamptz,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);

CREATE TABLE customer_domains (
    customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    domain      text NOT NULL,
    PRIMARY KEY (customer_id, domain)
);

CREATE TABLE tickets (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number           text NOT NULL UNIQUE,
    customer_id      text NOT NULL REFERENCES customers (id),
    subject_id       text NOT NULL REFERENCES subjects (id),
    -- set by the ticket:create job when it routes the subject to its department
    department_id    text REFERENCES departments (id),
    domain           text,
    status           text NOT NULL,
    related_ticket   text,
    idempotency_key  text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    processed_at     timestamptz,
    UNIQUE (customer_id, idempotency_key)
);
CREATE INDEX tickets_customer_history ON tickets (customer_id, created_at DESC, id DESC);
CREATE INDEX tickets_customer_status ON tickets (customer_id, status, created_at DESC, id DESC);
CREATE INDEX tickets_department_queue ON tickets (department_id, status, updated_at, id);
CREATE INDEX tickets_answered_since ON tickets (updated_at) WHERE status = 'answered';

CREATE TABLE messages (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id  bigint NOT NULL REFERENCES tickets (id),
    author     text NOT NULL,
    staff      text,
    body       text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX messages_ticket ON messages (ticket_id, id);

CREATE TABLE status_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    from_status text,
    to_status   text NOT NULL,
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX status_changes_ticket ON status_changes (ticket_id, id);

-- The customer's password for a ticket. password_sealed is the AES-256-GCM ciphertext under a
-- per-secret data key; data_key_sealed is that data key sealed under the active key of
-- ASSISTD_SECRET_KEYS. Both are set to NULL when the secret is purged.
CREATE TABLE ticket_passwords (
    ticket_id        bigint PRIMARY KEY REFERENCES tickets (id),
    password_sealed  bytea,
    data_key_sealed  bytea,
    expires_at       timestamptz NOT NULL,
    purged_at        timestamptz
);
CREATE INDEX ticket_passwords_live ON ticket_passwords (expires_at) WHERE purged_at IS NULL;

CREATE TABLE password_reveals (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id  bigint NOT NULL REFERENCES tickets (id),
    staff      text NOT NULL,
    outcome    text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX password_reveals_ticket ON password_reveals (ticket_id, id);

-- Work that must survive a Redis outage: every task and every email is first a row here, written
-- in the transaction that makes it necessary, then enqueued; the relay re-enqueues what is left.
CREATE TABLE outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task          text NOT NULL,
    ticket_id     bigint REFERENCES tickets (id),
    kind          text NOT NULL DEFAULT '',
    envelope_from text,
    recipient     text,
    message_id    text,
    raw           bytea,
    state         text NOT NULL DEFAULT 'pending',
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    done_at       timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE state = 'pending';
CREATE INDEX outbox_ticket ON outbox (ticket_id);
CREATE INDEX outbox_message_id ON outbox (message_id);

-- +goose Down
DROP TABLE outbox;
DROP TABLE password_reveals;
DROP TABLE ticket_passwords;
DROP TABLE status_changes;
DROP TABLE messages;
DROP TABLE tickets;
DROP TABLE customer_domains;
DROP TABLE customers;
DROP TABLE subjects;
DROP TABLE departments;
