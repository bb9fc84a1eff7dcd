//! Configuration: the YAML file (`gateway:` and the seed's `mcp_servers:`), the environment
//! and command-line overrides, resolved into one [`Settings`].
//!
//! Precedence: command line, then environment, then file, then default.

pub mod env;
mod expand;
mod file;

use std::{net::SocketAddr, path::Path, time::Duration};

use crate::{model::ServerRecord, secret::Secret};

pub use env::{Env, MapEnv, ProcessEnv};
pub use expand::expand;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4000";
/// The default store location (embedded SQLite next to the working directory).
pub const DEFAULT_DATABASE_URL: &str = "sqlite://mcp-gateway.db";
/// The default request body limit for REST and MCP routes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The default limit on concurrent legacy SSE sessions (`GET /sse`).
pub const DEFAULT_MAX_SSE_SESSIONS: usize = 10_000;

/// A configuration problem. The binary reports it on one line and exits with code 64.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

impl ConfigError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything the gateway needs to start, fully resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// The admin key (`Authorization: Bearer <master_key>`); none means loopback only.
    pub master_key: Option<Secret>,
    /// `MCP_GATEWAY_ENABLED`: when false every `/mcp…` route answers 404.
    pub mcp_enabled: bool,
    /// `STORE_MODEL_IN_DB`: persist API registrations in `database_url`.
    pub store_model_in_db: bool,
    pub database_url: Secret,
    /// Allow `transport: stdio` registrations through the REST API.
    pub allow_stdio_registration: bool,
    /// Allow upstream URLs on link-local / cloud-metadata addresses.
    pub allow_link_local_upstreams: bool,
    pub max_body_bytes: usize,
    /// Separator between server id and name in exposed names (`<server_id>__<name>`).
    pub name_separator: String,
    /// Most session-based MCP sessions per endpoint; more get 503 `too_many_sessions`.
    pub max_sessions: usize,
    /// An MCP session idle this long is closed.
    pub session_ttl: Duration,
    /// What to do when servers offer items of the same name.
    pub name_policy: crate::registry::NamePolicy,
    /// Browser origins allowed to call the MCP endpoints (others get 403).
    pub allowed_origins: Vec<String>,
    /// Most concurrent legacy SSE sessions (`GET /sse`); beyond it `503 too_many_sessions`.
    pub max_sse_sessions: usize,
    /// How often each upstream's catalog is re-fetched even without `list_changed`.
    pub discovery_refresh: Duration,
    /// Servers from the `mcp_servers:` block, validated.
    pub servers: Vec<ServerRecord>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            master_key: None,
            mcp_enabled: true,
            store_model_in_db: false,
            database_url: Secret::new(DEFAULT_DATABASE_URL),
            allow_stdio_registration: false,
            allow_link_local_upstreams: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            name_separator: "__".into(),
            discovery_refresh: Duration::from_secs(300),
            name_policy: crate::registry::NamePolicy::default(),
            max_sessions: 10_000,
            session_ttl: Duration::from_secs(300),
            allowed_origins: crate::downstream::DEFAULT_ALLOWED_ORIGINS
                .iter()
                .map(|o| o.to_string())
                .collect(),
            max_sse_sessions: DEFAULT_MAX_SSE_SESSIONS,
            servers: Vec::new(),
        }
    }
}

/// Values given on the command line; they beat the environment and the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
}

impl Settings {
    /// Loads the file (if any), then applies the environment and the overrides.
    pub fn load(
        config: Option<&Path>,
        overrides: &Overrides,
        env: &dyn Env,
    ) -> Result<Self, ConfigError> {
        let mut settings = match config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                file::parse(&text, &path.display().to_string(), env)?
            }
            None => Settings::default(),
        };
        settings.apply_env(env)?;
        if let Some(listen) = &overrides.listen {
            settings.listen = parse_listen(listen, "--listen")?;
        }
        Ok(settings)
    }

    fn apply_env(&mut self, env: &dyn Env) -> Result<(), ConfigError> {
        if let Some(v) = env.var("MCP_GATEWAY_ENABLED") {
            self.mcp_enabled = parse_bool(&v, "MCP_GATEWAY_ENABLED")?;
        }
        if let Some(v) = env.var("STORE_MODEL_IN_DB") {
            self.store_model_in_db = parse_bool(&v, "STORE_MODEL_IN_DB")?;
        }
        if let Some(v) = env.var("DATABASE_URL").filter(|v| !v.is_empty()) {
            self.database_url = Secret::new(v);
        }
        if let Some(v) = env.var("MCP_GATEWAY_MASTER_KEY").filter(|v| !v.is_empty()) {
            self.master_key = Some(Secret::new(v));
        }
        if let Some(v) = env.var("MCP_GATEWAY_LISTEN").filter(|v| !v.is_empty()) {
            self.listen = parse_listen(&v, "MCP_GATEWAY_LISTEN")?;
        }
        Ok(())
    }

    /// The policy applied to registrations made through the REST API.
    pub fn api_policy(&self) -> crate::model::RegistrationPolicy {
        crate::model::RegistrationPolicy {
            allow_stdio: self.allow_stdio_registration,
            allow_link_local: self.allow_link_local_upstreams,
        }
    }
}

pub(crate) fn parse_bool(value: &str, field: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(ConfigError::invalid(
            field,
            format!("expected true or false, got {other:?}"),
        )),
    }
}

pub(crate) fn parse_listen(value: &str, field: &str) -> Result<SocketAddr, ConfigError> {
    value.trim().parse().map_err(|_| {
        ConfigError::invalid(
            field,
            format!("expected HOST:PORT such as 127.0.0.1:4000, got {value:?}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_beats_file_and_flags_beat_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(
            &path,
            "gateway:\n  listen: 127.0.0.1:5000\n  store_model_in_db: false\n",
        )
        .unwrap();
        let env = MapEnv::new([
            ("STORE_MODEL_IN_DB", "true"),
            ("MCP_GATEWAY_LISTEN", "127.0.0.1:6000"),
        ]);
        let s = Settings::load(Some(&path), &Overrides::default(), &env).unwrap();
        assert!(s.store_model_in_db);
        assert_eq!(s.listen.port(), 6000);
        let o = Overrides {
            listen: Some("127.0.0.1:7000".into()),
        };
        assert_eq!(
            Settings::load(Some(&path), &o, &env).unwrap().listen.port(),
            7000
        );
    }

    #[test]
    fn bad_env_values_name_the_variable() {
        let env = MapEnv::new([("MCP_GATEWAY_ENABLED", "maybe")]);
        let err = Settings::load(None, &Overrides::default(), &env).unwrap_err();
        assert!(err.to_string().contains("MCP_GATEWAY_ENABLED"), "{err}");
    }

    #[test]
    fn defaults() {
        let s = Settings::load(None, &Overrides::default(), &MapEnv::default()).unwrap();
        assert!(s.mcp_enabled);
        assert!(!s.store_model_in_db);
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.database_url.expose(), DEFAULT_DATABASE_URL);
    }
}
