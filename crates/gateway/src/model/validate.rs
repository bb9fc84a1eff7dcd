//! Validation of a [`ServerRecord`]: every error names the offending field.

use std::net::IpAddr;

use http::{HeaderName, HeaderValue};

use super::{AuthType, ServerRecord, TransportKind};

/// Longest accepted `server_id`.
pub const MAX_SERVER_ID_LEN: usize = 128;

/// What a registration is allowed to ask for. Config-file servers are trusted more than
/// API registrations (the operator wrote the file).
#[derive(Debug, Clone, Copy)]
pub struct RegistrationPolicy {
    /// May this registration run a local command (`transport: stdio`)?
    pub allow_stdio: bool,
    /// May the upstream URL point at link-local / cloud-metadata addresses?
    pub allow_link_local: bool,
}

impl RegistrationPolicy {
    /// The policy for servers written in the config file.
    pub const TRUSTED: Self = Self {
        allow_stdio: true,
        allow_link_local: true,
    };
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
    pub fn validate(&mut self, policy: RegistrationPolicy) -> Result<(), FieldError> {
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

fn validate_url(raw: &str, policy: RegistrationPolicy) -> Result<(), FieldError> {
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
    if policy.allow_link_local {
        return Ok(());
    }
    let ip = match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(d) => {
            if METADATA_HOSTNAMES.contains(&d.to_ascii_lowercase().as_str()) {
                return Err(metadata_refused());
            }
            None
        }
    };
    if ip.is_some_and(is_link_local_or_metadata) {
        return Err(metadata_refused());
    }
    Ok(())
}

/// Headers the transports set themselves; an operator-supplied value would break the protocol.
const RESERVED_HEADERS: &[&str] = &[
    "accept",
    "content-type",
    "content-length",
    "host",
    "connection",
    "transfer-encoding",
    "mcp-session-id",
    "mcp-protocol-version",
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

    const API: RegistrationPolicy = RegistrationPolicy {
        allow_stdio: false,
        allow_link_local: false,
    };

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
