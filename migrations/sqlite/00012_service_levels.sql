-- +goose Up
-- A department's service level: its targets and business hours, as the API holds them (JSON).
CREATE TABLE department_sla (
    department_id text PRIMARY KEY REFERENCES departments (id),
    policy        text NOT NULL,
    updated_at    DATETIME NOT NULL
);

-- A ticket's clocks (sla.Clocks); see the Postgres migration.
ALTER TABLE tickets ADD COLUMN sla_department_id text;
ALTER TABLE tickets ADD COLUMN sla_first_response_due DATETIME;
ALTER TABLE tickets ADD COLUMN sla_next_response_due DATETIME;
ALTER TABLE tickets ADD COLUMN sla_resolution_due DATETIME;
ALTER TABLE tickets ADD COLUMN sla_first_response_at DATETIME;
ALTER TABLE tickets ADD COLUMN sla_paused_at DATETIME;
ALTER TABLE tickets ADD COLUMN sla_round integer NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN sla_breached text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN sla_fired text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN sla_first_response_secs integer;
ALTER TABLE tickets ADD COLUMN sla_resolution_secs integer;
ALTER TABLE tickets ADD COLUMN sla_due DATETIME NOT NULL DEFAULT '9999-12-31 00:00:00+00:00';
ALTER TABLE tickets ADD COLUMN sla_next_moment DATETIME;
CREATE INDEX tickets_department_due ON tickets (department_id, sla_due, id) WHERE status <> 'closed';
CREATE INDEX tickets_sla_next_moment ON tickets (sla_next_moment) WHERE sla_next_moment IS NOT NULL;
CREATE INDEX tickets_created ON tickets (created_at);

-- +goose Down
DROP INDEX tickets_created;
DROP INDEX tickets_sla_next_moment;
DROP INDEX tickets_department_due;
ALTER TABLE tickets DROP COLUMN sla_department_id;
ALTER TABLE tickets DROP COLUMN sla_first_response_due;
ALTER TABLE tickets DROP COLUMN sla_next_response_due;
ALTER TABLE tickets DROP COLUMN sla_resolution_due;
ALTER TABLE tickets DROP COLUMN sla_first_response_at;
ALTER TABLE tickets DROP COLUMN sla_paused_at;
ALTER TABLE tickets DROP COLUMN sla_round;
ALTER TABLE tickets DROP COLUMN sla_breached;
ALTER TABLE tickets DROP COLUMN sla_fired;
ALTER TABLE tickets DROP COLUMN sla_first_response_secs;
ALTER TABLE tickets DROP COLUMN sla_resolution_secs;
ALTER TABLE tickets DROP COLUMN sla_due;
ALTER TABLE tickets DROP COLUMN sla_next_moment;
DROP TABLE department_sla;
