//! Configuration: the YAML file (`gateway:` and the seed's `mcp_servers:`), the environment
//! and command-line overrides, resolved into one [`Settings`].
//!
//! Precedence: command line, then environment, then file, then default.

pub mod env;
mod expand;
pub(crate) mod file;

use std::{net::SocketAddr, path::Path, time::Duration};

use ipnet::IpNet;

use crate::{
    front::host_origin::{DEFAULT_ALLOWED_ORIGINS, HostPattern, OriginPattern},
    model::ServerRecord,
    secret::{Secret, at_rest::SecretKey},
};

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
/// Processes of their own per stdio server for clients that can be asked something.
pub const DEFAULT_MAX_CLIENT_PROCESSES_PER_SERVER: usize = 32;
/// The default time a client has to send a whole request body.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// `gateway.upstream_handshake_timeout_secs`: `npx` fetching a package on a first start
/// takes tens of seconds.
pub const DEFAULT_UPSTREAM_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// `gateway.startup_wait_secs`.
pub const DEFAULT_STARTUP_WAIT: Duration = Duration::from_secs(30);

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
    /// Most processes of their own that clients able to be asked something (sampling,
    /// elicitation, roots, a log level) may hold with one stdio server. (Their sessions of
    /// their own with HTTP and SSE servers are bounded by `max_sessions`: one per server
    /// per downstream session.)
    pub max_client_processes_per_server: usize,
    /// What to do when servers offer items of the same name.
    pub name_policy: crate::registry::NamePolicy,
    /// Browser origins allowed to call the gateway: a request whose `Origin` is not one of
    /// them gets 403 on every route but `/health/*`.
    pub allowed_origins: Vec<String>,
    /// `gateway.allowed_hosts`: the names a request's `Host` may give (others get 403 on
    /// every route but `/health/*`). `None`: loopback names without a master key, any name
    /// with one (`front::host_origin`).
    pub allowed_hosts: Option<Vec<HostPattern>>,
    /// Most concurrent legacy SSE sessions (`GET /sse`); beyond it `503 too_many_sessions`.
    pub max_sse_sessions: usize,
    /// How often each upstream's catalog is re-fetched even without `list_changed`.
    pub discovery_refresh: Duration,
    /// How long an upstream's handshake may take (a stdio server started through `npx`
    /// or `uvx` may first download its package).
    pub upstream_handshake_timeout: Duration,
    /// How long requests that list or use the catalog wait, at start-up, for the servers of
    /// the config file to connect (or fail) once; `ZERO`: they do not wait.
    pub startup_wait: Duration,
    /// `MCP_GATEWAY_SECRET_KEY`: encrypts secrets stored in the database.
    pub secret_key: Option<SecretKey>,
    /// API-registered upstream URLs must resolve into one of these ranges (empty: any).
    pub upstream_allow_cidrs: Vec<IpNet>,
    /// API-registered upstream URLs may not resolve into any of these ranges.
    pub upstream_deny_cidrs: Vec<IpNet>,
    /// Commands an API-registered stdio server may run (empty: any, when stdio
    /// registration is enabled at all).
    pub stdio_allowed_commands: Vec<String>,
    /// How long a client has to send a request body, on every route.
    pub request_timeout: Duration,
    /// Threads of the async runtime that serves everything; `None`: one per CPU.
    pub worker_threads: Option<usize>,
    /// Servers from the `mcp_servers:` block, validated.
    pub servers: Vec<ServerRecord>,
    /// API keys from the `keys:` block (hashed; the values are not kept).
    pub keys: Vec<crate::access::keys::KeyRecord>,
    /// `gateway.public_url`: the URL clients reach the gateway at (behind a proxy, say),
    /// the base of its canonical URIs (OAuth resource metadata, token audiences). `None`:
    /// `http://<Host>` of each request.
    pub public_url: Option<url::Url>,
    /// `gateway.audit_calls`: which MCP calls to upstreams the audit log records.
    pub audit_calls: crate::access::AuditCalls,
    /// `gateway.audit_call_arguments`: record the arguments of audited calls too.
    pub audit_call_arguments: bool,
    /// The `policies:` block (the table the stored policies join at start).
    pub policies: std::sync::Arc<crate::access::policy::PolicyTable>,
    /// `gateway.auth.jwt`: JWT bearer tokens of an identity provider, accepted.
    pub jwt: Option<std::sync::Arc<crate::access::jwt::JwtAuth>>,
    /// `gateway.metrics`: the per-call meters, and who may scrape `/metrics`.
    pub metrics: MetricsSettings,
    /// `gateway.tool_changes` (`MCP_GATEWAY_TOOL_CHANGES`): what a changed or new tool
    /// meets, unless its server says otherwise.
    pub tool_changes: crate::model::ToolChanges,
}

