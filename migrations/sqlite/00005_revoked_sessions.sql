-- +goose Up
-- Client-area and console sessions are signed cookies; one signed out before it expires is
-- listed here until then, so that a copy of its cookie is refused too. The nonce is kept only
-- as a SHA-256 hash.
CREATE TABLE revoked_sessions (
    nonce_hash  text PRIMARY KEY,
    expires_at  DATETIME NOT NULL
);
CREATE INDEX revoked_sessions_expiry ON revoked_sessions (expires_at);

-- +goose Down
DROP TABLE revoked_sessions;
