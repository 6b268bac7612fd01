-- +goose Up
-- Staff search: one document per ticket, its subject's name (weight A) and the text of every
-- message of its thread, notes included (weight B), kept by triggers in the statement that
-- changes what it is made of, whichever code path writes: intake, answers, notes, erasure.
--
-- Words are matched as written, without stemming: the 'simple' parser and dictionary, with
-- unaccent before it, so "configuracao" and "CONFIGURAÇÃO" are the same word. Portuguese
-- stemming would also fold plurals, but it drops words the snowball list counts as stop words
-- ("não", "sem", "está"), mangles the English of a fifth of the customers and the tokens staff
-- look for most (domains, error codes, invoice numbers), and matches differently from SQLite's
-- FTS5, which has no Portuguese stemmer: with 'simple' both databases find the same tickets, and
-- words typed in part still match, as every word of a query matches as a prefix.
--
-- The accents are removed by a text search configuration rather than by unaccent() around
-- the text: the dictionary is bound by its id when the configuration is made (no search_path at
-- query time, so the document is the same in every session), and ts_headline, given the same
-- configuration, marks "Configuração" in the original text for the query "configuracao".
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE TEXT SEARCH CONFIGURATION assistd_search (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION assistd_search
    ALTER MAPPING FOR word, hword, hword_part, numword, numhword WITH unaccent, simple;

-- department_id is the ticket's, so that a search within some departments reads only theirs: a
-- document is kept while its ticket is not erased, and follows its ticket to another department.
CREATE TABLE ticket_search (
    ticket_id     bigint PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    department_id text,
    document      tsvector NOT NULL
);
CREATE INDEX ticket_search_document ON ticket_search USING gin (document);
-- A department's newest documents first: a query whose words are in many tickets finds the
-- newest of them by walking this index, not by gathering all of them.
CREATE INDEX ticket_search_department ON ticket_search (department_id, ticket_id);

-- ticket_search_refresh makes the documents of some tickets again from what they hold now, and
-- drops those of erased tickets. A thread is read up to its first 100,000 characters, which
-- keeps every document well under the 1 MB a tsvector may hold: an endless thread never makes a
-- message fail to be written.
-- +goose StatementBegin
CREATE FUNCTION ticket_search_refresh(ids bigint[]) RETURNS void LANGUAGE sql AS $$
    DELETE FROM ticket_search x USING tickets t
    WHERE x.ticket_id = t.id AND t.id = ANY (ids) AND t.erasure_id IS NOT NULL;
    INSERT INTO ticket_search (ticket_id, department_id, document)
    SELECT t.id, t.department_id,
        setweight(to_tsvector('assistd_search', s.name), 'A') ||
        setweight(to_tsvector('assistd_search', COALESCE(left(m.body, 100000), '')), 'B')
    FROM tickets t
    JOIN subjects s ON s.id = t.subject_id
    LEFT JOIN LATERAL (SELECT string_agg(left(body, 100000), E'\n' ORDER BY id) AS body FROM messages WHERE ticket_id = t.id) m ON true
    WHERE t.id = ANY (ids) AND t.erasure_id IS NULL
    ON CONFLICT (ticket_id) DO UPDATE SET department_id = excluded.department_id, document = excluded.document;
$$;
-- +goose StatementEnd

-- A new ticket is findable by its subject at once; its messages complete the document, and a
-- message added or removed has it made again.
-- +goose StatementBegin
CREATE FUNCTION ticket_search_tickets_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ticket_search (ticket_id, department_id, document)
    SELECT n.id, n.department_id, setweight(to_tsvector('assistd_search', s.name), 'A')
    FROM added n JOIN subjects s ON s.id = n.subject_id
    WHERE n.erasure_id IS NULL
    ON CONFLICT (ticket_id) DO NOTHING;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER ticket_search_tickets_added AFTER INSERT ON tickets
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ticket_search_tickets_added();

-- A ticket given another subject or department, or erased. Routing a processed ticket sets its
-- department to the same value and does not fire it.
-- +goose StatementBegin
CREATE FUNCTION ticket_search_ticket_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ticket_search_refresh(ARRAY[NEW.id]);
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER ticket_search_ticket_changed AFTER UPDATE OF subject_id, department_id, erasure_id ON tickets
    FOR EACH ROW WHEN (OLD.subject_id IS DISTINCT FROM NEW.subject_id OR OLD.department_id IS DISTINCT FROM NEW.department_id
        OR OLD.erasure_id IS DISTINCT FROM NEW.erasure_id)
    EXECUTE FUNCTION ticket_search_ticket_changed();

-- +goose StatementBegin
CREATE FUNCTION ticket_search_messages_touched() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ticket_search_refresh(ARRAY(SELECT DISTINCT ticket_id FROM touched));
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER ticket_search_messages_added AFTER INSERT ON messages
    REFERENCING NEW TABLE AS touched FOR EACH STATEMENT EXECUTE FUNCTION ticket_search_messages_touched();
CREATE TRIGGER ticket_search_messages_removed AFTER DELETE ON messages
    REFERENCING OLD TABLE AS touched FOR EACH STATEMENT EXECUTE FUNCTION ticket_search_messages_touched();

-- A body changed (an erasure empties them) or moved: the document is made again, so no word of
-- the old text stays searchable.
-- +goose StatementBegin
CREATE FUNCTION ticket_search_messages_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ticket_search_refresh(ARRAY(
        SELECT DISTINCT o.ticket_id FROM old_rows o LEFT JOIN new_rows n ON n.id = o.id
        WHERE n.id IS NULL OR n.body IS DISTINCT FROM o.body OR n.ticket_id <> o.ticket_id
        UNION SELECT n.ticket_id FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE n.ticket_id <> o.ticket_id));
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER ticket_search_messages_changed AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ticket_search_messages_changed();

-- The tickets there already.
SELECT ticket_search_refresh(ARRAY(SELECT id FROM tickets));

-- +goose Down
DROP TRIGGER ticket_search_messages_removed ON messages;
DROP TRIGGER ticket_search_messages_changed ON messages;
DROP TRIGGER ticket_search_messages_added ON messages;
DROP TRIGGER ticket_search_ticket_changed ON tickets;
DROP TRIGGER ticket_search_tickets_added ON tickets;
DROP FUNCTION ticket_search_messages_changed();
DROP FUNCTION ticket_search_messages_touched();
DROP FUNCTION ticket_search_ticket_changed();
DROP FUNCTION ticket_search_tickets_added();
DROP FUNCTION ticket_search_refresh(bigint[]);
DROP TABLE ticket_search;
DROP TEXT SEARCH CONFIGURATION assistd_search;
