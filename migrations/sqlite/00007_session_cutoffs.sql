-- +goose Up
-- "Sign out everywhere": every session of a customer, or of a member of staff, that began
-- before not_before is refused (the portal asks for it when a customer changes their password;
-- staff when a device is lost). A row older than the longest session is moot.
CREATE TABLE session_cutoffs (
    kind        text NOT NULL,
    subject     text NOT NULL,
    not_before  DATETIME NOT NULL,
    PRIMARY KEY (kind, subject)
);

-- +goose Down
DROP TABLE session_cutoffs;
