-- +goose Up
-- A customer's erasure, or a retention run's, as it is recorded and then carried out. The row is
-- written in the transaction that takes the customer's tickets out of sight (tickets.erasure_id,
-- and the anonymous owner '-erased-') and deletes the customer record; the destruction of
-- message bodies, stored emails, import-log rows and sealed passwords then walks the tickets by
-- id, after_ticket marking how far it got, until completed_at is set. email is the erased
-- customer's address, kept only until then, to find what mentions them without naming a ticket.
CREATE TABLE erasures (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reason       text NOT NULL,
    customer_id  text,
    email        text,
    tickets      integer NOT NULL DEFAULT 0,
    messages     integer NOT NULL DEFAULT 0,
    attachments  integer NOT NULL DEFAULT 0,
    emails       integer NOT NULL DEFAULT 0,
    after_ticket bigint NOT NULL DEFAULT 0,
    requested_at timestamptz NOT NULL,
    completed_at timestamptz
);
CREATE INDEX erasures_unfinished ON erasures (id) WHERE completed_at IS NULL;

ALTER TABLE tickets ADD COLUMN erasure_id bigint REFERENCES erasures (id);
CREATE INDEX tickets_erasure ON tickets (erasure_id, id) WHERE erasure_id IS NOT NULL;
-- The retention sweep's candidates: closed tickets not yet erased, oldest first.
CREATE INDEX tickets_closed_since ON tickets (updated_at, id) WHERE status = 'closed' AND erasure_id IS NULL;

-- +goose Down
DROP INDEX tickets_closed_since;
DROP INDEX tickets_erasure;
ALTER TABLE tickets DROP COLUMN erasure_id;
DROP TABLE erasures;
