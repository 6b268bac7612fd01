-- +goose Up
-- An Idempotency-Key is kept with a keyed digest of the whole request it came with (its canonical
-- form: subject, domain, message, password, related ticket), so that the same key with another
-- request is refused rather than answered with the first ticket. Rows from before have none and
-- are compared by subject, as they were.
ALTER TABLE tickets ADD COLUMN request_digest text;

-- +goose Down
ALTER TABLE tickets DROP COLUMN request_digest;
