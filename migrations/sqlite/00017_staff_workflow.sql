-- +goose Up
-- Internal notes, members as authors, priority, transfers and saved replies; see the Postgres
-- migration.
ALTER TABLE messages ADD COLUMN internal boolean NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN member text;

ALTER TABLE tickets ADD COLUMN priority integer NOT NULL DEFAULT 2;
CREATE INDEX tickets_department_priority ON tickets (department_id, priority, updated_at, id) WHERE status <> 'closed';

ALTER TABLE status_changes ADD COLUMN from_department text;
ALTER TABLE status_changes ADD COLUMN to_department text;

CREATE TABLE saved_replies (
    department_id text NOT NULL REFERENCES departments (id),
    id            text NOT NULL,
    title         text NOT NULL,
    body          text NOT NULL,
    updated_at    DATETIME NOT NULL,
    PRIMARY KEY (department_id, id)
);

-- +goose Down
DROP TABLE saved_replies;
ALTER TABLE status_changes DROP COLUMN to_department;
ALTER TABLE status_changes DROP COLUMN from_department;
DROP INDEX tickets_department_priority;
ALTER TABLE tickets DROP COLUMN priority;
ALTER TABLE messages DROP COLUMN member;
ALTER TABLE messages DROP COLUMN internal;
