//! The SQL store: SQLite (`sqlite://PATH`, `sqlite:PATH`, `sqlite::memory:`) or Postgres
//! (`postgres://…`, `postgresql://…`) through sqlx, with versioned migrations embedded at
//! compile time (`migrations/sqlite`, `migrations/postgres`) and run at connect.
//!
//! Design: an internal enum over the two native pools (`Backend`) rather than sqlx's
//! `Any` driver. Each query is one SQL string shared by both backends (`$n` placeholders,
//! which SQLite accepts as well) and run through `with_pool!`, so nothing is written
//! twice. The native pools buy what the trait promises and `Any` cannot express: `Any`
//! connects from a URL alone, and a SQLite URL cannot ask for WAL, `synchronous = FULL`,
//! `fullfsync` or a busy timeout; native pools also give a native migrator per backend (the
//! DDL differs: AUTOINCREMENT vs identity, TEXT vs TIMESTAMPTZ) and need no runtime driver
//! registry.
//!
//! Secrets at rest: with `MCP_GATEWAY_SECRET_KEY` set, every secret value of a record
//! (`auth_value`, `headers` and `env` values) is sealed with AES-256-GCM before the JSON is
//! written (`crate::secret::at_rest`), so the `record` column holds `enc:v1:…` in their
//! place; the schema is unchanged. Reading opens them again; plaintext values written
//! before a key was set still load and are sealed the next time their record is written.
//!
//! Durability: every write is a single autocommit statement, acknowledged only after the
//! database has committed it. SQLite runs in WAL mode with `synchronous = FULL`, so the WAL
//! is synced on every commit; Postgres keeps its default `synchronous_commit = on`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{ServerStore, StoreError, StoredCredential, ToolApproval};
use crate::{
    access::{keys::KeyRecord, policy::PolicyRecord},
    model::ServerRecord,
    secret::{
        Secret,
        at_rest::{self, SecretKey},
    },
};

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a SQLite writer waits for another connection's write lock.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// SQLite connections for a file database (WAL: readers do not block the one writer).
const SQLITE_MAX_CONNECTIONS: u32 = 4;
/// Postgres connections: registrations are rare, so a small pool is plenty.
const POSTGRES_MAX_CONNECTIONS: u32 = 5;
/// How long to wait for a connection (including establishing one) before failing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQL, shared by both backends.
mod query {
    pub const LOAD_ALL: &str = "SELECT server_id, record FROM mcp_servers ORDER BY seq";
    /// A conflict inserts nothing (0 rows affected): a duplicate is detected without an
    /// error, so Postgres does not log one for every rejected registration.
    pub const INSERT: &str = "INSERT INTO mcp_servers (server_id, record) VALUES ($1, $2) \
                              ON CONFLICT (server_id) DO NOTHING";
    pub const REPLACE: &str = "UPDATE mcp_servers SET record = $2, updated_at = CURRENT_TIMESTAMP \
                               WHERE server_id = $1";
    pub const DELETE: &str = "DELETE FROM mcp_servers WHERE server_id = $1";
    pub const PING: &str = "SELECT 1";
    pub const LOAD_KEYS: &str = "SELECT key_id, record FROM mcp_keys ORDER BY seq";
    pub const INSERT_KEY: &str = "INSERT INTO mcp_keys (key_id, key_hash, record) VALUES ($1, $2, $3) \
                                  ON CONFLICT DO NOTHING";
    pub const REPLACE_KEY: &str = "UPDATE mcp_keys SET record = $2, updated_at = CURRENT_TIMESTAMP \
                                   WHERE key_id = $1";
    pub const DELETE_KEY: &str = "DELETE FROM mcp_keys WHERE key_id = $1";
    pub const LOAD_POLICIES: &str = "SELECT name, record FROM mcp_policies ORDER BY seq";
    pub const SAVE_POLICY: &str = "INSERT INTO mcp_policies (name, record) VALUES ($1, $2) \
                                   ON CONFLICT (name) DO UPDATE SET record = excluded.record, \
                                   updated_at = CURRENT_TIMESTAMP";
    pub const DELETE_POLICY: &str = "DELETE FROM mcp_policies WHERE name = $1";
    pub const LOAD_CREDENTIALS: &str = "SELECT server_id, principal, value FROM mcp_credentials";
    pub const SAVE_CREDENTIAL: &str = "INSERT INTO mcp_credentials (server_id, principal, value) \
                                       VALUES ($1, $2, $3) ON CONFLICT (server_id, principal) \
                                       DO UPDATE SET value = excluded.value, \
                                       updated_at = CURRENT_TIMESTAMP";
    pub const DELETE_CREDENTIAL: &str =
        "DELETE FROM mcp_credentials WHERE server_id = $1 AND principal = $2";
    pub const LOAD_TOOL_APPROVALS: &str =
        "SELECT server_id, tool, fingerprint FROM mcp_tool_approvals";
    pub const SAVE_TOOL_APPROVAL: &str = "INSERT INTO mcp_tool_approvals \
                                          (server_id, tool, fingerprint) VALUES ($1, $2, $3) \
                                          ON CONFLICT (server_id, tool) DO UPDATE SET \
                                          fingerprint = excluded.fingerprint, \
                                          approved_at = CURRENT_TIMESTAMP";
    pub const DELETE_TOOL_APPROVALS: &str = "DELETE FROM mcp_tool_approvals WHERE server_id = $1";
}

