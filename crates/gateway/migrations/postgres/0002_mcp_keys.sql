-- API keys created through the REST API (config-file keys are never stored).
--
-- `record` is the JSON of `KeyRecord`: the key's SHA-256, never the key. `key_hash` is
-- also a column so that two keys can never share a hash. Keep in step with ../sqlite.
CREATE TABLE mcp_keys (
    seq        BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_id     TEXT        NOT NULL UNIQUE,
    key_hash   TEXT        NOT NULL UNIQUE,
    record     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
