-- +goose Up
-- A search within some departments asks one GIN index for the documents that hold its words
-- and are of those departments (btree_gin indexes department_id beside the words): the index
-- skips through a department's entries to the words' matches, where a department's btree
-- index ANDed with the words' GIN bitmap read every ticket of the department (a sixth of them,
-- 15 ms at a million tickets), and the words' matches alone read every other department's
-- documents from the table. The index also serves a search within reach of all departments,
-- and replaces the one on the documents alone. Building it reads every document: about as long
-- as the search migration's backfill took over the same tickets.
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX IF NOT EXISTS ticket_search_department_document ON ticket_search USING gin (department_id, document);
DROP INDEX IF EXISTS ticket_search_document;

-- +goose Down
CREATE INDEX ticket_search_document ON ticket_search USING gin (document);
DROP INDEX ticket_search_department_document;
