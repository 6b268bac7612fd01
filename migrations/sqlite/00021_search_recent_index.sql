-- +goose Up
-- Postgres indexes a search document's buckets of ticket ids from this version on; SQLite's
-- full-text table has nothing to change.
SELECT 1;

-- +goose Down
SELECT 1;
