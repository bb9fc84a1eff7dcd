//! The YAML configuration file.
//!
//! ```yaml
//! gateway:
//!   listen: 127.0.0.1:4000
//!   master_key: ${MCP_GATEWAY_MASTER_KEY}
//! mcp_servers:
//!   search_server:
//!     url: "http://search-service:8080/mcp"
//!     transport: "streamable_http"
//!     tools: ["search"]
//! ```

use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;

use super::{
    ConfigError, Settings, check_origins, check_worker_threads, env::Env, expand::expand,
    parse_cidrs, parse_commands, parse_hosts, parse_listen,
};
use crate::{
    access::policy::{Policy, PolicySource},
    model::{RegistrationPolicy, ServerRecord},
    secret::Secret,
};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    gateway: GatewaySection,
    #[serde(default)]
    mcp_servers: Option<IndexMap<String, ServerRecord>>,
    /// API keys, by key id (see [`ConfiguredKey`]).
    #[serde(default)]
    keys: Option<IndexMap<String, ConfiguredKey>>,
    /// Named policies, by name (see [`crate::access::policy`]).
    #[serde(default)]
    policies: Option<IndexMap<String, crate::access::policy::PolicySpec>>,
}

/// One entry of the `keys:` block: the key's value (`${VAR}` expanded; at least 32
/// characters) and the fields of `POST /mcp/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfiguredKey {
    key: String,
    #[serde(flatten)]
    spec: crate::access::keys::NewKey,
}

/// The `gateway:` block. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewaySection {
    listen: Option<String>,
    master_key: Option<String>,
    enabled: Option<bool>,
    store_model_in_db: Option<bool>,
    database_url: Option<String>,
    allow_stdio_registration: Option<bool>,
    allow_link_local_upstreams: Option<bool>,
    max_body_bytes: Option<usize>,
    tool_name_separator: Option<String>,
    discovery_refresh_secs: Option<u64>,
    upstream_handshake_timeout_secs: Option<u64>,
    startup_wait_secs: Option<u64>,
    allowed_origins: Option<Vec<String>>,
    allowed_hosts: Option<Vec<String>>,
    tool_name_policy: Option<crate::registry::NamePolicy>,
    max_sessions: Option<usize>,
    session_ttl_secs: Option<u64>,
    max_sse_sessions: Option<usize>,
    max_client_processes_per_server: Option<usize>,
    upstream_allow_cidrs: Option<Vec<String>>,
    upstream_deny_cidrs: Option<Vec<String>>,
    stdio_allowed_commands: Option<Vec<String>>,
    request_timeout_secs: Option<u64>,
    worker_threads: Option<usize>,
    public_url: Option<String>,
    audit_calls: Option<crate::access::AuditCalls>,
    audit_call_arguments: Option<bool>,
    tool_changes: Option<crate::model::ToolChanges>,
    #[serde(default)]
    auth: AuthSection,
    #[serde(default)]
    metrics: MetricsSection,
}

/// `gateway.metrics`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsSection {
    enabled: Option<bool>,
    scrape_token: Option<String>,
}

/// `gateway.auth`: how callers other than the master key and API keys authenticate.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSection {
    jwt: Option<crate::access::jwt::JwtConfig>,
}

