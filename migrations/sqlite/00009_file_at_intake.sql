-- +goose Up
-- A request is filed in its subject's department when it is stored (see the Postgres migration
-- of the same number); tickets waiting for their processing join their department's queue now.
UPDATE tickets SET department_id = (SELECT department_id FROM subjects WHERE subjects.id = tickets.subject_id)
WHERE department_id IS NULL;

-- +goose Down
SELECT 1;
