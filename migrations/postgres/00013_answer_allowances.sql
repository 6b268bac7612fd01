-- +goose Up
-- An automatic answer to mail known to be from a customer counts against the customers' hourly
-- allowance, apart from the strangers' one; customers are found by address, in any case.
ALTER TABLE auto_answer_limits ADD COLUMN customer boolean NOT NULL DEFAULT false;
CREATE INDEX auto_answer_limits_class ON auto_answer_limits (customer, answered_at);
CREATE INDEX customers_email_lower ON customers (lower(email));

-- +goose Down
DROP INDEX customers_email_lower;
DROP INDEX auto_answer_limits_class;
ALTER TABLE auto_answer_limits DROP COLUMN customer;
