-- +goose Up
-- Staff search asks the GIN index for a query's matches among the newest tickets, a bucket of
-- ticket ids at a time (storage.searchBuckets), so that only the documents of the buckets it needs
-- are read from the table: a word in one ticket of 600 had every one of its 1,700 documents read
-- to keep the newest 200. The buckets are ticket ids by 65,536 and by 8,192, indexed beside the
-- department and the words; the index still answers a search within some departments, or over
-- all of them, as the one it replaces did. Building it reads every document, as that one's did.
CREATE INDEX IF NOT EXISTS ticket_search_recent_document ON ticket_search
    USING gin (department_id, (ticket_id >> 16), (ticket_id >> 13), document);
DROP INDEX IF EXISTS ticket_search_department_document;

-- +goose Down
CREATE INDEX IF NOT EXISTS ticket_search_department_document ON ticket_search USING gin (department_id, document);
DROP INDEX ticket_search_recent_document;
