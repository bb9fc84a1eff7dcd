-- Named policies created through the REST API (config-file policies are never stored).
--
-- `record` is the JSON of `PolicyRecord` (its CEL expression included). Keep in step with
-- ../postgres.
CREATE TABLE mcp_policies (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    record     TEXT    NOT NULL,
    created_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
);
