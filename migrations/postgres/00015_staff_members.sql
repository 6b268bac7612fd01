-- +goose Up
-- Staff are people: every staff action is done as one member, who reaches the tickets of their
-- departments (admin: all). A member's API tokens are kept only as SHA-256 hashes.
CREATE TABLE staff_members (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL,
    language    text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    admin       boolean NOT NULL DEFAULT false,
    away        boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
-- A member signs in with the identity provider by their email: one member per address.
CREATE UNIQUE INDEX staff_members_email ON staff_members (lower(email));

CREATE TABLE staff_departments (
    member_id     text NOT NULL REFERENCES staff_members (id) ON DELETE CASCADE,
    department_id text NOT NULL REFERENCES departments (id),
    role          text NOT NULL CHECK (role IN ('agent', 'lead')),
    PRIMARY KEY (member_id, department_id)
);
CREATE INDEX staff_departments_department ON staff_departments (department_id, member_id);

CREATE TABLE staff_tokens (
    id           text PRIMARY KEY,
    member_id    text NOT NULL REFERENCES staff_members (id) ON DELETE CASCADE,
    token_hash   text NOT NULL UNIQUE,
    label        text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX staff_tokens_member ON staff_tokens (member_id, created_at);

-- The reveal audit names the member, how they signed in (token, service, link, oidc) and why.
-- Rows written before members existed keep the free-text name they were given, marked legacy.
ALTER TABLE password_reveals
    ADD COLUMN member_id text REFERENCES staff_members (id),
    ADD COLUMN via text,
    ADD COLUMN reason text,
    ADD COLUMN legacy boolean NOT NULL DEFAULT true;
ALTER TABLE password_reveals ALTER COLUMN legacy SET DEFAULT false;

-- +goose Down
ALTER TABLE password_reveals DROP COLUMN legacy, DROP COLUMN reason, DROP COLUMN via, DROP COLUMN member_id;
DROP TABLE staff_tokens;
DROP TABLE staff_departments;
DROP TABLE staff_members;
