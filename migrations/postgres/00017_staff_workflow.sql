-- +goose Up
-- Internal notes are messages staff write for staff: internal ones never reach a customer (no
-- view, export or email shows them) and never count as an answer. member is the member of staff
-- who wrote a staff message (their id), beside the older free-form staff name.
ALTER TABLE messages
    ADD COLUMN internal boolean NOT NULL DEFAULT false,
    ADD COLUMN member   text;

-- A ticket's priority as a rank that sorts the most urgent first: 0 urgent, 1 high, 2 normal
-- (the default), 3 low. A queue ordered by priority is one walk of the index below, as the
-- queues by waiting time and by due time are.
ALTER TABLE tickets ADD COLUMN priority smallint NOT NULL DEFAULT 2;
CREATE INDEX tickets_department_priority ON tickets (department_id, priority, updated_at, id) WHERE status <> 'closed';

-- A transfer between departments is an entry of the status history whose status stays as it was
-- and whose departments say where the ticket went from and to.
ALTER TABLE status_changes
    ADD COLUMN from_department text,
    ADD COLUMN to_department   text;

-- Saved replies: a department's standard answers, with placeholders filled for a ticket when a
-- member inserts one into an answer.
CREATE TABLE saved_replies (
    department_id text NOT NULL REFERENCES departments (id),
    id            text NOT NULL,
    title         text NOT NULL,
    body          text NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (department_id, id)
);

-- +goose Down
DROP TABLE saved_replies;
ALTER TABLE status_changes DROP COLUMN from_department, DROP COLUMN to_department;
DROP INDEX tickets_department_priority;
ALTER TABLE tickets DROP COLUMN priority;
ALTER TABLE messages DROP COLUMN internal, DROP COLUMN member;
