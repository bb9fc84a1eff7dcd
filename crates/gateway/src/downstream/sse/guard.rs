//! The browser protections `/mcp` gets from rmcp's server config, for `/sse` and
//! `/messages` (rmcp keeps its checks private):
//! * `Origin`, when present, must match `settings.allowed_origins` (entries
//!   `scheme://host:port`, `scheme://host:*`, `null`; a portless entry matches any port, as
//!   in rmcp); requests without `Origin` (non-browser clients) pass;
//! * without a master key, `Host` must be a loopback name, so that a page on a rebound DNS
//!   name cannot reach a keyless local gateway. With a key, the key protects it instead.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::Response,
};

use crate::{admin::ApiError, gateway::Gateway};

/// Hosts a keyless gateway answers to (any port), as for `/mcp`.
const LOOPBACK_HOSTS: &[&str] = &["localhost", "127.0.0.1", "::1"];

pub(super) async fn check(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let settings = &gateway.settings;
    if settings.master_key.is_none() {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()));
        if !host.is_some_and(host_is_loopback) {
            tracing::warn!(host = ?host, "rejected an SSE request with a non-loopback Host (possible DNS rebinding)");
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "host_not_allowed",
                "without a master key the gateway only answers to localhost, 127.0.0.1 and [::1]",
            ));
        }
    }
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if !origin_is_allowed(origin, &settings.allowed_origins) {
            tracing::warn!(origin = %origin, "rejected an SSE request from a disallowed Origin");
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "this Origin is not in gateway.allowed_origins",
            ));
        }
    }
    Ok(next.run(request).await)
}

fn host_is_loopback(host: &str) -> bool {
    host.parse::<axum::http::uri::Authority>()
        .is_ok_and(|a| LOOPBACK_HOSTS.contains(&normalize_host(a.host()).as_str()))
}

fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

#[derive(Debug, PartialEq)]
enum Origin {
    Null,
    Tuple {
        scheme: String,
        host: String,
        port: Option<u16>,
    },
}

impl Origin {
    fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("null") {
            return Some(Self::Null);
        }
        let uri: axum::http::Uri = value.parse().ok()?;
        let authority = uri.authority()?;
        Some(Self::Tuple {
            scheme: uri.scheme_str()?.to_ascii_lowercase(),
            host: normalize_host(authority.host()),
            port: authority.port_u16(),
        })
    }
}

/// Whether `origin` matches one of the `allowed` entries (an empty list allows none).
pub(super) fn origin_is_allowed(origin: &str, allowed: &[String]) -> bool {
    let Some(origin) = Origin::parse(origin) else {
        return false;
    };
    allowed.iter().any(|entry| entry_matches(entry, &origin))
}

fn entry_matches(entry: &str, origin: &Origin) -> bool {
    let entry = entry.trim();
    let (base, any_port) = match entry.strip_suffix(":*") {
        Some(base) => (base, true),
        None => (entry, false),
    };
    match (Origin::parse(base), origin) {
        (Some(Origin::Null), Origin::Null) => !any_port,
        (
            Some(Origin::Tuple { scheme, host, port }),
            Origin::Tuple {
                scheme: o_scheme,
                host: o_host,
                port: o_port,
            },
        ) => {
            let port_ok = match port {
                // `scheme://host:port:*` is malformed.
                Some(_) if any_port => false,
                // An origin omits its scheme's default port (RFC 6454).
                Some(port) => o_port.or_else(|| default_port(o_scheme)) == Some(port),
                None => true,
            };
            scheme == *o_scheme && host == *o_host && port_ok
        }
        _ => false,
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(origin: &str, list: &[&str]) -> bool {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        origin_is_allowed(origin, &list)
    }

    #[test]
    fn origins_match_like_rmcp() {
        let defaults = crate::downstream::DEFAULT_ALLOWED_ORIGINS;
        assert!(allowed("http://localhost:3000", defaults));
        assert!(allowed("http://127.0.0.1:8080", defaults));
        assert!(allowed("http://[::1]:5173", defaults));
        assert!(allowed("http://LOCALHOST:1", defaults));
        assert!(!allowed("https://localhost:3000", defaults));
        assert!(!allowed("https://evil.example", defaults));
        assert!(!allowed("http://localhost.evil.example:3000", defaults));
        assert!(!allowed("null", defaults));
        assert!(!allowed("not an origin", defaults));

        let list = ["https://app.example:443", "https://other.example", "null"];
        assert!(allowed("https://app.example", &list));
        assert!(allowed("https://app.example:443", &list));
        assert!(!allowed("https://app.example:8443", &list));
        assert!(allowed("https://other.example:8443", &list));
        assert!(allowed("null", &list));
        assert!(!allowed("http://app.example", &list));
        assert!(!allowed(
            "https://app.example:443",
            &["https://app.example:443:*"]
        ));
        assert!(!allowed("http://localhost:3000", &[]));
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "localhost:4000",
            "127.0.0.1:1",
            "[::1]:4000",
            "LocalHost",
        ] {
            assert!(host_is_loopback(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:4000",
            "10.0.0.1",
            "",
            "localhost.evil",
        ] {
            assert!(!host_is_loopback(host), "{host}");
        }
    }
}
