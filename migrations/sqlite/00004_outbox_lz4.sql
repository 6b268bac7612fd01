-- +goose Up
-- Postgres compresses stored emails with lz4 from this version on; SQLite has nothing to change.
SELECT 1;

-- +goose Down
SELECT 1;