/// The store of API-registered servers in SQLite or Postgres.
pub struct SqlStore {
    backend: Backend,
    /// The URL without credentials, for logs.
    description: String,
    /// Seals secrets on write and opens them on read (`MCP_GATEWAY_SECRET_KEY`).
    key: Option<SecretKey>,
}

enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same expression against whichever pool the store has; `$pool` is bound to a
/// `&SqlitePool` or a `&PgPool`, so the expression is type-checked once per backend.
macro_rules! with_pool {
    ($backend:expr, |$pool:ident| $body:expr) => {
        match $backend {
            Backend::Sqlite($pool) => $body,
            Backend::Postgres($pool) => $body,
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Sqlite,
    Postgres,
}

impl SqlStore {
    /// Connects, creating a missing SQLite file, and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let description = redact(url);
        let backend = match scheme(url) {
            Some(Scheme::Sqlite) => {
                let (options, in_memory) = sqlite_options(url)?;
                let pool = if in_memory {
                    // Every connection to `sqlite::memory:` shares one database only while
                    // one connection stays open: keep exactly one, forever.
                    SqlitePoolOptions::new()
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None)
                } else {
                    SqlitePoolOptions::new().max_connections(SQLITE_MAX_CONNECTIONS)
                };
                let pool = pool
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect_with(options)
                    .await?;
                SQLITE_MIGRATOR.run(&pool).await?;
                Backend::Sqlite(pool)
            }
            Some(Scheme::Postgres) => {
                let mut options = PgConnectOptions::from_str(url)?;
                if options.get_application_name().is_none() {
                    options = options.application_name("mcp-gateway");
                }
                let pool = PgPoolOptions::new()
                    .max_connections(POSTGRES_MAX_CONNECTIONS)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect_with(options)
                    .await?;
                // sqlx serialises concurrent migrators with an advisory lock.
                POSTGRES_MIGRATOR.run(&pool).await?;
                Backend::Postgres(pool)
            }
            None => return Err(StoreError::UnsupportedUrl(description)),
        };
        Ok(Self {
            backend,
            description,
            key: None,
        })
    }

    /// Encrypts secrets written from now on with `key`, and opens encrypted ones on read.
    pub fn with_secret_key(mut self, key: Option<SecretKey>) -> Self {
        self.key = key;
        self
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        with_pool!(&self.backend, |pool| pool.close().await)
    }
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("url", &self.description)
            .finish()
    }
}

