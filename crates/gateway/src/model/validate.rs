//! Validation of a [`ServerRecord`]: every error names the offending field.

use std::{net::IpAddr, time::Duration};

use http::{HeaderName, HeaderValue};
use ipnet::IpNet;

use super::{AuthType, ServerRecord, TransportKind};

/// Longest accepted `server_id`.
pub const MAX_SERVER_ID_LEN: usize = 128;

/// How long a registration waits for its upstream host name to resolve.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a registration is allowed to ask for. Config-file servers are trusted more than
/// API registrations (the operator wrote the file).
#[derive(Debug, Clone, Copy)]
pub struct RegistrationPolicy<'a> {
    /// May this registration run a local command (`transport: stdio`)?
    pub allow_stdio: bool,
    /// May the upstream URL point at link-local / cloud-metadata addresses?
    pub allow_link_local: bool,
    /// When non-empty, the upstream's addresses must all lie in these ranges.
    pub upstream_allow: &'a [IpNet],
    /// The upstream's addresses may not lie in any of these ranges.
    pub upstream_deny: &'a [IpNet],
    /// When non-empty, a stdio `command` must match an entry (see [`command_allowed`]).
    pub stdio_allowed_commands: &'a [String],
}

impl RegistrationPolicy<'static> {
    /// The policy for servers written in the config file.
    pub const TRUSTED: Self = Self {
        allow_stdio: true,
        allow_link_local: true,
        upstream_allow: &[],
        upstream_deny: &[],
        stdio_allowed_commands: &[],
    };
}

impl RegistrationPolicy<'_> {
    /// Whether upstream addresses are checked at all.
    fn checks_addresses(&self) -> bool {
        !self.allow_link_local || !self.upstream_allow.is_empty() || !self.upstream_deny.is_empty()
    }

    /// Checks one upstream address against the link-local default and the CIDR lists.
    /// `host` is how the URL named it (for the message).
    pub fn check_address(&self, ip: IpAddr, host: &str) -> Result<(), FieldError> {
        let ip = ip.to_canonical();
        if !self.allow_link_local && is_link_local_or_metadata(ip) {
            return Err(metadata_refused());
        }
        let shown = if host == ip.to_string() {
            ip.to_string()
        } else {
            format!("{host} ({ip})")
        };
        if let Some(net) = self.upstream_deny.iter().find(|net| net.contains(&ip)) {
            return Err(FieldError::forbidden(
                "url",
                format!(
                    "upstream address {shown} is in {net}, a range in gateway.upstream_deny_cidrs"
                ),
            ));
        }
        if !self.upstream_allow.is_empty() && !self.upstream_allow.iter().any(|n| n.contains(&ip)) {
            return Err(FieldError::forbidden(
                "url",
                format!(
                    "upstream address {shown} is outside gateway.upstream_allow_cidrs, the only ranges upstreams may use"
                ),
            ));
        }
        Ok(())
    }
}

/// Whether a stdio `command` matches an allowlist entry: an entry with a `/` must equal the
/// command exactly; an entry without one (`npx`) matches a command whose last path
/// component equals it (`npx`, `/usr/bin/npx`, `./npx`).
pub fn command_allowed(command: &str, allowed: &[String]) -> bool {
    let base = command.rsplit('/').next().unwrap_or(command);
    allowed
        .iter()
        .any(|entry| entry == command || (!entry.contains('/') && entry == base))
}

/// A registration field that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
    /// True when the value is well-formed but refused by policy (maps to 403).
    pub forbidden: bool,
}

impl FieldError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            forbidden: false,
        }
    }

    pub fn forbidden(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            forbidden: true,
        }
    }
}

