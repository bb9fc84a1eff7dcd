//! The one place gateway and upstream failures become JSON-RPC errors for MCP clients.

use rmcp::{ErrorData as McpError, model::ErrorCode};
use serde_json::json;

use super::view::BadCursor;
use crate::upstream::UpstreamError;

/// An exposed name or URI that no (healthy) upstream offers.
pub fn unknown(kind: &str, name: &str) -> McpError {
    McpError::invalid_params(
        format!("unknown {kind}: {name}"),
        Some(json!({ kind: name })),
    )
}

/// A call of a tool held for approval (`tool_changes: hold`): what changed, and how an
/// operator lets it through.
pub fn held(server_id: &str, tool: &str, change: &crate::registry::Change) -> McpError {
    McpError::invalid_params(
        crate::gateway::held_message(server_id, tool, change),
        Some(json!({
            "reason": "tool_held",
            "server_id": server_id,
            "tool": tool,
            "change": change,
        })),
    )
}

/// A request over its API key's limits, with when to retry (`data.retry_after_ms`).
pub fn rate_limited(limited: crate::access::Limited) -> McpError {
    let after = limited.retry_after;
    McpError::new(
        crate::protocol::RATE_LIMITED,
        limited.to_string(),
        Some(json!({
            "reason": "rate_limited",
            "limit": limited.limit,
            "of": limited.whose,
            "retry_after_ms": after.as_millis() as u64,
        })),
    )
}

/// A request to a per-user or token-exchange server without a credential for the
/// caller (none stored, no token to exchange, the exchange refused).
pub fn credential_refused(server_id: &str, why: &crate::gateway::CredentialError) -> McpError {
    let (message, reason) = why.explain();
    McpError::invalid_request(
        message,
        Some(json!({"reason": reason, "server_id": server_id})),
    )
}

pub fn bad_cursor(_: BadCursor) -> McpError {
    McpError::invalid_params("invalid pagination cursor", None)
}

/// An upstream failure, as seen by the downstream client. Errors the upstream itself
/// returned pass through with their code; transport problems become internal errors that
/// name the server.
pub fn upstream(server_id: &str, error: UpstreamError) -> McpError {
    match error {
        UpstreamError::Rpc {
            code,
            message,
            data,
        } => McpError::new(ErrorCode(code), message, data.map(|d| *d)),
        UpstreamError::Unavailable => McpError::internal_error(
            format!("upstream server {server_id:?} is not connected"),
            Some(json!({"server_id": server_id, "reason": "unavailable"})),
        ),
        UpstreamError::Timeout(after) => McpError::internal_error(
            format!("upstream server {server_id:?} did not answer within {after:?}"),
            Some(json!({"server_id": server_id, "reason": "timeout"})),
        ),
        other => McpError::internal_error(
            format!("upstream server {server_id:?}: {other}"),
            Some(json!({"server_id": server_id})),
        ),
    }
}
