-- +goose Up
-- Postgres keeps stored emails in the outbox row from this version on; SQLite has nothing to change.
SELECT 1;

-- +goose Down
SELECT 1;
