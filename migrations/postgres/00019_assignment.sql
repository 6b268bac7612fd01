-- +goose Up
-- Ownership: a ticket's assignee is a member of staff (staff_members.id), NULL for nobody.
ALTER TABLE tickets ADD COLUMN assignee text REFERENCES staff_members (id);
-- A queue filtered by assignee, as the queue by waiting time is walked; and a member's open
-- tickets, which "Os meus pedidos" lists and least_open counts.
CREATE INDEX tickets_department_assignee ON tickets (department_id, assignee, updated_at, id) WHERE status <> 'closed';
CREATE INDEX tickets_assignee_open ON tickets (assignee, updated_at, id) WHERE status <> 'closed' AND assignee IS NOT NULL;

-- A department's settings. auto_assign gives each new ticket an assignee: round_robin in turn
-- (last_assigned is whose turn it was), least_open to the member with the fewest tickets not
-- closed. Assignments lock this row, so that instances assigning at once take turns.
CREATE TABLE department_settings (
    department_id text PRIMARY KEY REFERENCES departments (id),
    auto_assign   text NOT NULL DEFAULT 'off' CHECK (auto_assign IN ('off', 'round_robin', 'least_open')),
    last_assigned text,
    updated_at    timestamptz NOT NULL
);

-- +goose Down
DROP TABLE department_settings;
DROP INDEX tickets_assignee_open;
DROP INDEX tickets_department_assignee;
ALTER TABLE tickets DROP COLUMN assignee;
