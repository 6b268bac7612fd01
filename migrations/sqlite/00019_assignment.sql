-- +goose Up
-- Ownership and automatic assignment; see the Postgres migration.
ALTER TABLE tickets ADD COLUMN assignee text REFERENCES staff_members (id);
CREATE INDEX tickets_department_assignee ON tickets (department_id, assignee, updated_at, id) WHERE status <> 'closed';
CREATE INDEX tickets_assignee_open ON tickets (assignee, updated_at, id) WHERE status <> 'closed' AND assignee IS NOT NULL;

CREATE TABLE department_settings (
    department_id text PRIMARY KEY REFERENCES departments (id),
    auto_assign   text NOT NULL DEFAULT 'off' CHECK (auto_assign IN ('off', 'round_robin', 'least_open')),
    last_assigned text,
    updated_at    DATETIME NOT NULL
);

-- +goose Down
DROP TABLE department_settings;
DROP INDEX tickets_assignee_open;
DROP INDEX tickets_department_assignee;
ALTER TABLE tickets DROP COLUMN assignee;