#[async_trait::async_trait]
impl ServerStore for SqlStore {
    async fn load_all(&self) -> Result<Vec<ServerRecord>, StoreError> {
        let rows: Vec<(String, String)> = with_pool!(&self.backend, |pool| {
            sqlx::query_as(query::LOAD_ALL).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(id, json)| open_secrets(decode(id, &json)?, self.key.as_ref()))
            .collect()
    }

    async fn insert(&self, record: &ServerRecord) -> Result<(), StoreError> {
        let json = encode(&seal_secrets(record, self.key.as_ref()))?;
        let inserted = with_pool!(&self.backend, |pool| {
            sqlx::query(query::INSERT)
                .bind(&record.server_id)
                .bind(&json)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        });
        match inserted {
            Ok(0) => Err(StoreError::Duplicate(record.server_id.clone())),
            Ok(_) => Ok(()),
            // Not reachable through ON CONFLICT today; kept so that a conflict is never
            // reported as a generic database failure.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::Duplicate(record.server_id.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn replace(&self, record: &ServerRecord) -> Result<(), StoreError> {
        let json = encode(&seal_secrets(record, self.key.as_ref()))?;
        let updated = with_pool!(&self.backend, |pool| {
            sqlx::query(query::REPLACE)
                .bind(&record.server_id)
                .bind(&json)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if updated == 0 {
            return Err(StoreError::NotFound(record.server_id.clone()));
        }
        Ok(())
    }

    async fn delete(&self, server_id: &str) -> Result<bool, StoreError> {
        let deleted = with_pool!(&self.backend, |pool| {
            sqlx::query(query::DELETE)
                .bind(server_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted > 0)
    }

    async fn load_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let rows: Vec<(String, String)> = with_pool!(&self.backend, |pool| {
            sqlx::query_as(query::LOAD_KEYS).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(key_id, json)| {
                serde_json::from_str::<KeyRecord>(&json)
                    .ok()
                    .filter(|record| record.key_id == key_id)
                    .ok_or_else(|| StoreError::CorruptKey {
                        message: "the stored JSON is not its key record".to_owned(),
                        key_id,
                    })
            })
            .collect()
    }

    async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let json = encode_key(record)?;
        let inserted = with_pool!(&self.backend, |pool| {
            sqlx::query(query::INSERT_KEY)
                .bind(&record.key_id)
                .bind(&record.key_hash)
                .bind(&json)
                .execute(pool)
                .await?
                .rows_affected()
        });
        match inserted {
            0 => Err(StoreError::DuplicateKey(record.key_id.clone())),
            _ => Ok(()),
        }
    }

    async fn replace_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let json = encode_key(record)?;
        let updated = with_pool!(&self.backend, |pool| {
            sqlx::query(query::REPLACE_KEY)
                .bind(&record.key_id)
                .bind(&json)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if updated == 0 {
            return Err(StoreError::KeyNotFound(record.key_id.clone()));
        }
        Ok(())
    }

    async fn delete_key(&self, key_id: &str) -> Result<bool, StoreError> {
        let deleted = with_pool!(&self.backend, |pool| {
            sqlx::query(query::DELETE_KEY)
                .bind(key_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted > 0)
    }

    async fn load_policies(&self) -> Result<Vec<PolicyRecord>, StoreError> {
        let rows: Vec<(String, String)> = with_pool!(&self.backend, |pool| {
            sqlx::query_as(query::LOAD_POLICIES).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(name, json)| {
                serde_json::from_str::<PolicyRecord>(&json)
                    .ok()
                    .filter(|record| record.name == name)
                    .ok_or_else(|| StoreError::CorruptPolicy {
                        message: "the stored JSON is not its policy record".to_owned(),
                        name,
                    })
            })
            .collect()
    }

    async fn save_policy(&self, record: &PolicyRecord) -> Result<(), StoreError> {
        let json = serde_json::to_string(record).map_err(|e| StoreError::CorruptPolicy {
            name: record.name.clone(),
            message: format!("cannot be encoded as JSON: {e}"),
        })?;
        with_pool!(&self.backend, |pool| {
            sqlx::query(query::SAVE_POLICY)
                .bind(&record.name)
                .bind(&json)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    async fn delete_policy(&self, name: &str) -> Result<bool, StoreError> {
        let deleted = with_pool!(&self.backend, |pool| {
            sqlx::query(query::DELETE_POLICY)
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted > 0)
    }

    async fn load_credentials(&self) -> Result<Vec<StoredCredential>, StoreError> {
        let rows: Vec<(String, String, String)> = with_pool!(&self.backend, |pool| {
            sqlx::query_as(query::LOAD_CREDENTIALS)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|(server_id, principal, value)| {
                let value = at_rest::open(&value, self.key.as_ref()).map_err(|error| {
                    StoreError::Secret {
                        field: format!("credential of {principal}"),
                        server_id: server_id.clone(),
                        error,
                    }
                })?;
                Ok(StoredCredential {
                    server_id,
                    principal,
                    value: Secret::new(value),
                })
            })
            .collect()
    }

    async fn save_credential(&self, credential: &StoredCredential) -> Result<(), StoreError> {
        let value = match &self.key {
            Some(key) => key.seal(credential.value.expose()),
            None => credential.value.expose().to_owned(),
        };
        with_pool!(&self.backend, |pool| {
            sqlx::query(query::SAVE_CREDENTIAL)
                .bind(&credential.server_id)
                .bind(&credential.principal)
                .bind(&value)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    async fn delete_credential(
        &self,
        server_id: &str,
        principal: &str,
    ) -> Result<bool, StoreError> {
        let deleted = with_pool!(&self.backend, |pool| {
            sqlx::query(query::DELETE_CREDENTIAL)
                .bind(server_id)
                .bind(principal)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted > 0)
    }

    async fn load_tool_approvals(&self) -> Result<Vec<ToolApproval>, StoreError> {
        let rows: Vec<(String, String, String)> = with_pool!(&self.backend, |pool| {
            sqlx::query_as(query::LOAD_TOOL_APPROVALS)
                .fetch_all(pool)
                .await?
        });
        let approval = |(server_id, tool, fingerprint)| ToolApproval {
            server_id,
            tool,
            fingerprint,
        };
        Ok(rows.into_iter().map(approval).collect())
    }

    async fn save_tool_approval(&self, approval: &ToolApproval) -> Result<(), StoreError> {
        with_pool!(&self.backend, |pool| {
            sqlx::query(query::SAVE_TOOL_APPROVAL)
                .bind(&approval.server_id)
                .bind(&approval.tool)
                .bind(&approval.fingerprint)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    async fn delete_tool_approvals(&self, server_id: &str) -> Result<(), StoreError> {
        with_pool!(&self.backend, |pool| {
            sqlx::query(query::DELETE_TOOL_APPROVALS)
                .bind(server_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(&self.backend, |pool| {
            sqlx::query(query::PING).execute(pool).await?;
        });
        Ok(())
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// The backend a URL names, by its scheme (case-insensitive).
fn scheme(url: &str) -> Option<Scheme> {
    let (scheme, _) = url.split_once(':')?;
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => Some(Scheme::Sqlite),
        "postgres" | "postgresql" => Some(Scheme::Postgres),
        _ => None,
    }
}

/// The SQLite options for `sqlite://PATH`, `sqlite:PATH` or `sqlite::memory:` (a relative
/// PATH is relative to the working directory), and whether the database is in memory.
/// A URL that names no database (`sqlite://`) is unsupported.
fn sqlite_options(url: &str) -> Result<(SqliteConnectOptions, bool), StoreError> {
    let rest = url.split_once(':').map_or("", |(_, rest)| rest);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() {
        return Err(StoreError::UnsupportedUrl(redact(url)));
    }
    let in_memory = path == ":memory:";
    // sqlx strips one `sqlite://` and parses the query parameters (`mode`, `vfs`, …).
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{rest}"))?;
    let options = options.foreign_keys(true).busy_timeout(SQLITE_BUSY_TIMEOUT);
    let options = if in_memory {
        options
    } else {
        options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL syncs the WAL at every commit: an acknowledged write survives power loss.
            .synchronous(SqliteSynchronous::Full)
            // On macOS `fsync` does not flush the drive's cache; F_FULLFSYNC does. A no-op
            // elsewhere.
            .pragma("fullfsync", "ON")
    };
    Ok((options, in_memory))
}

/// Every secret value of a record with its field path (`auth_value`, `headers.X`, `env.Y`).
fn secrets_mut(record: &mut ServerRecord) -> impl Iterator<Item = (String, &mut Secret)> {
    let auth = record
        .auth_value
        .as_mut()
        .map(|s| ("auth_value".to_owned(), s));
    let headers = record
        .headers
        .iter_mut()
        .map(|(k, v)| (format!("headers.{k}"), v));
    let env = record.env.iter_mut().map(|(k, v)| (format!("env.{k}"), v));
    let exchange = record
        .token_exchange
        .as_mut()
        .and_then(|t| t.client_secret.as_mut())
        .map(|s| ("token_exchange.client_secret".to_owned(), s));
    auth.into_iter().chain(headers).chain(env).chain(exchange)
}

/// The record as stored: with a key, every secret value sealed.
fn seal_secrets<'a>(
    record: &'a ServerRecord,
    key: Option<&SecretKey>,
) -> std::borrow::Cow<'a, ServerRecord> {
    let Some(key) = key else {
        return std::borrow::Cow::Borrowed(record);
    };
    let mut sealed = record.clone();
    for (_, secret) in secrets_mut(&mut sealed) {
        *secret = Secret::new(key.seal(secret.expose()));
    }
    std::borrow::Cow::Owned(sealed)
}

/// The record as loaded: sealed values opened, plaintext ones kept. A sealed value without
/// the key, or with another key, is an error naming the server and the field.
fn open_secrets(
    mut record: ServerRecord,
    key: Option<&SecretKey>,
) -> Result<ServerRecord, StoreError> {
    let server_id = record.server_id.clone();
    for (field, secret) in secrets_mut(&mut record) {
        match at_rest::open(secret.expose(), key) {
            Ok(plain) => *secret = Secret::new(plain),
            Err(error) => {
                return Err(StoreError::Secret {
                    server_id,
                    field,
                    error,
                });
            }
        }
    }
    Ok(record)
}

fn encode(record: &ServerRecord) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Corrupt {
        server_id: record.server_id.clone(),
        message: format!("cannot be encoded as JSON: {e}"),
    })
}

fn encode_key(record: &KeyRecord) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::CorruptKey {
        key_id: record.key_id.clone(),
        message: format!("cannot be encoded as JSON: {e}"),
    })
}

/// Parses a stored row. The error message says where the JSON is wrong but never quotes
/// its values: a damaged row may hold secrets, and this message goes to logs.
fn decode(server_id: String, json: &str) -> Result<ServerRecord, StoreError> {
    let corrupt = |problem: String, e: &serde_json::Error| StoreError::Corrupt {
        server_id: server_id.clone(),
        message: format!(
            "the stored JSON {problem} (line {}, column {})",
            e.line(),
            e.column()
        ),
    };
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let record: ServerRecord = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(record) => record,
        Err(e) => {
            let path = e.path().to_string();
            let e = e.into_inner();
            let problem = match e.classify() {
                serde_json::error::Category::Data => {
                    format!("does not match the server record at `{path}`")
                }
                _ => "is not valid JSON".to_owned(),
            };
            return Err(corrupt(problem, &e));
        }
    };
    if let Err(e) = deserializer.end() {
        return Err(corrupt("is not valid JSON".to_owned(), &e));
    }
    if record.server_id != server_id {
        return Err(StoreError::Corrupt {
            message: format!("the stored JSON is for server {:?}", record.server_id),
            server_id,
        });
    }
    Ok(record)
}

/// The URL with any password replaced by `***` (userinfo and `password`-like query
/// parameters), for logs and error messages.
fn redact(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        // Unparseable: keep the scheme and what follows the last `@`, if any.
        return match (url.split_once(':'), url.rfind('@')) {
            (Some((scheme, _)), Some(at)) => format!("{scheme}://***@{}", &url[at + 1..]),
            _ => url.to_owned(),
        };
    };
    let is_secret = |key: &str| key.to_ascii_lowercase().contains("password");
    let secret_query = parsed.query_pairs().any(|(k, _)| is_secret(&k));
    if parsed.password().is_none() && !secret_query {
        // Nothing to hide: keep the URL exactly as written (`sqlite::memory:` and friends
        // would not survive a round trip through `Url` unchanged).
        return url.to_owned();
    }
    if parsed.password().is_some() {
        // Cannot fail: the URL has a password, hence a host.
        let _ = parsed.set_password(Some("***"));
    }
    if secret_query {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret(&k) {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(
            redact("postgres://user:hunter2@db.example/app"),
            "postgres://user:***@db.example/app"
        );
        assert_eq!(
            redact("postgresql://user:p%40ss@db:5433/app?sslmode=require"),
            "postgresql://user:***@db:5433/app?sslmode=require"
        );
        let r = redact("postgres://user@db/app?password=hunter2&sslpassword=x&sslmode=disable");
        assert!(
            !r.contains("hunter2") && r.contains("sslmode=disable"),
            "{r}"
        );
        assert_eq!(redact("postgres://user@db/app"), "postgres://user@db/app");
        assert_eq!(redact("sqlite://mcp-gateway.db"), "sqlite://mcp-gateway.db");
        assert_eq!(redact("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(redact("mysql://root:hunter2@[bad"), "mysql://***@[bad");
        assert!(!redact("mysql://root:hunter2@host/db").contains("hunter2"));
    }

    #[test]
    fn schemes() {
        assert_eq!(scheme("sqlite://x.db"), Some(Scheme::Sqlite));
        assert_eq!(scheme("SQLite:x.db"), Some(Scheme::Sqlite));
        assert_eq!(scheme("postgres://h/db"), Some(Scheme::Postgres));
        assert_eq!(scheme("postgresql://h/db"), Some(Scheme::Postgres));
        assert_eq!(scheme("sqlitex://x.db"), None);
        assert_eq!(scheme("mysql://h/db"), None);
        assert_eq!(scheme("mcp-gateway.db"), None);
        assert_eq!(scheme(""), None);
    }

    #[test]
    fn sqlite_paths() {
        let file = |url: &str| {
            let (options, in_memory) = sqlite_options(url).unwrap();
            assert!(!in_memory);
            options.get_filename().to_string_lossy().into_owned()
        };
        assert_eq!(file("sqlite://mcp-gateway.db"), "mcp-gateway.db");
        assert_eq!(file("sqlite:data/mcp-gateway.db"), "data/mcp-gateway.db");
        assert_eq!(file("sqlite:///var/lib/gw.db"), "/var/lib/gw.db");
        assert_eq!(file("sqlite:///var/lib/gw.db?mode=rwc"), "/var/lib/gw.db");
        assert!(sqlite_options("sqlite::memory:").unwrap().1);
        for url in ["sqlite://", "sqlite:", "sqlite://?mode=rwc"] {
            let err = sqlite_options(url).unwrap_err();
            assert!(
                matches!(err, StoreError::UnsupportedUrl(_)),
                "{url}: {err:?}"
            );
        }
        let err = sqlite_options("sqlite://x.db?bogus=1").unwrap_err();
        assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    }

    #[test]
    fn decode_reports_without_quoting_values() {
        let err = decode("a".into(), r#"{"server_id":"a","auth_value":42}"#).unwrap_err();
        let StoreError::Corrupt { server_id, message } = err else {
            panic!("{err:?}")
        };
        assert_eq!(server_id, "a");
        assert!(message.contains("auth_value"), "{message}");
        assert!(!message.contains("42"), "{message}");

        let err = decode("a".into(), "{not json").unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { ref server_id, .. } if server_id == "a"),
            "{err:?}"
        );

        let err = decode("a".into(), r#"{"server_id":"b"}"#).unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { ref server_id, .. } if server_id == "a"),
            "{err:?}"
        );

        let err = decode("a".into(), r#"{"server_id":"a"} trailing"#).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");

        assert_eq!(
            decode("a".into(), r#"{"server_id":"a"}"#)
                .unwrap()
                .server_id,
            "a"
        );
    }

    #[tokio::test]
    async fn sqlite_file_connections_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("gw.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        let Backend::Sqlite(pool) = &store.backend else {
            unreachable!()
        };
        // Check every connection the pool may hand out, not just the first.
        let mut conns = Vec::new();
        for _ in 0..SQLITE_MAX_CONNECTIONS {
            conns.push(pool.acquire().await.unwrap());
        }
        for conn in &mut conns {
            let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            let (sync,): (i64,) = sqlx::query_as("PRAGMA synchronous")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(sync, 2, "synchronous = FULL");
            let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(fk, 1);
            let (busy,): (i64,) = sqlx::query_as("PRAGMA busy_timeout")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(busy, SQLITE_BUSY_TIMEOUT.as_millis() as i64);
        }
        drop(conns);
        store.close().await;
    }

    #[tokio::test]
    async fn sqlite_memory_keeps_data_across_calls() {
        let store = SqlStore::connect("sqlite::memory:").await.unwrap();
        let record: ServerRecord = serde_json::from_str(r#"{"server_id":"m"}"#).unwrap();
        store.insert(&record).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(store.load_all().await.unwrap(), vec![record]);
        assert_eq!(store.describe(), "sqlite::memory:");
    }
}
