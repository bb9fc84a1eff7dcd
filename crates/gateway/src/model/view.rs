//! What the REST API shows of a server: the record without secrets, plus live state.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{AuthType, ServerRecord, Source, TransportKind};

/// Connection health of one upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Connecting,
    Healthy,
    Unhealthy,
}

/// Health as shown by the REST API.
#[derive(Debug, Clone, Serialize)]
pub struct HealthView {
    pub state: HealthState,
    /// The last connection or discovery error, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the upstream last answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
    /// When `state` last changed.
    pub since: DateTime<Utc>,
}

impl HealthView {
    pub fn connecting() -> Self {
        Self {
            state: HealthState::Connecting,
            last_error: None,
            last_seen: None,
            since: Utc::now(),
        }
    }
}

/// A server record as the REST API returns it. Secrets are reduced to whether they are set.
#[derive(Debug, Clone, Serialize)]
pub struct ServerView {
    pub server_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub transport: TransportKind,
    pub tools: Vec<String>,
    pub resources: Vec<String>,
    pub auth_type: AuthType,
    /// Whether `auth_value` is set (the value itself is write-only).
    pub auth_configured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_header: Option<String>,
    /// Names of the extra upstream headers (values are write-only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub header_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Names of the stdio environment variables (values are write-only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// `shared` or `per_user`.
    pub credentials: super::CredentialMode,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tool_limits: BTreeMap<String, crate::access::RateLimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_changes: Option<super::ToolChanges>,
    /// Tools withheld until an operator approves them (`tool_changes: hold`), by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub held_tools: BTreeMap<String, crate::registry::HeldTool>,
    /// The token exchange, without its client secret (`client_secret_configured`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_exchange: Option<serde_json::Value>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// `config` (read-only through the API) or `api`.
    pub source: Source,
    pub health: HealthView,
    /// How many tools, resources, resource templates and prompts were discovered.
    pub discovered: BTreeMap<&'static str, usize>,
    /// How many of them clients are shown (after the `tools` / `resources` allowlists).
    pub exposed: BTreeMap<&'static str, usize>,
}

impl ServerView {
    pub fn new(
        record: &ServerRecord,
        source: Source,
        health: HealthView,
        discovered: BTreeMap<&'static str, usize>,
        exposed: BTreeMap<&'static str, usize>,
    ) -> Self {
        Self {
            server_id: record.server_id.clone(),
            name: record.name.clone(),
            url: record.url.clone(),
            transport: record.transport_kind(),
            tools: record.tools.clone(),
            resources: record.resources.clone(),
            auth_type: record.auth_type,
            auth_configured: record.auth_value.as_ref().is_some_and(|v| !v.is_empty()),
            api_key_header: record.api_key_header.clone(),
            header_names: record.headers.keys().cloned().collect(),
            command: record.command.clone(),
            args: record.args.clone(),
            env_names: record.env.keys().cloned().collect(),
            cwd: record.cwd.clone(),
            timeout_secs: record.timeout_secs,
            credentials: record.credentials,
            tool_limits: record.tool_limits.clone(),
            tool_changes: record.tool_changes,
            held_tools: BTreeMap::new(),
            token_exchange: record.token_exchange.as_ref().map(|t| {
                serde_json::json!({
                    "token_endpoint": t.token_endpoint,
                    "client_id": t.client_id,
                    "client_secret_configured": t.client_secret.is_some(),
                    "audience": t.audience,
                    "scope": t.scope,
                    "resource": t.resource,
                })
            }),
            metadata: record.metadata.clone(),
            source,
            health,
            discovered,
            exposed,
        }
    }
}
