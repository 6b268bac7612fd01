-- +goose Up
-- Files customers and staff upload, kept in the object store under object_key; here only what
-- describes them. An upload belongs to its owner (owner_kind 'customer' or 'staff', owner_id)
-- until it is attached, once, to a message (message_id, ticket_id). scan is pending, clean,
-- infected or unscanned. A confidential file's object is sealed with its own data key
-- (data_key_sealed, bound to its ticket once attached), destroyed at expires_at. removed_at marks
-- a file destroyed (confidential expiry, erasure, never attached), object_deleted_at that its
-- object is gone from the store; erasure_id, the erasure that destroys it.
CREATE TABLE attachments (
    id                text PRIMARY KEY,
    owner_kind        text NOT NULL,
    owner_id          text NOT NULL,
    ticket_id         bigint REFERENCES tickets (id),
    message_id        bigint REFERENCES messages (id),
    name              text NOT NULL,
    size              bigint NOT NULL,
    content_type      text NOT NULL,
    sha256            text NOT NULL,
    scan              text NOT NULL,
    scan_signature    text,
    scanned_at        timestamptz,
    object_key        text NOT NULL,
    confidential      boolean NOT NULL DEFAULT false,
    data_key_sealed   bytea,
    expires_at        timestamptz,
    created_at        timestamptz NOT NULL,
    attached_at       timestamptz,
    removed_at        timestamptz,
    object_deleted_at timestamptz,
    erasure_id        bigint REFERENCES erasures (id)
);
CREATE INDEX attachments_message ON attachments (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX attachments_ticket ON attachments (ticket_id) WHERE ticket_id IS NOT NULL;
CREATE INDEX attachments_owner ON attachments (owner_kind, owner_id) WHERE message_id IS NULL;
CREATE INDEX attachments_unattached ON attachments (created_at) WHERE message_id IS NULL AND removed_at IS NULL;
CREATE INDEX attachments_pending ON attachments (created_at) WHERE scan = 'pending' AND removed_at IS NULL;
CREATE INDEX attachments_confidential_due ON attachments (expires_at) WHERE expires_at IS NOT NULL AND removed_at IS NULL;
CREATE INDEX attachments_objects_left ON attachments (removed_at) WHERE removed_at IS NOT NULL AND object_deleted_at IS NULL;
CREATE INDEX attachments_erasure ON attachments (erasure_id) WHERE erasure_id IS NOT NULL;

-- Every opening of a confidential file: who, when, how it went.
CREATE TABLE attachment_opens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    attachment_id text NOT NULL REFERENCES attachments (id),
    ticket_id     bigint NOT NULL REFERENCES tickets (id),
    staff         text NOT NULL,
    outcome       text NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX attachment_opens_ticket ON attachment_opens (ticket_id, id);

-- +goose Down
DROP TABLE attachment_opens;
DROP TABLE attachments;
