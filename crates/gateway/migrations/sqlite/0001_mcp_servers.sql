-- Servers registered through the REST API (config-file servers are never stored).
--
-- `seq` is the registration order: AUTOINCREMENT never reuses a value, so a server that is
-- deleted and registered again goes to the end, as in the in-memory store. `record` is the
-- JSON of `ServerRecord` (secrets included: this table is the only place they live) kept
-- as TEXT so that it round-trips byte for byte. Keep in step with ../postgres.
CREATE TABLE mcp_servers (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id  TEXT    NOT NULL UNIQUE,
    record     TEXT    NOT NULL,
    created_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
);
