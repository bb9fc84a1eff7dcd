-- Named policies created through the REST API (config-file policies are never stored).
--
-- `record` is the JSON of `PolicyRecord` (its CEL expression included). Keep in step with
-- ../sqlite.
CREATE TABLE mcp_policies (
    seq        BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT        NOT NULL UNIQUE,
    record     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
