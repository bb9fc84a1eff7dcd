//! The server record: what an operator registers (REST body or YAML entry), its validation,
//! and the view the REST API shows (never with secrets).

mod validate;
mod view;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

pub use validate::{FieldError, MAX_SERVER_ID_LEN, RegistrationPolicy};
pub use view::{HealthState, HealthView, ServerView};

/// How the gateway talks to an upstream server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    /// MCP streamable HTTP (both protocol eras).
    StreamableHttp,
    /// The legacy HTTP+SSE transport of protocol revision 2024-11-05.
    Sse,
    /// A child process speaking newline-delimited JSON-RPC on stdin/stdout.
    Stdio,
}

impl TransportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StreamableHttp => "streamable_http",
            Self::Sse => "sse",
            Self::Stdio => "stdio",
        }
    }
}

/// Whose credential a server's calls carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialMode {
    /// The record's `auth_value`, for every caller.
    #[default]
    Shared,
    /// Each caller's own (`PUT /mcp/servers/{id}/credentials`), on upstream sessions of
    /// that caller only; the record's `auth_value` serves discovery and the operator.
    PerUser,
}

impl CredentialMode {
    fn is_shared(&self) -> bool {
        *self == CredentialMode::Shared
    }
}

impl ServerRecord {
    /// Whether a key's or JWT caller's requests go on an upstream session of its own,
    /// with its own credential: stored (`credentials: per_user`) or exchanged for its
    /// token (`auth_type: token_exchange`).
    pub fn per_caller(&self) -> bool {
        self.credentials == CredentialMode::PerUser || self.auth_type == AuthType::TokenExchange
    }
}

/// How the gateway authenticates to an upstream server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    #[default]
    None,
    /// `Authorization: Bearer <auth_value>`.
    BearerToken,
    /// `<api_key_header>: <auth_value>` (header defaults to `X-API-Key`).
    ApiKey,
    /// `Authorization: Basic base64(<auth_value>)`, where `auth_value` is `user:password`.
    Basic,
    /// A pre-obtained OAuth 2 access token, sent as a bearer token.
    Oauth2,
    /// OAuth 2.0 Token Exchange (RFC 8693): a JWT caller's token is exchanged at
    /// `token_exchange.token_endpoint` for one for this upstream, sent as a bearer token
    /// on that caller's own upstream session (`auth_value`, if set, serves discovery and
    /// the operator).
    TokenExchange,
}

/// Where and how to exchange a caller's token (RFC 8693), for `auth_type: token_exchange`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenExchange {
    /// The authorization server's token endpoint.
    pub token_endpoint: String,
    /// This gateway's client id there (HTTP Basic authentication with `client_secret`).
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// `audience`, `scope` and `resource` of the exchange request, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// Where a server registration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The YAML configuration file; the REST API may not change it.
    Config,
    /// The REST API; persisted when `STORE_MODEL_IN_DB=true`.
    Api,
}

/// The default header for `auth_type: api_key`.
pub const DEFAULT_API_KEY_HEADER: &str = "X-API-Key";

/// What a tool whose definition changed since it was approved, or a new tool of a server
/// whose tools were approved, meets (`gateway.tool_changes`, a server's `tool_changes`;
/// see `registry::approvals`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChanges {
    /// Approved as it is.
    Allow,
    /// Logged and counted, then approved.
    #[default]
    Warn,
    /// Withheld (not listed, not callable) until an operator approves it.
    Hold,
}

/// One upstream MCP server as registered. Field names are the seed's, plus the additions
/// of DESIGN.md (auth_value, headers, stdio's command/args/env/cwd).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerRecord {
    /// Unique id; also the prefix of the names this server's tools are exposed under.
    #[serde(default)]
    pub server_id: String,
    /// Human-readable name (defaults to `server_id`).
    #[serde(default)]
    pub name: String,
    /// Upstream URL (`streamable_http` and `sse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Defaults to `stdio` when only `command` is given, else `streamable_http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportKind>,
    /// Allowlist of tool names; empty means all discovered tools.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Allowlist of resources (by name or URI); empty means all discovered resources.
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub auth_type: AuthType,
    /// The credential for `auth_type` (write-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_value: Option<Secret>,
    /// Header used for `auth_type: api_key` (default `X-API-Key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_header: Option<String>,
    /// Extra headers sent to the upstream (values are write-only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    /// `stdio`: the program to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// `stdio`: its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// `stdio`: extra environment variables (values are write-only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, Secret>,
    /// `stdio`: working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Per-call timeout in seconds for requests to this server (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Rate limits and concurrency caps of single tools (by the upstream's tool name),
    /// shared by every caller: to spare an upstream's expensive tools.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tool_limits: BTreeMap<String, crate::access::RateLimit>,
    /// For `auth_type: token_exchange`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_exchange: Option<TokenExchange>,
    /// `shared` (default) or `per_user`: see [`CredentialMode`].
    #[serde(default, skip_serializing_if = "CredentialMode::is_shared")]
    pub credentials: CredentialMode,
    /// What a changed or new tool of this server meets (default: `gateway.tool_changes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_changes: Option<ToolChanges>,
    /// Free-form operator data, stored and returned as given.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl ServerRecord {
    /// The transport after defaulting (see [`ServerRecord::transport`]).
    pub fn transport_kind(&self) -> TransportKind {
        match self.transport {
            Some(kind) => kind,
            None if self.command.is_some() && self.url.is_none() => TransportKind::Stdio,
            None => TransportKind::StreamableHttp,
        }
    }

    /// The per-call timeout.
    pub fn call_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_secs.unwrap_or(60))
    }

    /// Whether a tool name passes the registration's allowlist.
    pub fn allows_tool(&self, name: &str) -> bool {
        self.tools.is_empty() || self.tools.iter().any(|t| t == name)
    }

    /// Whether a resource passes the allowlist: it may be named by its name or its URI.
    pub fn allows_resource(&self, name: &str, uri: &str) -> bool {
        self.resources.is_empty() || self.resources.iter().any(|r| r == name || r == uri)
    }
}
