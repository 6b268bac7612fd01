-- +goose Up
-- A department's service level: its targets and business hours, as the API holds them (JSON).
CREATE TABLE department_sla (
    department_id text PRIMARY KEY REFERENCES departments (id),
    policy        text NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- A ticket's clocks (sla.Clocks), set in the transaction of every event that moves them.
-- sla_due is the earliest due time of a running clock, or the far future when none runs, so
-- that a queue ordered by urgency is one index walk; sla_next_moment is when the next warning
-- or breach is to go out, for the sweep that catches what Redis lost.
ALTER TABLE tickets
    ADD COLUMN sla_department_id       text,
    ADD COLUMN sla_first_response_due  timestamptz,
    ADD COLUMN sla_next_response_due   timestamptz,
    ADD COLUMN sla_resolution_due      timestamptz,
    ADD COLUMN sla_first_response_at   timestamptz,
    ADD COLUMN sla_paused_at           timestamptz,
    ADD COLUMN sla_round               integer NOT NULL DEFAULT 0,
    ADD COLUMN sla_breached            text NOT NULL DEFAULT '',
    ADD COLUMN sla_fired               text NOT NULL DEFAULT '',
    ADD COLUMN sla_first_response_secs bigint,
    ADD COLUMN sla_resolution_secs     bigint,
    ADD COLUMN sla_due                 timestamptz NOT NULL DEFAULT '9999-12-31 00:00:00+00',
    ADD COLUMN sla_next_moment         timestamptz;
CREATE INDEX tickets_department_due ON tickets (department_id, sla_due, id) WHERE status <> 'closed';
CREATE INDEX tickets_sla_next_moment ON tickets (sla_next_moment) WHERE sla_next_moment IS NOT NULL;
CREATE INDEX tickets_created ON tickets (created_at);

-- +goose Down
DROP INDEX tickets_created;
DROP INDEX tickets_sla_next_moment;
DROP INDEX tickets_department_due;
ALTER TABLE tickets
    DROP COLUMN sla_department_id, DROP COLUMN sla_first_response_due, DROP COLUMN sla_next_response_due,
    DROP COLUMN sla_resolution_due, DROP COLUMN sla_first_response_at, DROP COLUMN sla_paused_at,
    DROP COLUMN sla_round, DROP COLUMN sla_breached, DROP COLUMN sla_fired, DROP COLUMN sla_first_response_secs,
    DROP COLUMN sla_resolution_secs, DROP COLUMN sla_due, DROP COLUMN sla_next_moment;
DROP TABLE department_sla;
