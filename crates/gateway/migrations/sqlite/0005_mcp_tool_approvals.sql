-- The approved definition of each tool of each server (`gateway.tool_changes`): the
-- SHA-256 of its description, title, schemas and annotations. A re-discovered tool whose
-- fingerprint differs is a change (held under `tool_changes: hold`). Removed with the
-- server. Keep in step with ../postgres.
CREATE TABLE mcp_tool_approvals (
    server_id   TEXT        NOT NULL,
    tool        TEXT        NOT NULL,
    fingerprint TEXT        NOT NULL,
    approved_at TEXT        NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (server_id, tool)
);
