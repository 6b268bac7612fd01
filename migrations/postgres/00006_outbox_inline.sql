-- +goose Up
-- A rendered email is about 5 KB and 2.2 KB compressed: just over the 2 KB beyond which Postgres
-- moves a compressed value out of the row, into the table's TOAST relation, as two chunks with
-- their index entries. With a row target of 4,000 bytes an email is still compressed, and then
-- kept in its row: one row written instead of three, and read without the detour. Only an email
-- still over 4,000 bytes compressed (a very long message) moves out.
ALTER TABLE outbox SET (toast_tuple_target = 4000);

-- +goose Down
ALTER TABLE outbox RESET (toast_tuple_target);
