-- +goose Up
-- Postgres indexes a search document's department beside its words from this version on;
-- SQLite's full-text table has nothing to change.
SELECT 1;

-- +goose Down
SELECT 1;