impl ServerRecord {
    /// Checks every field and fills defaults (`name`, `transport`). The record is left
    /// unchanged when an error is returned.
    pub fn validate(&mut self, policy: RegistrationPolicy<'_>) -> Result<(), FieldError> {
        validate_server_id(&self.server_id)?;
        if self.name.len() > 256 {
            return Err(FieldError::invalid(
                "name",
                "must be at most 256 characters",
            ));
        }
        let transport = self.transport_kind();
        match transport {
            TransportKind::StreamableHttp | TransportKind::Sse => {
                let Some(url) = self.url.as_deref() else {
                    return Err(FieldError::invalid(
                        "url",
                        format!("is required for transport {}", transport.as_str()),
                    ));
                };
                validate_url(url, policy)?;
                if self.command.is_some() {
                    return Err(FieldError::invalid(
                        "command",
                        format!(
                            "is only used with transport stdio, not {}",
                            transport.as_str()
                        ),
                    ));
                }
            }
            TransportKind::Stdio => {
                if !policy.allow_stdio {
                    return Err(FieldError::forbidden(
                        "transport",
                        "registering a stdio server through the API is disabled (it runs a \
                         command on the gateway host); the operator can enable it with \
                         gateway.allow_stdio_registration: true",
                    ));
                }
                match self.command.as_deref() {
                    None => {
                        return Err(FieldError::invalid(
                            "command",
                            "is required for transport stdio",
                        ));
                    }
                    Some(c) if c.trim().is_empty() => {
                        return Err(FieldError::invalid("command", "must not be empty"));
                    }
                    Some(c)
                        if !policy.stdio_allowed_commands.is_empty()
                            && !command_allowed(c, policy.stdio_allowed_commands) =>
                    {
                        return Err(FieldError::forbidden(
                            "command",
                            format!(
                                "{c:?} is not in gateway.stdio_allowed_commands, the commands \
                                 API-registered stdio servers may run"
                            ),
                        ));
                    }
                    Some(_) => {}
                }
                if let Some(key) = self
                    .env
                    .keys()
                    .find(|k| k.is_empty() || k.contains(['=', '\0']))
                {
                    return Err(FieldError::invalid(
                        format!("env.{key}"),
                        "is not a valid environment variable name",
                    ));
                }
            }
        }
        for (name, value) in &self.headers {
            if HeaderName::try_from(name.as_str()).is_err() {
                return Err(FieldError::invalid(
                    format!("headers.{name}"),
                    "is not a valid HTTP header name",
                ));
            }
            if RESERVED_HEADERS
                .iter()
                .any(|r| name.eq_ignore_ascii_case(r))
            {
                return Err(FieldError::invalid(
                    format!("headers.{name}"),
                    "is managed by the gateway's MCP transport and cannot be set",
                ));
            }
            if HeaderValue::try_from(value.expose()).is_err() {
                return Err(FieldError::invalid(
                    format!("headers.{name}"),
                    "is not a valid HTTP header value",
                ));
            }
        }
        if let Some(header) = &self.api_key_header
            && HeaderName::try_from(header.as_str()).is_err()
        {
            return Err(FieldError::invalid(
                "api_key_header",
                "is not a valid HTTP header name",
            ));
        }
        if let Some(value) = &self.auth_value {
            if HeaderValue::try_from(value.expose()).is_err() {
                return Err(FieldError::invalid(
                    "auth_value",
                    "contains characters not allowed in an HTTP header",
                ));
            }
            if self.auth_type == AuthType::Basic && !value.expose().contains(':') {
                return Err(FieldError::invalid(
                    "auth_value",
                    "must be user:password for auth_type basic",
                ));
            }
        }
        match (&self.auth_type, &self.token_exchange) {
            (AuthType::TokenExchange, None) => {
                return Err(FieldError::invalid(
                    "token_exchange",
                    "is required with auth_type token_exchange (token_endpoint, client_id, …)",
                ));
            }
            (AuthType::TokenExchange, Some(exchange)) => {
                validate_url(&exchange.token_endpoint, policy).map_err(|e| FieldError {
                    field: "token_exchange.token_endpoint".into(),
                    ..e
                })?;
                if exchange.client_id.trim().is_empty() {
                    return Err(FieldError::invalid(
                        "token_exchange.client_id",
                        "is required",
                    ));
                }
            }
            (_, Some(_)) => {
                return Err(FieldError::invalid(
                    "token_exchange",
                    "is only used with auth_type token_exchange",
                ));
            }
            (_, None) => {}
        }
        // A caller's own credential travels in HTTP headers.
        if self.per_caller() && transport == TransportKind::Stdio {
            return Err(FieldError::invalid(
                "credentials",
                "per-caller credentials (per_user, token_exchange) need an HTTP or SSE upstream",
            ));
        }
        if self.credentials == super::CredentialMode::PerUser
            && matches!(self.auth_type, AuthType::None | AuthType::TokenExchange)
        {
            return Err(FieldError::invalid(
                "auth_type",
                "says how a per_user credential is sent: bearer_token, api_key, basic or oauth2",
            ));
        }
        if self.tool_limits.len() > 256 {
            return Err(FieldError::invalid(
                "tool_limits",
                "has more than 256 tools",
            ));
        }
        for (tool, limit) in &self.tool_limits {
            if tool.is_empty() {
                return Err(FieldError::invalid("tool_limits", "names an empty tool"));
            }
            crate::access::Limits::new(Some(limit)).map_err(|e| {
                FieldError::invalid(format!("tool_limits.{tool}.{}", e.field), e.message)
            })?;
        }
        if self.timeout_secs == Some(0) {
            return Err(FieldError::invalid("timeout_secs", "must be at least 1"));
        }
        for (field, names) in [("tools", &self.tools), ("resources", &self.resources)] {
            if let Some(i) = names.iter().position(|n| n.is_empty()) {
                return Err(FieldError::invalid(
                    format!("{field}[{i}]"),
                    "must not be empty",
                ));
            }
        }
        self.transport = Some(transport);
        if self.name.trim().is_empty() {
            self.name = self.server_id.clone();
        }
        Ok(())
    }
}

