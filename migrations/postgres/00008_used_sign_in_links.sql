-- +goose Up
-- A sign-in link signs in once: its token, kept only as a SHA-256 hash, is listed here when it is
-- used, until it would have expired, so that a copy of the link (browser history, a proxy's log,
-- a forwarded email) signs nobody in.
CREATE TABLE used_sign_in_links (
    token_hash  text PRIMARY KEY,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX used_sign_in_links_expiry ON used_sign_in_links (expires_at);

-- +goose Down
DROP TABLE used_sign_in_links;
