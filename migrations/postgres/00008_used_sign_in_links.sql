-- +goose Up
-- A sign-in link signs in once: its token, kept only as a SHA-256 hash of its signature, is listed
-- here when it is first used, until it would have expired, so that a copy of the link (browser
-- history, a proxy's log, a forwarded message) signs nobody in. used_at lets the few seconds of a
-- double click through.
CREATE TABLE used_sign_in_links (
    token_hash  text PRIMARY KEY,
    used_at     timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX used_sign_in_links_expiry ON used_sign_in_links (expires_at);

-- +goose Down
DROP TABLE used_sign_in_links;
