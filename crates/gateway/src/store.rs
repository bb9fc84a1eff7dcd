//! Persistence of what the REST API creates: servers, API keys and policies.
//!
//! One repository trait, [`ServerStore`], with two implementations: [`MemoryStore`]
//! (`STORE_MODEL_IN_DB=false`) and [`SqlStore`] (SQLite or Postgres through sqlx, with
//! versioned migrations). Config-file servers, keys and policies are never stored: the file is their
//! source.

mod memory;
mod sql;
mod timed;

use std::sync::Arc;

use crate::{
    access::{keys::KeyRecord, policy::PolicyRecord},
    model::ServerRecord,
};

pub use memory::MemoryStore;
pub use sql::SqlStore;
pub use timed::TimedStore;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("server {0:?} is already stored")]
    Duplicate(String),
    #[error("server {0:?} is not stored")]
    NotFound(String),
    #[error("unsupported DATABASE_URL scheme {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("key {0:?} is already stored")]
    DuplicateKey(String),
    #[error("key {0:?} is not stored")]
    KeyNotFound(String),
    #[error("stored record for {server_id:?} is unreadable: {message}")]
    Corrupt { server_id: String, message: String },
    #[error("stored key {key_id:?} is unreadable: {message}")]
    CorruptKey { key_id: String, message: String },
    #[error("stored policy {name:?} is unreadable: {message}")]
    CorruptPolicy { name: String, message: String },
    #[error("stored record for server {server_id:?}: {field} {error}")]
    Secret {
        server_id: String,
        field: String,
        error: crate::secret::at_rest::OpenError,
    },
}

/// A caller's own credential for a per-user server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    pub server_id: String,
    /// Whose (see [`crate::access::Identity::principal`]).
    pub principal: String,
    pub value: crate::secret::Secret,
}

/// The approved definition of one tool of one server (see `registry::approvals`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolApproval {
    pub server_id: String,
    /// The tool's name upstream.
    pub tool: String,
    pub fingerprint: String,
}

/// The repository of API-registered servers. Every write is durable when it returns `Ok`:
/// an acknowledged registration survives `kill -9`.
#[async_trait::async_trait]
pub trait ServerStore: Send + Sync + 'static {
    /// All stored records, in registration order.
    async fn load_all(&self) -> Result<Vec<ServerRecord>, StoreError>;
    /// Stores a new record; [`StoreError::Duplicate`] if the id exists.
    async fn insert(&self, record: &ServerRecord) -> Result<(), StoreError>;
    /// Replaces an existing record; [`StoreError::NotFound`] if the id is unknown.
    async fn replace(&self, record: &ServerRecord) -> Result<(), StoreError>;
    /// Deletes a record; returns whether it existed.
    async fn delete(&self, server_id: &str) -> Result<bool, StoreError>;
    /// All stored API keys, in creation order.
    async fn load_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Stores a new key; [`StoreError::DuplicateKey`] if its id or hash exists.
    async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError>;
    /// Replaces a stored key; [`StoreError::KeyNotFound`] if the id is unknown.
    async fn replace_key(&self, record: &KeyRecord) -> Result<(), StoreError>;
    /// Deletes a key; returns whether it existed.
    async fn delete_key(&self, key_id: &str) -> Result<bool, StoreError>;
    /// All stored policies, in creation order.
    async fn load_policies(&self) -> Result<Vec<PolicyRecord>, StoreError>;
    /// Stores a policy, replacing one of the same name.
    async fn save_policy(&self, record: &PolicyRecord) -> Result<(), StoreError>;
    /// Deletes a policy; returns whether it existed.
    async fn delete_policy(&self, name: &str) -> Result<bool, StoreError>;
    /// Every caller's stored credential for per-user servers.
    async fn load_credentials(&self) -> Result<Vec<StoredCredential>, StoreError>;
    /// Stores `principal`'s credential for `server_id`, replacing any.
    async fn save_credential(&self, credential: &StoredCredential) -> Result<(), StoreError>;
    /// Deletes `principal`'s credential for `server_id`; returns whether it existed.
    async fn delete_credential(&self, server_id: &str, principal: &str)
    -> Result<bool, StoreError>;
    /// Every approved tool definition.
    async fn load_tool_approvals(&self) -> Result<Vec<ToolApproval>, StoreError>;
    /// Stores an approval, replacing the tool's previous one.
    async fn save_tool_approval(&self, approval: &ToolApproval) -> Result<(), StoreError>;
    /// Deletes every approval of a server (it was removed).
    async fn delete_tool_approvals(&self, server_id: &str) -> Result<(), StoreError>;
    /// Whether the store answers (for readiness).
    async fn ping(&self) -> Result<(), StoreError>;
    /// A description for logs, without credentials (e.g. `sqlite://mcp-gateway.db`).
    fn describe(&self) -> String;
}

/// Opens the store the settings ask for: memory unless `store_model_in_db`.
pub async fn open(settings: &crate::config::Settings) -> Result<Arc<dyn ServerStore>, StoreError> {
    if !settings.store_model_in_db {
        return Ok(Arc::new(MemoryStore::default()));
    }
    let store = SqlStore::connect(settings.database_url.expose())
        .await?
        .with_secret_key(settings.secret_key.clone());
    Ok(Arc::new(store))
}
