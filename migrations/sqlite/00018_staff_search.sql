-- +goose Up
-- Staff search: one FTS5 document per ticket (rowid = tickets.id), its subject's name and the
-- text of every message of its thread, notes included, kept by triggers whichever code path
-- writes: intake, answers, notes, erasure. unicode61 with remove_diacritics 2 folds case and
-- accents ("configuracao" finds "Configuração"), as Postgres's configuration does. The
-- characters \x01 and \x02 mark matches in snippets, so they are taken out of the text.
--
-- secure-delete makes FTS5 remove a replaced document's words from the index itself at once,
-- rather than leave them in older segments under a deletion marker until a merge: an erased
-- customer's words are then nowhere in the file.
CREATE VIRTUAL TABLE ticket_search USING fts5(subject, body, tokenize = 'unicode61 remove_diacritics 2');
INSERT INTO ticket_search (ticket_search, rank) VALUES ('secure-delete', 1);

-- What a ticket's document is made of, read by every trigger below: an erased ticket has none.
CREATE VIEW ticket_search_source AS
SELECT t.id, s.name AS subject, COALESCE((SELECT group_concat(replace(replace(m.body, char(1), ''), char(2), ''), char(10) ORDER BY m.id)
    FROM messages m WHERE m.ticket_id = t.id), '') AS body
FROM tickets t JOIN subjects s ON s.id = t.subject_id
WHERE t.erasure_id IS NULL;

-- +goose StatementBegin
CREATE TRIGGER ticket_search_tickets_added AFTER INSERT ON tickets BEGIN
    DELETE FROM ticket_search WHERE rowid = NEW.id;
    INSERT INTO ticket_search (rowid, subject, body)
    SELECT id, subject, body FROM ticket_search_source WHERE id = NEW.id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER ticket_search_ticket_changed AFTER UPDATE OF subject_id, erasure_id ON tickets
WHEN OLD.subject_id IS NOT NEW.subject_id OR OLD.erasure_id IS NOT NEW.erasure_id BEGIN
    DELETE FROM ticket_search WHERE rowid = NEW.id;
    INSERT INTO ticket_search (rowid, subject, body)
    SELECT id, subject, body FROM ticket_search_source WHERE id = NEW.id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER ticket_search_messages_added AFTER INSERT ON messages BEGIN
    DELETE FROM ticket_search WHERE rowid = NEW.ticket_id;
    INSERT INTO ticket_search (rowid, subject, body)
    SELECT id, subject, body FROM ticket_search_source WHERE id = NEW.ticket_id;
END;
-- +goose StatementEnd

-- A body changed (an erasure empties them) or a message removed: the document is made again, so
-- no word of the old text stays searchable.
-- +goose StatementBegin
CREATE TRIGGER ticket_search_messages_changed AFTER UPDATE OF body, ticket_id ON messages BEGIN
    DELETE FROM ticket_search WHERE rowid IN (OLD.ticket_id, NEW.ticket_id);
    INSERT INTO ticket_search (rowid, subject, body)
    SELECT id, subject, body FROM ticket_search_source WHERE id IN (OLD.ticket_id, NEW.ticket_id);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER ticket_search_messages_removed AFTER DELETE ON messages BEGIN
    DELETE FROM ticket_search WHERE rowid = OLD.ticket_id;
    INSERT INTO ticket_search (rowid, subject, body)
    SELECT id, subject, body FROM ticket_search_source WHERE id = OLD.ticket_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER ticket_search_tickets_removed AFTER DELETE ON tickets BEGIN
    DELETE FROM ticket_search WHERE rowid = OLD.id;
END;
-- +goose StatementEnd

-- The tickets there already.
INSERT INTO ticket_search (rowid, subject, body)
SELECT id, subject, body FROM ticket_search_source;

-- +goose Down
DROP TRIGGER ticket_search_tickets_removed;
DROP TRIGGER ticket_search_messages_removed;
DROP TRIGGER ticket_search_messages_changed;
DROP TRIGGER ticket_search_messages_added;
DROP TRIGGER ticket_search_ticket_changed;
DROP TRIGGER ticket_search_tickets_added;
DROP VIEW ticket_search_source;
DROP TABLE ticket_search;