/// `gateway.metrics`.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    /// `enabled` (`MCP_GATEWAY_METRICS`): count and time every routed call. Off, the
    /// calls' meters stay at zero; `/metrics` still shows the rest.
    pub enabled: bool,
    /// `scrape_token` (`MCP_GATEWAY_METRICS_TOKEN`): a bearer token that may read
    /// `/metrics` (and nothing else) on a gateway with a master key.
    pub scrape_token: Option<Secret>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            scrape_token: None,
        }
    }
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
            upstream_handshake_timeout: DEFAULT_UPSTREAM_HANDSHAKE_TIMEOUT,
            startup_wait: DEFAULT_STARTUP_WAIT,
            name_policy: crate::registry::NamePolicy::default(),
            max_sessions: 10_000,
            session_ttl: Duration::from_secs(300),
            max_client_processes_per_server: DEFAULT_MAX_CLIENT_PROCESSES_PER_SERVER,
            allowed_origins: DEFAULT_ALLOWED_ORIGINS
                .iter()
                .map(|o| o.to_string())
                .collect(),
            allowed_hosts: None,
            max_sse_sessions: DEFAULT_MAX_SSE_SESSIONS,
            secret_key: None,
            upstream_allow_cidrs: Vec::new(),
            upstream_deny_cidrs: Vec::new(),
            stdio_allowed_commands: Vec::new(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            worker_threads: None,
            servers: Vec::new(),
            keys: Vec::new(),
            public_url: None,
            audit_calls: Default::default(),
            audit_call_arguments: false,
            policies: Default::default(),
            jwt: None,
            metrics: MetricsSettings::default(),
            tool_changes: Default::default(),
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
        if let Some(v) = env
            .var("MCP_GATEWAY_TOOL_CHANGES")
            .filter(|v| !v.is_empty())
        {
            self.tool_changes = parse_tool_changes(&v, "MCP_GATEWAY_TOOL_CHANGES")?;
        }
        if let Some(v) = env.var("MCP_GATEWAY_METRICS") {
            self.metrics.enabled = parse_bool(&v, "MCP_GATEWAY_METRICS")?;
        }
        if let Some(v) = env
            .var("MCP_GATEWAY_METRICS_TOKEN")
            .filter(|v| !v.is_empty())
        {
            self.metrics.scrape_token = Some(check_scrape_token(v, "MCP_GATEWAY_METRICS_TOKEN")?);
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
        if let Some(v) = env.var("MCP_GATEWAY_SECRET_KEY") {
            self.secret_key = SecretKey::parse(&v);
        }
        if let Some(v) = env.var("MCP_GATEWAY_UPSTREAM_ALLOW_CIDRS") {
            self.upstream_allow_cidrs =
                parse_cidrs(&split_list(&v), "MCP_GATEWAY_UPSTREAM_ALLOW_CIDRS")?;
        }
        if let Some(v) = env.var("MCP_GATEWAY_UPSTREAM_DENY_CIDRS") {
            self.upstream_deny_cidrs =
                parse_cidrs(&split_list(&v), "MCP_GATEWAY_UPSTREAM_DENY_CIDRS")?;
        }
        if let Some(v) = env
            .var("MCP_GATEWAY_WORKER_THREADS")
            .filter(|v| !v.is_empty())
        {
            let threads = v.trim().parse().map_err(|_| {
                ConfigError::invalid(
                    "MCP_GATEWAY_WORKER_THREADS",
                    format!("{v:?} is not a number"),
                )
            })?;
            self.worker_threads =
                Some(check_worker_threads(threads, "MCP_GATEWAY_WORKER_THREADS")?);
        }
        if let Some(v) = env.var("MCP_GATEWAY_ALLOWED_HOSTS") {
            // An empty value clears the file's list: the default applies.
            let hosts = split_list(&v);
            self.allowed_hosts = if hosts.is_empty() {
                None
            } else {
                Some(parse_hosts(&hosts, "MCP_GATEWAY_ALLOWED_HOSTS")?)
            };
        }
        if let Some(v) = env.var("MCP_GATEWAY_STDIO_ALLOWED_COMMANDS") {
            self.stdio_allowed_commands =
                parse_commands(split_list(&v), "MCP_GATEWAY_STDIO_ALLOWED_COMMANDS")?;
        }
        Ok(())
    }

    /// The policy applied to registrations made through the REST API.
    pub fn api_policy(&self) -> crate::model::RegistrationPolicy<'_> {
        crate::model::RegistrationPolicy {
            allow_stdio: self.allow_stdio_registration,
            allow_link_local: self.allow_link_local_upstreams,
            upstream_allow: &self.upstream_allow_cidrs,
            upstream_deny: &self.upstream_deny_cidrs,
            stdio_allowed_commands: &self.stdio_allowed_commands,
        }
    }
}