/// Parses the text of a config file; `origin` names the file in errors.
pub(crate) fn parse(text: &str, origin: &str, env: &dyn Env) -> Result<Settings, ConfigError> {
    let file: FileConfig = if text.trim().is_empty() {
        FileConfig::default()
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })?
    };
    let mut settings = Settings::default();
    let g = file.gateway;
    if let Some(listen) = g.listen {
        settings.listen = parse_listen(&expand(&listen, "gateway.listen", env)?, "gateway.listen")?;
    }
    if let Some(key) = g.master_key {
        let key = expand(&key, "gateway.master_key", env)?;
        settings.master_key = (!key.is_empty()).then(|| Secret::new(key));
    }
    if let Some(url) = g.database_url {
        settings.database_url = Secret::new(expand(&url, "gateway.database_url", env)?);
    }
    settings.mcp_enabled = g.enabled.unwrap_or(settings.mcp_enabled);
    settings.store_model_in_db = g.store_model_in_db.unwrap_or(settings.store_model_in_db);
    settings.allow_stdio_registration = g.allow_stdio_registration.unwrap_or(false);
    settings.allow_link_local_upstreams = g.allow_link_local_upstreams.unwrap_or(false);
    if let Some(bytes) = g.max_body_bytes {
        if bytes < 1024 {
            return Err(ConfigError::invalid(
                "gateway.max_body_bytes",
                "must be at least 1024",
            ));
        }
        settings.max_body_bytes = bytes;
    }
    if let Some(sep) = g.tool_name_separator {
        if sep.is_empty() || sep.chars().any(|c| c.is_whitespace()) {
            return Err(ConfigError::invalid(
                "gateway.tool_name_separator",
                "must be non-empty and contain no whitespace",
            ));
        }
        settings.name_separator = sep;
    }
    if let Some(secs) = g.discovery_refresh_secs {
        if secs == 0 {
            return Err(ConfigError::invalid(
                "gateway.discovery_refresh_secs",
                "must be at least 1",
            ));
        }
        settings.discovery_refresh = Duration::from_secs(secs);
    }
    match g.upstream_handshake_timeout_secs {
        Some(0) => {
            return Err(ConfigError::invalid(
                "gateway.upstream_handshake_timeout_secs",
                "must be at least 1",
            ));
        }
        Some(secs) => settings.upstream_handshake_timeout = Duration::from_secs(secs),
        None => {}
    }
    if let Some(secs) = g.startup_wait_secs {
        settings.startup_wait = Duration::from_secs(secs);
    }
    settings.name_policy = g.tool_name_policy.unwrap_or_default();
    match g.max_sessions {
        Some(0) => {
            return Err(ConfigError::invalid(
                "gateway.max_sessions",
                "must be at least 1",
            ));
        }
        Some(max) => settings.max_sessions = max,
        None => {}
    }
    match g.max_client_processes_per_server {
        Some(0) => {
            return Err(ConfigError::invalid(
                "gateway.max_client_processes_per_server",
                "must be at least 1",
            ));
        }
        Some(max) => settings.max_client_processes_per_server = max,
        None => {}
    }
    match g.session_ttl_secs {
        Some(0) => {
            return Err(ConfigError::invalid(
                "gateway.session_ttl_secs",
                "must be at least 1",
            ));
        }
        Some(secs) => settings.session_ttl = Duration::from_secs(secs),
        None => {}
    }
    if let Some(max) = g.max_sse_sessions {
        if max == 0 {
            return Err(ConfigError::invalid(
                "gateway.max_sse_sessions",
                "must be at least 1",
            ));
        }
        settings.max_sse_sessions = max;
    }
    if let Some(cidrs) = g.upstream_allow_cidrs {
        settings.upstream_allow_cidrs = parse_cidrs(&cidrs, "gateway.upstream_allow_cidrs")?;
    }
    if let Some(cidrs) = g.upstream_deny_cidrs {
        settings.upstream_deny_cidrs = parse_cidrs(&cidrs, "gateway.upstream_deny_cidrs")?;
    }
    if let Some(commands) = g.stdio_allowed_commands {
        settings.stdio_allowed_commands =
            parse_commands(commands, "gateway.stdio_allowed_commands")?;
    }
    match g.request_timeout_secs {
        Some(0) => {
            return Err(ConfigError::invalid(
                "gateway.request_timeout_secs",
                "must be at least 1",
            ));
        }
        Some(secs) => settings.request_timeout = Duration::from_secs(secs),
        None => {}
    }
    if let Some(threads) = g.worker_threads {
        settings.worker_threads = Some(check_worker_threads(threads, "gateway.worker_threads")?);
    }
    if let Some(origins) = g.allowed_origins {
        check_origins(&origins, "gateway.allowed_origins")?;
        settings.allowed_origins = origins;
    }
    if let Some(hosts) = g.allowed_hosts {
        let hosts = hosts
            .iter()
            .enumerate()
            .map(|(i, host)| expand(host, &format!("gateway.allowed_hosts[{i}]"), env))
            .collect::<Result<Vec<_>, _>>()?;
        settings.allowed_hosts = Some(parse_hosts(&hosts, "gateway.allowed_hosts")?);
    }
    settings.tool_changes = g.tool_changes.unwrap_or_default();
    settings.metrics.enabled = g.metrics.enabled.unwrap_or(true);
    if let Some(token) = g.metrics.scrape_token {
        let path = "gateway.metrics.scrape_token";
        let token = expand(&token, path, env)?;
        if !token.is_empty() {
            settings.metrics.scrape_token = Some(super::check_scrape_token(token, path)?);
        }
    }
    settings.audit_calls = g.audit_calls.unwrap_or_default();
    settings.audit_call_arguments = g.audit_call_arguments.unwrap_or(false);
    if let Some(url) = g.public_url {
        settings.public_url = Some(parse_public_url(&expand(&url, "gateway.public_url", env)?)?);
    }
    for (name, spec) in file.policies.unwrap_or_default() {
        let path = format!("policies.{name}");
        let invalid = |e: crate::model::FieldError| {
            ConfigError::invalid(format!("{path}.{}", e.field), e.message)
        };
        let record = spec.record(name, None).map_err(invalid)?;
        let policy = Policy::new(record, PolicySource::Config).map_err(invalid)?;
        settings.policies.put(policy);
    }
    if let Some(mut jwt) = g.auth.jwt {
        jwt.issuer = expand(&jwt.issuer, "gateway.auth.jwt.issuer", env)?;
        if let Some(url) = jwt.jwks_url.take() {
            jwt.jwks_url = Some(expand(&url, "gateway.auth.jwt.jwks_url", env)?);
        }
        let auth = crate::access::jwt::JwtAuth::new(jwt, &settings.policies).map_err(|e| {
            ConfigError::invalid(format!("gateway.auth.jwt.{}", e.field), e.message)
        })?;
        settings.jwt = Some(std::sync::Arc::new(auth));
    }
    for (id, record) in file.mcp_servers.unwrap_or_default() {
        settings.servers.push(resolve_server(id, record, env)?);
    }
    let now = chrono::Utc::now();
    for (id, entry) in file.keys.unwrap_or_default() {
        let path = format!("keys.{id}");
        let key = expand(&entry.key, &format!("{path}.key"), env)?;
        let record = crate::access::keys::configured(&id, &key, entry.spec, now)
            .map_err(|e| ConfigError::invalid(format!("{path}.{}", e.field), e.message))?;
        if let Some(unknown) = record
            .policies
            .iter()
            .find(|name| settings.policies.get(name).is_none())
        {
            return Err(ConfigError::invalid(
                format!("{path}.policies"),
                format!("no policy named {unknown:?} in the policies: block"),
            ));
        }
        settings.keys.push(record);
    }
    Ok(settings)
}

