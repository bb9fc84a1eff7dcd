-- API keys created through the REST API (config-file keys are never stored).
--
-- `record` is the JSON of `KeyRecord`: the key's SHA-256, never the key. `key_hash` is
-- also a column so that two keys can never share a hash. Keep in step with ../postgres.
CREATE TABLE mcp_keys (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id     TEXT    NOT NULL UNIQUE,
    key_hash   TEXT    NOT NULL UNIQUE,
    record     TEXT    NOT NULL,
    created_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
);