/// The items of a comma-separated environment list, trimmed, empty ones dropped.
fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses CIDR ranges (`10.0.0.0/8`, `fd00::/8`); a bare address is a single-host range.
/// Errors name the list and the item's position.
pub(crate) fn parse_cidrs(items: &[String], field: &str) -> Result<Vec<IpNet>, ConfigError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let item = item.trim();
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| {
                    ConfigError::invalid(
                        format!("{field}[{i}]"),
                        format!("{item:?} is not a CIDR range such as 10.0.0.0/8 or fd00::/8"),
                    )
                })
        })
        .collect()
}

/// Parses `allowed_hosts` entries (`name`, `name:port`, `name:*`, `[v6]:port`); errors
/// name the list and the item's position. An empty list is refused: it would refuse every
/// request.
pub(crate) fn parse_hosts(items: &[String], field: &str) -> Result<Vec<HostPattern>, ConfigError> {
    if items.is_empty() {
        return Err(ConfigError::invalid(
            field,
            "must name at least one host; leave it out for the default (loopback names \
             without a master key, any host with one)",
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            HostPattern::parse(item)
                .map_err(|message| ConfigError::invalid(format!("{field}[{i}]"), message))
        })
        .collect()
}

/// Checks `allowed_origins` entries (`scheme://host:port`, `scheme://host:*`, `null`);
/// errors name the list and the item's position.
pub(crate) fn check_origins(items: &[String], field: &str) -> Result<(), ConfigError> {
    for (i, item) in items.iter().enumerate() {
        OriginPattern::parse(item)
            .map_err(|message| ConfigError::invalid(format!("{field}[{i}]"), message))?;
    }
    Ok(())
}

/// Checks a stdio command allowlist: no empty entries.
pub(crate) fn parse_commands(items: Vec<String>, field: &str) -> Result<Vec<String>, ConfigError> {
    if let Some(i) = items.iter().position(|c| c.trim().is_empty()) {
        return Err(ConfigError::invalid(
            format!("{field}[{i}]"),
            "must not be empty",
        ));
    }
    Ok(items)
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

pub(crate) fn parse_tool_changes(
    value: &str,
    field: &str,
) -> Result<crate::model::ToolChanges, ConfigError> {
    use crate::model::ToolChanges;
    match value.trim().to_ascii_lowercase().as_str() {
        "allow" => Ok(ToolChanges::Allow),
        "warn" => Ok(ToolChanges::Warn),
        "hold" => Ok(ToolChanges::Hold),
        other => Err(ConfigError::invalid(
            field,
            format!("expected allow, warn or hold, got {other:?}"),
        )),
    }
}

/// The shortest scrape token accepted: it is a bearer credential.
const MIN_SCRAPE_TOKEN_CHARS: usize = 16;

pub(crate) fn check_scrape_token(token: String, field: &str) -> Result<Secret, ConfigError> {
    if token.chars().count() < MIN_SCRAPE_TOKEN_CHARS {
        return Err(ConfigError::invalid(
            field,
            format!("must be at least {MIN_SCRAPE_TOKEN_CHARS} characters"),
        ));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::invalid(field, "must not contain spaces"));
    }
    Ok(Secret::new(token))
}

pub(crate) fn parse_listen(value: &str, field: &str) -> Result<SocketAddr, ConfigError> {
    value.trim().parse().map_err(|_| {
        ConfigError::invalid(
            field,
            format!("expected HOST:PORT such as 127.0.0.1:4000, got {value:?}"),
        )
    })
}

/// Most runtime threads the gateway accepts: far beyond any machine it would help on.
const MAX_WORKER_THREADS: usize = 1024;

pub(crate) fn check_worker_threads(threads: usize, field: &str) -> Result<usize, ConfigError> {
    if (1..=MAX_WORKER_THREADS).contains(&threads) {
        Ok(threads)
    } else {
        Err(ConfigError::invalid(
            field,
            format!("must be between 1 and {MAX_WORKER_THREADS}, got {threads}"),
        ))
    }
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
    fn worker_threads_from_the_environment() {
        let load = |v: &str| {
            let env = MapEnv::new([("MCP_GATEWAY_WORKER_THREADS", v)]);
            Settings::load(None, &Overrides::default(), &env)
        };
        assert_eq!(load("3").unwrap().worker_threads, Some(3));
        assert_eq!(load("").unwrap().worker_threads, None);
        for bad in ["0", "two", "-1"] {
            let err = load(bad).unwrap_err().to_string();
            assert!(err.contains("MCP_GATEWAY_WORKER_THREADS"), "{bad}: {err}");
        }
    }

    #[test]
    fn security_lists_from_the_environment() {
        let env = MapEnv::new([
            (
                "MCP_GATEWAY_UPSTREAM_ALLOW_CIDRS",
                "10.0.0.0/8, 192.168.1.7 ,fd00::/8",
            ),
            ("MCP_GATEWAY_UPSTREAM_DENY_CIDRS", "10.9.0.0/16"),
            ("MCP_GATEWAY_STDIO_ALLOWED_COMMANDS", "npx,/usr/bin/uvx"),
            ("MCP_GATEWAY_SECRET_KEY", "a passphrase"),
        ]);
        let s = Settings::load(None, &Overrides::default(), &env).unwrap();
        let allow: Vec<String> = s
            .upstream_allow_cidrs
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(allow, ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]);
        assert_eq!(s.upstream_deny_cidrs[0].to_string(), "10.9.0.0/16");
        assert_eq!(s.stdio_allowed_commands, ["npx", "/usr/bin/uvx"]);
        assert!(s.secret_key.is_some());
        assert!(!format!("{s:?}").contains("a passphrase"));

        let env = MapEnv::new([("MCP_GATEWAY_UPSTREAM_DENY_CIDRS", "10.0.0.0/8,nonsense")]);
        let err = Settings::load(None, &Overrides::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MCP_GATEWAY_UPSTREAM_DENY_CIDRS[1]") && err.contains("nonsense"),
            "{err}"
        );
        let env = MapEnv::new([("MCP_GATEWAY_SECRET_KEY", "")]);
        let s = Settings::load(None, &Overrides::default(), &env).unwrap();
        assert!(s.secret_key.is_none());
    }

    #[test]
    fn allowed_hosts_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "gateway:\n  allowed_hosts: [file.example]\n").unwrap();
        let load = |v: Option<&str>| {
            let env = match v {
                Some(v) => MapEnv::new([("MCP_GATEWAY_ALLOWED_HOSTS", v)]),
                None => MapEnv::default(),
            };
            Settings::load(Some(&path), &Overrides::default(), &env)
        };
        let hosts = |v| load(v).unwrap().allowed_hosts;
        let list = |items: &[&str]| {
            Some(
                items
                    .iter()
                    .map(|h| HostPattern::parse(h).unwrap())
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(hosts(None), list(&["file.example"]));
        assert_eq!(
            hosts(Some(" gw.example.com , localhost:4000,[::1]:* ")),
            list(&["gw.example.com", "localhost:4000", "[::1]"])
        );
        // An empty value clears the file's list: the default applies.
        assert_eq!(hosts(Some("")), None);
        let err = load(Some("gw.example.com,https://evil.example"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("MCP_GATEWAY_ALLOWED_HOSTS[1]") && err.contains("evil.example"),
            "{err}"
        );
    }

    #[test]
    fn defaults() {
        let s = Settings::load(None, &Overrides::default(), &MapEnv::default()).unwrap();
        assert!(s.mcp_enabled);
        assert!(!s.store_model_in_db);
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.database_url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(s.allowed_hosts, None);
        assert_eq!(s.allowed_origins, DEFAULT_ALLOWED_ORIGINS);
    }
}