/// `gateway.public_url`: an absolute http(s) URL without query or fragment; a trailing
/// slash is dropped.
fn parse_public_url(text: &str) -> Result<url::Url, ConfigError> {
    let field = "gateway.public_url";
    let mut url = url::Url::parse(text.trim())
        .map_err(|e| ConfigError::invalid(field, format!("{text:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::invalid(
            field,
            "must be an http(s) URL with a host",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::invalid(
            field,
            "must have no query or fragment",
        ));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// Turns one `mcp_servers:` entry into a validated record.
fn resolve_server(
    id: String,
    mut record: ServerRecord,
    env: &dyn Env,
) -> Result<ServerRecord, ConfigError> {
    let path = format!("mcp_servers.{id}");
    if !record.server_id.is_empty() && record.server_id != id {
        return Err(ConfigError::invalid(
            format!("{path}.server_id"),
            format!(
                "is {:?} but the entry's key is {id:?}; leave server_id out or make them equal",
                record.server_id
            ),
        ));
    }
    record.server_id = id;
    expand_record(&mut record, &path, env)?;
    record
        .validate(RegistrationPolicy::TRUSTED)
        .map_err(|e| ConfigError::invalid(format!("{path}.{}", e.field), e.message))?;
    Ok(record)
}

/// Applies `${VAR}` substitution to every string setting of a server entry.
fn expand_record(record: &mut ServerRecord, path: &str, env: &dyn Env) -> Result<(), ConfigError> {
    let field = |name: &str| format!("{path}.{name}");
    for (name, value) in [
        ("url", &mut record.url),
        ("command", &mut record.command),
        ("cwd", &mut record.cwd),
    ] {
        if let Some(v) = value {
            *v = expand(v, &field(name), env)?;
        }
    }
    if let Some(secret) = &mut record.auth_value {
        *secret.expose_mut() = expand(secret.expose(), &field("auth_value"), env)?;
    }
    for (i, arg) in record.args.iter_mut().enumerate() {
        *arg = expand(arg, &field(&format!("args[{i}]")), env)?;
    }
    for (key, value) in record.headers.iter_mut() {
        *value.expose_mut() = expand(value.expose(), &field(&format!("headers.{key}")), env)?;
    }
    for (key, value) in record.env.iter_mut() {
        *value.expose_mut() = expand(value.expose(), &field(&format!("env.{key}")), env)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::env::MapEnv, front::host_origin::HostPattern, model::TransportKind};

    const SEED: &str = r#"
mcp_servers:
  search_server:
    url: "http://search-service:8080/mcp"
    transport: "streamable_http"
    tools: ["search"]

  file_server:
    url: "http://file-service:8081/mcp"
    transport: "streamable_http"
    tools: ["read_file", "write_file"]
    auth_type: "api_key"
"#;

    #[test]
    fn seed_yaml_parses_verbatim() {
        let s = parse(SEED, "seed.yaml", &MapEnv::default()).unwrap();
        assert_eq!(s.servers.len(), 2);
        assert_eq!(s.servers[0].server_id, "search_server");
        assert_eq!(s.servers[0].name, "search_server");
        assert_eq!(s.servers[1].tools, ["read_file", "write_file"]);
        assert_eq!(s.servers[1].transport, Some(TransportKind::StreamableHttp));
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let text = "mcp_servers:\n  a:\n    url: http://x/\n    tols: [x]\n";
        let err = parse(text, "c.yaml", &MapEnv::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("tols") && err.contains("line 4"), "{err}");
        let err = parse("gateway:\n  lisen: x\n", "c.yaml", &MapEnv::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("lisen") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn substitutes_environment_in_secrets() {
        let text = "gateway:\n  master_key: ${KEY}\nmcp_servers:\n  a:\n    url: http://x/\n    auth_type: bearer_token\n    auth_value: ${TOKEN}\n";
        let env = MapEnv::new([("KEY", "mk"), ("TOKEN", "t0k")]);
        let s = parse(text, "c.yaml", &env).unwrap();
        assert_eq!(s.master_key.unwrap().expose(), "mk");
        assert_eq!(s.servers[0].auth_value.as_ref().unwrap().expose(), "t0k");
        let err = parse(text, "c.yaml", &MapEnv::new([("KEY", "k")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mcp_servers.a.auth_value") && err.contains("TOKEN"),
            "{err}"
        );
    }

    #[test]
    fn invalid_servers_name_their_path() {
        let err = parse(
            "mcp_servers:\n  a:\n    transport: sse\n",
            "c.yaml",
            &MapEnv::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("mcp_servers.a.url"), "{err}");
        let err = parse(
            "mcp_servers:\n  a:\n    transport: carrier_pigeon\n",
            "c.yaml",
            &MapEnv::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("carrier_pigeon"), "{err}");
    }

    #[test]
    fn sse_session_limit() {
        let env = MapEnv::default();
        let s = parse("gateway:\n  max_sse_sessions: 50\n", "c.yaml", &env).unwrap();
        assert_eq!(s.max_sse_sessions, 50);
        let err = parse("gateway:\n  max_sse_sessions: 0\n", "c.yaml", &env).unwrap_err();
        assert!(
            err.to_string().contains("gateway.max_sse_sessions"),
            "{err}"
        );
    }

    #[test]
    fn security_keys() {
        let env = MapEnv::default();
        let text = "gateway:\n  upstream_allow_cidrs: [10.0.0.0/8, \"::1\"]\n  upstream_deny_cidrs: [10.1.0.0/16]\n  stdio_allowed_commands: [npx, /usr/bin/uvx]\n  request_timeout_secs: 5\n";
        let s = parse(text, "c.yaml", &env).unwrap();
        assert_eq!(s.upstream_allow_cidrs.len(), 2);
        assert_eq!(s.upstream_allow_cidrs[1].to_string(), "::1/128");
        assert_eq!(s.upstream_deny_cidrs[0].to_string(), "10.1.0.0/16");
        assert_eq!(s.stdio_allowed_commands, ["npx", "/usr/bin/uvx"]);
        assert_eq!(s.request_timeout, Duration::from_secs(5));
        let err = parse(
            "gateway:\n  upstream_allow_cidrs: [10.0.0.0/33]\n",
            "c.yaml",
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("gateway.upstream_allow_cidrs[0]"), "{err}");
        let err = parse(
            "gateway:\n  stdio_allowed_commands: [\"\"]\n",
            "c.yaml",
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("gateway.stdio_allowed_commands[0]"), "{err}");
        let err = parse("gateway:\n  request_timeout_secs: 0\n", "c.yaml", &env).unwrap_err();
        assert!(err.to_string().contains("request_timeout_secs"), "{err}");
    }

    #[test]
    fn api_keys_from_the_file() {
        let secret = "mgw_0123456789abcdefghijklmnopqrstuvwxyzABCD";
        let env = MapEnv::new([("BOT_KEY", secret)]);
        let text = "keys:\n  ci-bot:\n    key: ${BOT_KEY}\n    name: CI bot\n    servers: [github]\n    tools: [\"github__search_*\"]\n    expires_at: 2999-01-01T00:00:00Z\n";
        let s = parse(text, "c.yaml", &env).unwrap();
        let key = &s.keys[0];
        assert_eq!(key.key_id, "ci-bot");
        assert_eq!(key.key_hash, crate::access::keys::hash(secret));
        assert_eq!(
            key.tools.as_deref(),
            Some(&["github__search_*".to_owned()][..])
        );
        assert!(!format!("{s:?}").contains(secret), "the value is not kept");
        for (text, path) in [
            ("keys:\n  k:\n    key: short\n    name: k\n", "keys.k.key"),
            (
                "keys:\n  k:\n    key: ${BOT_KEY}\n    name: k\n    tools: [\"a[\"]\n",
                "keys.k.tools",
            ),
            ("keys:\n  k:\n    key: ${NOPE}\n    name: k\n", "NOPE"),
            ("keys:\n  k:\n    key: ${BOT_KEY}\n", "name"),
            (
                "keys:\n  k:\n    key: ${BOT_KEY}\n    name: k\n    scope: x\n",
                "scope",
            ),
        ] {
            let err = parse(text, "c.yaml", &env).unwrap_err().to_string();
            assert!(err.contains(path), "{text}: {err}");
        }
    }

    #[test]
    fn allowed_hosts() {
        let env = MapEnv::new([("PUBLIC_HOST", "mcp.example.com")]);
        let s = parse("", "c.yaml", &env).unwrap();
        assert_eq!(s.allowed_hosts, None);
        let text = "gateway:\n  allowed_hosts: [localhost, \"gw.example.com:8443\", \"10.0.0.5:*\", \"[::1]\", \"${PUBLIC_HOST}\"]\n";
        let s = parse(text, "c.yaml", &env).unwrap();
        let expected: Vec<HostPattern> = [
            "localhost",
            "gw.example.com:8443",
            "10.0.0.5:*",
            "[::1]",
            "mcp.example.com",
        ]
        .iter()
        .map(|h| HostPattern::parse(h).unwrap())
        .collect();
        assert_eq!(s.allowed_hosts, Some(expected));
        for (text, field) in [
            (
                "gateway:\n  allowed_hosts: [localhost, \"http://evil.example\"]\n",
                "gateway.allowed_hosts[1]",
            ),
            (
                "gateway:\n  allowed_hosts: [\"*\"]\n",
                "gateway.allowed_hosts[0]",
            ),
            (
                "gateway:\n  allowed_hosts: [\"h.example:99999\"]\n",
                "gateway.allowed_hosts[0]",
            ),
            (
                "gateway:\n  allowed_hosts: [\"\"]\n",
                "gateway.allowed_hosts[0]",
            ),
            ("gateway:\n  allowed_hosts: []\n", "gateway.allowed_hosts"),
            (
                "gateway:\n  allowed_hosts: [\"${NOPE}\"]\n",
                "gateway.allowed_hosts[0]",
            ),
        ] {
            let err = parse(text, "c.yaml", &env).unwrap_err().to_string();
            assert!(err.starts_with(field), "{text}: {err}");
        }
        let err = parse("gateway:\n  allowed_hosts: localhost\n", "c.yaml", &env).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn allowed_origins() {
        let env = MapEnv::default();
        let text = "gateway:\n  allowed_origins: [\"https://app.example.com:443\", \"http://localhost:*\", \"null\"]\n";
        let s = parse(text, "c.yaml", &env).unwrap();
        assert_eq!(s.allowed_origins.len(), 3);
        for bad in ["app.example.com", "https://app.example.com:443:*", "null:*"] {
            let text =
                format!("gateway:\n  allowed_origins: [\"http://localhost:*\", \"{bad}\"]\n");
            let err = parse(&text, "c.yaml", &env).unwrap_err().to_string();
            assert!(
                err.starts_with("gateway.allowed_origins[1]"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn worker_threads() {
        let env = MapEnv::default();
        assert_eq!(parse("", "c.yaml", &env).unwrap().worker_threads, None);
        let s = parse("gateway:\n  worker_threads: 1\n", "c.yaml", &env).unwrap();
        assert_eq!(s.worker_threads, Some(1));
        for bad in ["0", "5000"] {
            let text = format!("gateway:\n  worker_threads: {bad}\n");
            let err = parse(&text, "c.yaml", &env).unwrap_err().to_string();
            assert!(err.contains("gateway.worker_threads"), "{err}");
        }
    }

    #[test]
    fn empty_file_is_an_empty_gateway() {
        assert!(
            parse("", "c.yaml", &MapEnv::default())
                .unwrap()
                .servers
                .is_empty()
        );
        assert!(
            parse("mcp_servers:\n", "c.yaml", &MapEnv::default())
                .unwrap()
                .servers
                .is_empty()
        );
    }

    #[test]
    fn jwt_auth_and_the_public_url() {
        let dir = tempfile::tempdir().unwrap();
        let jwks = dir.path().join("jwks.json");
        std::fs::write(&jwks, r#"{"keys": []}"#).unwrap();
        let env = MapEnv::new([("IDP", "https://idp.example.com")]);
        let text = format!(
            "gateway:\n  public_url: https://gw.example.com/\n  auth:\n    jwt:\n      issuer: ${{IDP}}/realm\n      jwks_file: {}\n      required_scopes: [mcp]\n      grants:\n        - groups: [eng]\n          servers: [github]\n",
            jwks.display()
        );
        let s = parse(&text, "c.yaml", &env).unwrap();
        assert_eq!(s.public_url.unwrap().as_str(), "https://gw.example.com/");
        let jwt = s.jwt.unwrap();
        assert_eq!(jwt.authorization_servers, ["https://idp.example.com/realm"]);
        assert_eq!(jwt.scopes_supported, ["mcp"]);

        let jwt_block = |body: &str| format!("gateway:\n  auth:\n    jwt:\n{body}");
        for (text, field) in [
            (jwt_block("      issuer: i\n"), "gateway.auth.jwt.jwks_url"),
            (
                jwt_block("      issuer: i\n      jwks_url: ftp://x/jwks\n"),
                "gateway.auth.jwt.jwks_url",
            ),
            (
                jwt_block("      issuer: i\n      jwks_file: /nonexistent/jwks.json\n"),
                "gateway.auth.jwt.jwks_file",
            ),
            (
                jwt_block(&format!(
                    "      issuer: i\n      jwks_file: {}\n      grants: [{{tools: [\"a[\"]}}]\n",
                    jwks.display()
                )),
                "gateway.auth.jwt.grants[0].tools",
            ),
            (
                jwt_block("      issuer: i\n      jwks_url: http://x\n      algorithms: [none]\n"),
                "algorithms",
            ),
            (
                jwt_block("      issuer: i\n      jwks_url: http://x\n      audience: x\n"),
                "audience",
            ),
            (
                "gateway:\n  public_url: /relative\n".to_owned(),
                "gateway.public_url",
            ),
        ] {
            let err = parse(&text, "c.yaml", &env).unwrap_err().to_string();
            assert!(err.contains(field), "{text}: {err}");
        }
    }

    #[test]
    fn policies_from_the_file() {
        let env = MapEnv::new([("BOT_KEY", "mgw_0123456789abcdefghijklmnopqrstuvwxyzABCD")]);
        let text = "policies:\n  read-only:\n    effect: allow\n    when: tool.annotations.readOnlyHint\n    description: tools that change nothing\nkeys:\n  bot:\n    key: ${BOT_KEY}\n    name: bot\n    policies: [read-only]\n";
        let s = parse(text, "c.yaml", &env).unwrap();
        let policy = s.policies.get("read-only").unwrap();
        assert_eq!(policy.source, PolicySource::Config);
        assert_eq!(s.keys[0].policies, ["read-only"]);
        for (text, field) in [
            (
                "policies:\n  p:\n    effect: deny\n    when: \"tool.name ==\"\n",
                "policies.p.when",
            ),
            (
                "policies:\n  p:\n    effect: deny\n    when: \"true\"\n    whom: x\n",
                "whom",
            ),
            (
                "keys:\n  bot:\n    key: ${BOT_KEY}\n    name: bot\n    policies: [nope]\n",
                "keys.bot.policies",
            ),
        ] {
            let err = parse(text, "c.yaml", &env).unwrap_err().to_string();
            assert!(err.contains(field), "{text}: {err}");
        }
    }
}
