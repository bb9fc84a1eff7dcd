-- Callers' own credentials for servers marked `credentials: per_user`
-- (PUT /mcp/servers/{id}/credentials). `value` is sealed with MCP_GATEWAY_SECRET_KEY
-- (`enc:v1:…`) when one is set. Keep in step with ../sqlite.
CREATE TABLE mcp_credentials (
    server_id  TEXT        NOT NULL,
    principal  TEXT        NOT NULL,
    value      TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (server_id, principal)
);
