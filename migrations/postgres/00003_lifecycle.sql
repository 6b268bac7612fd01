-- +goose Up
-- A department's queue without a status filter: every ticket not closed, waiting longest first.
-- Closed tickets, most of the table in time, stay out of it, so the queue and its counts stay
-- small however many tickets the company has answered.
CREATE INDEX tickets_department_waiting ON tickets (department_id, updated_at, id) INCLUDE (status) WHERE status <> 'closed';

-- +goose Down
DROP INDEX tickets_department_waiting;
