-- +goose Up
-- A request is filed in its subject's department when it is stored, so that processing, which
-- routes it again and marks it processed, changes no indexed column: the update can then stay
-- on the ticket's page (a heap-only update) instead of adding an entry to each of the table's
-- indexes. The room it needs is kept free on every page from now on; pages written before
-- keep theirs as they are.
ALTER TABLE tickets SET (fillfactor = 80);
-- Tickets waiting for their processing join their department's queue now, as new ones do.
UPDATE tickets SET department_id = (SELECT department_id FROM subjects WHERE subjects.id = tickets.subject_id)
WHERE department_id IS NULL;

-- +goose Down
ALTER TABLE tickets RESET (fillfactor);
