//! Errors of gateway operations. The HTTP mapping lives in `admin::error`, the JSON-RPC
//! mapping in the MCP front end: one place each.

use crate::{
    model::FieldError, registry::RegistryError, store::StoreError, upstream::UpstreamError,
};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    Invalid(#[from] FieldError),
    #[error("server {0:?} is already registered")]
    Duplicate(String),
    #[error("server {0:?} is not registered")]
    NotFound(String),
    #[error(
        "server {0:?} is defined in the config file and cannot be changed through the API; edit the file instead"
    )]
    ConfigDefined(String),
    #[error("no key with id {0:?}")]
    KeyNotFound(String),
    #[error(
        "key {0:?} is defined in the config file and cannot be changed through the API; edit the file instead"
    )]
    KeyConfigDefined(String),
    #[error("no policy named {0:?}")]
    PolicyNotFound(String),
    #[error("a policy named {0:?} exists (PUT /mcp/policies/{0} replaces it)")]
    PolicyExists(String),
    #[error(
        "policy {0:?} is defined in the config file and cannot be changed through the API; edit the file instead"
    )]
    PolicyConfigDefined(String),
    #[error("policy {name:?} is named by the keys {keys:?}; take it off them first")]
    PolicyInUse { name: String, keys: Vec<String> },
    #[error("{0}")]
    RateLimited(crate::access::Limited),
    #[error("{}", super::CredentialError::missing_message(.0))]
    CredentialRequired(String),
    #[error("no credential of yours is stored for server {0:?}")]
    CredentialNotFound(String),
    #[error("no tool named {0:?} (list them with GET /mcp/tools)")]
    ToolNotFound(String),
    #[error("{}", held_message(.server_id, .tool, .change))]
    ToolHeld {
        server_id: String,
        tool: String,
        change: crate::registry::Change,
    },
    #[error("tool {tool:?} of server {server_id:?} is not held for approval: nothing to approve")]
    ToolNotHeld { server_id: String, tool: String },
    #[error("upstream {0:?}: {1}")]
    Upstream(String, UpstreamError),
    #[error("store: {0}")]
    Store(StoreError),
    #[error("the gateway is shutting down")]
    ShuttingDown,
}

/// Why a held tool cannot be called, and how it can be.
pub fn held_message(server_id: &str, tool: &str, change: &crate::registry::Change) -> String {
    let what = match change {
        crate::registry::Change::New => "is new on a server whose tools were approved",
        crate::registry::Change::Changed => "changed its definition since it was approved",
    };
    format!(
        "tool {tool:?} of server {server_id:?} {what}; it is held until an operator approves it \
         (POST /mcp/servers/{server_id}/tools/{tool}/approve, or `mcp-gateway tools approve`)"
    )
}

impl From<StoreError> for GatewayError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate(id) => Self::Duplicate(id),
            StoreError::NotFound(id) => Self::NotFound(id),
            StoreError::KeyNotFound(id) => Self::KeyNotFound(id),
            other => Self::Store(other),
        }
    }
}

impl From<RegistryError> for GatewayError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Duplicate(id) => Self::Duplicate(id),
            RegistryError::NotFound(id) => Self::NotFound(id),
        }
    }
}
