-- Servers registered through the REST API (config-file servers are never stored).
--
-- `seq` is the registration order (an identity never reuses a value). `record` is the JSON
-- of `ServerRecord` (secrets included: this table is the only place they live) kept as
-- TEXT, not JSONB: JSONB would reorder the keys of operator `metadata`, and a damaged row
-- must still load far enough to be reported. Keep in step with ../sqlite.
CREATE TABLE mcp_servers (
    seq        BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    server_id  TEXT        NOT NULL UNIQUE,
    record     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