fn validate_server_id(id: &str) -> Result<(), FieldError> {
    if id.is_empty() {
        return Err(FieldError::invalid("server_id", "is required"));
    }
    if id.chars().count() > MAX_SERVER_ID_LEN {
        return Err(FieldError::invalid(
            "server_id",
            format!("must be at most {MAX_SERVER_ID_LEN} characters"),
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(FieldError::invalid(
            "server_id",
            format!("may only contain letters, digits, '-', '_' and '.', not {c:?}"),
        ));
    }
    Ok(())
}

fn validate_url(raw: &str, policy: RegistrationPolicy<'_>) -> Result<(), FieldError> {
    let url = url::Url::parse(raw)
        .map_err(|e| FieldError::invalid("url", format!("is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FieldError::invalid(
            "url",
            format!("scheme must be http or https, not {}", url.scheme()),
        ));
    }
    let Some(host) = url.host() else {
        return Err(FieldError::invalid("url", "has no host"));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::invalid(
            "url",
            "must not carry credentials; use auth_type and auth_value instead",
        ));
    }
    match host {
        url::Host::Ipv4(ip) => policy.check_address(IpAddr::V4(ip), &ip.to_string()),
        url::Host::Ipv6(ip) => policy.check_address(IpAddr::V6(ip), &ip.to_string()),
        url::Host::Domain(d) => {
            if !policy.allow_link_local
                && METADATA_HOSTNAMES.contains(&d.to_ascii_lowercase().as_str())
            {
                return Err(metadata_refused());
            }
            // Host names are resolved and checked by `check_resolved_upstream`.
            Ok(())
        }
    }
}

impl ServerRecord {
    /// For a `streamable_http` / `sse` URL that names a host (not an address): resolves it
    /// (within [`RESOLVE_TIMEOUT`]) and checks every address it resolves to, as
    /// [`ServerRecord::validate`] does for a literal address. A name that does not resolve
    /// is accepted (it may come up later) unless an allow list is set, which can only admit
    /// addresses it has seen. Call after `validate`; nothing is resolved when the policy
    /// checks no addresses.
    ///
    /// This guards registration, not each connection: a name whose DNS answers change
    /// afterwards (DNS rebinding) is not re-checked.
    pub async fn check_resolved_upstream(
        &self,
        policy: RegistrationPolicy<'_>,
    ) -> Result<(), FieldError> {
        if self.transport_kind() == TransportKind::Stdio || !policy.checks_addresses() {
            return Ok(());
        }
        let Some(url) = self.url.as_deref().and_then(|u| url::Url::parse(u).ok()) else {
            return Ok(());
        };
        let Some(url::Host::Domain(domain)) = url.host() else {
            return Ok(());
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let resolved =
            tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((domain, port))).await;
        let addrs: Vec<IpAddr> = match resolved {
            Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
            Ok(Err(_)) | Err(_) => Vec::new(),
        };
        if addrs.is_empty() {
            if !policy.upstream_allow.is_empty() {
                return Err(FieldError::forbidden(
                    "url",
                    format!(
                        "host {domain} does not resolve, so it cannot be checked against \
                         gateway.upstream_allow_cidrs"
                    ),
                ));
            }
            tracing::debug!(
                host = domain,
                "upstream host does not resolve yet; accepted"
            );
            return Ok(());
        }
        for ip in addrs {
            policy.check_address(ip, domain)?;
        }
        Ok(())
    }
}

/// Headers the transports set themselves; an operator-supplied value would break the protocol.
const RESERVED_HEADERS: &[&str] = &[
    "accept",
    "content-type",
    "content-length",
    "host",
    "connection",
    "transfer-encoding",
    crate::protocol::header::SESSION_ID,
    crate::protocol::header::PROTOCOL_VERSION,
    "last-event-id",
];

const METADATA_HOSTNAMES: &[&str] = &["metadata.google.internal", "metadata.goog", "metadata"];

fn metadata_refused() -> FieldError {
    FieldError::forbidden(
        "url",
        "points at a link-local or cloud-metadata address, which upstreams may not use \
         (gateway.allow_link_local_upstreams: true lifts this)",
    )
}

/// Link-local (169.254.0.0/16, fe80::/10) and the cloud metadata addresses (AWS's
/// fd00:ec2::254, and IPv4-mapped forms of the IPv4 ones).
pub(crate) fn is_link_local_or_metadata(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4.is_link_local();
            }
            let aws_metadata = std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
            v6 == aws_metadata || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    const API: RegistrationPolicy<'static> = RegistrationPolicy {
        allow_stdio: false,
        allow_link_local: false,
        upstream_allow: &[],
        upstream_deny: &[],
        stdio_allowed_commands: &[],
    };

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn per_caller_credentials_need_http_and_a_way_to_send_them() {
        let field = |json: serde_json::Value| {
            let mut record: ServerRecord = serde_json::from_value(json).unwrap();
            record
                .validate(RegistrationPolicy::TRUSTED)
                .err()
                .map(|e| e.field)
        };
        let url = "http://127.0.0.1:9/mcp";
        assert_eq!(
            field(serde_json::json!({"server_id": "a", "url": url,
            "auth_type": "bearer_token", "credentials": "per_user"})),
            None
        );
        assert_eq!(
            field(serde_json::json!({"server_id": "a", "url": url,
            "credentials": "per_user"}))
            .as_deref(),
            Some("auth_type")
        );
        assert_eq!(
            field(serde_json::json!({"server_id": "a", "command": "x",
            "auth_type": "bearer_token", "credentials": "per_user"}))
            .as_deref(),
            Some("credentials")
        );
        assert_eq!(
            field(serde_json::json!({"server_id": "a", "url": url,
            "auth_type": "token_exchange"}))
            .as_deref(),
            Some("token_exchange")
        );
        let exchange = serde_json::json!({"token_endpoint": "ftp://x", "client_id": "gw"});
        assert_eq!(
            field(serde_json::json!({"server_id": "a", "url": url,
            "auth_type": "token_exchange", "token_exchange": exchange}))
            .as_deref(),
            Some("token_exchange.token_endpoint")
        );
        let exchange =
            serde_json::json!({"token_endpoint": "http://127.0.0.1:9/token", "client_id": "gw"});
        assert_eq!(
            field(serde_json::json!({"server_id": "a", "url": url,
            "auth_type": "bearer_token", "token_exchange": exchange}))
            .as_deref(),
            Some("token_exchange")
        );
    }

    #[test]
    fn cidr_lists_check_literal_addresses() {
        let deny = nets(&["10.0.0.0/8", "fd00::/8"]);
        let policy = RegistrationPolicy {
            upstream_deny: &deny,
            ..API
        };
        for url in [
            "http://10.1.2.3/mcp",
            "http://[fd00::1]/",
            "http://[::ffff:10.0.0.1]/",
        ] {
            let err = http("s", url).validate(policy).unwrap_err();
            assert!(err.forbidden && err.field == "url", "{url}: {err:?}");
            assert!(err.message.contains("upstream_deny_cidrs"), "{err}");
        }
        http("s", "http://192.168.0.1/").validate(policy).unwrap();

        let allow = nets(&["192.168.0.0/16", "127.0.0.1/32"]);
        let policy = RegistrationPolicy {
            upstream_allow: &allow,
            upstream_deny: &deny,
            ..API
        };
        http("s", "http://192.168.4.4:8080/")
            .validate(policy)
            .unwrap();
        http("s", "http://127.0.0.1/").validate(policy).unwrap();
        let err = http("s", "http://8.8.8.8/").validate(policy).unwrap_err();
        assert!(
            err.forbidden && err.message.contains("upstream_allow_cidrs"),
            "{err}"
        );
        // The link-local default stays on even when an allow list names the range.
        let allow = nets(&["169.254.0.0/16"]);
        let policy = RegistrationPolicy {
            upstream_allow: &allow,
            ..API
        };
        let err = http("s", "http://169.254.169.254/")
            .validate(policy)
            .unwrap_err();
        assert!(err.message.contains("link-local"), "{err}");
        // Config-file servers are trusted.
        http("s", "http://10.0.0.1/")
            .validate(RegistrationPolicy::TRUSTED)
            .unwrap();
    }

    #[tokio::test]
    async fn host_names_are_resolved_and_checked() {
        let deny = nets(&["127.0.0.0/8", "::1/128"]);
        let policy = RegistrationPolicy {
            upstream_deny: &deny,
            ..API
        };
        let mut r = http("s", "http://localhost:9/mcp");
        r.validate(policy).unwrap();
        let err = r.check_resolved_upstream(policy).await.unwrap_err();
        assert!(err.forbidden && err.field == "url", "{err:?}");
        assert!(err.message.contains("localhost"), "{err}");

        // A name that does not resolve (reserved TLD) passes without an allow list...
        let mut r = http("s", "http://no-such-host.invalid/mcp");
        r.validate(policy).unwrap();
        r.check_resolved_upstream(policy).await.unwrap();
        // ...and is refused with one.
        let allow = nets(&["10.0.0.0/8"]);
        let strict = RegistrationPolicy {
            upstream_allow: &allow,
            ..API
        };
        let err = r.check_resolved_upstream(strict).await.unwrap_err();
        assert!(
            err.forbidden && err.message.contains("does not resolve"),
            "{err}"
        );
        // localhost resolves outside the allow list.
        let r = http("s", "http://localhost:9/mcp");
        assert!(
            r.check_resolved_upstream(strict)
                .await
                .unwrap_err()
                .forbidden
        );
        // No lists and link-local allowed: nothing is resolved or refused.
        let open = RegistrationPolicy {
            allow_link_local: true,
            ..API
        };
        http("s", "http://localhost:9/")
            .check_resolved_upstream(open)
            .await
            .unwrap();
    }

    #[test]
    fn stdio_command_allowlist() {
        let allowed: Vec<String> = vec!["npx".into(), "/opt/tools/server".into()];
        assert!(command_allowed("npx", &allowed));
        assert!(command_allowed("/usr/bin/npx", &allowed));
        assert!(command_allowed("/opt/tools/server", &allowed));
        assert!(
            !command_allowed("server", &allowed),
            "entries with a / match exactly"
        );
        assert!(!command_allowed("/usr/local/opt/tools/server", &allowed));
        assert!(!command_allowed("npx2", &allowed));
        assert!(!command_allowed("sh", &allowed));
        let policy = RegistrationPolicy {
            allow_stdio: true,
            stdio_allowed_commands: &allowed,
            ..API
        };
        let stdio = |command: &str| -> ServerRecord {
            serde_json::from_value(
                serde_json::json!({"server_id": "s", "transport": "stdio", "command": command}),
            )
            .unwrap()
        };
        stdio("/usr/bin/npx").validate(policy).unwrap();
        let err = stdio("bash").validate(policy).unwrap_err();
        assert!(err.forbidden && err.field == "command", "{err:?}");
        assert!(err.message.contains("stdio_allowed_commands"), "{err}");
        // Without a list any command is accepted (when stdio registration is on).
        let open = RegistrationPolicy {
            allow_stdio: true,
            ..API
        };
        stdio("bash").validate(open).unwrap();
        stdio("bash").validate(RegistrationPolicy::TRUSTED).unwrap();
    }

    fn http(id: &str, url: &str) -> ServerRecord {
        serde_json::from_value(serde_json::json!({"server_id": id, "url": url})).unwrap()
    }

    #[test]
    fn fills_defaults() {
        let mut r = http("s1", "http://127.0.0.1:9/mcp");
        r.validate(API).unwrap();
        assert_eq!(r.name, "s1");
        assert_eq!(r.transport, Some(TransportKind::StreamableHttp));
    }

    #[test]
    fn rejects_bad_ids() {
        for id in ["", "a/b", "a b", &"x".repeat(129)] {
            let err = http(id, "http://127.0.0.1/").validate(API).unwrap_err();
            assert_eq!(err.field, "server_id", "{id}");
        }
        http(&"x".repeat(128), "http://127.0.0.1/")
            .validate(API)
            .unwrap();
    }

    #[test]
    fn rejects_bad_urls_and_metadata_addresses() {
        for url in ["not a url", "ftp://x/", "http://user:pw@host/"] {
            let err = http("s", url).validate(API).unwrap_err();
            assert_eq!(err.field, "url");
            assert!(!err.forbidden, "{url}");
        }
        for url in [
            "http://169.254.169.254/latest",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:169.254.1.1]/",
            "http://metadata.google.internal/",
        ] {
            let err = http("s", url).validate(API).unwrap_err();
            assert!(err.forbidden, "{url}");
        }
        http("s", "http://169.254.169.254/")
            .validate(RegistrationPolicy::TRUSTED)
            .unwrap();
    }

    #[test]
    fn stdio_needs_permission_and_a_command() {
        let mut r: ServerRecord = serde_json::from_value(
            serde_json::json!({"server_id": "s", "transport": "stdio", "command": "cat"}),
        )
        .unwrap();
        assert!(r.clone().validate(API).unwrap_err().forbidden);
        r.validate(RegistrationPolicy::TRUSTED).unwrap();
        let mut r: ServerRecord =
            serde_json::from_value(serde_json::json!({"server_id": "s", "transport": "stdio"}))
                .unwrap();
        assert_eq!(
            r.validate(RegistrationPolicy::TRUSTED).unwrap_err().field,
            "command"
        );
    }

    #[test]
    fn infers_stdio_from_command() {
        let r: ServerRecord =
            serde_json::from_value(serde_json::json!({"server_id": "s", "command": "cat"}))
                .unwrap();
        assert_eq!(r.transport_kind(), TransportKind::Stdio);
    }

    #[test]
    fn checks_headers_and_basic_auth() {
        let mut r = http("s", "http://127.0.0.1/");
        r.headers.insert("bad header".into(), Secret::new("v"));
        assert_eq!(r.validate(API).unwrap_err().field, "headers.bad header");
        let mut r = http("s", "http://127.0.0.1/");
        r.headers.insert("Mcp-Session-Id".into(), Secret::new("v"));
        assert_eq!(r.validate(API).unwrap_err().field, "headers.Mcp-Session-Id");
        let mut r = http("s", "http://127.0.0.1/");
        r.auth_type = AuthType::Basic;
        r.auth_value = Some(Secret::new("nocolon"));
        assert_eq!(r.validate(API).unwrap_err().field, "auth_value");
    }
}
