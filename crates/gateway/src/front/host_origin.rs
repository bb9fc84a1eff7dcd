//! The Host and Origin rule, the gateway's defence against DNS rebinding and cross-site
//! requests from browsers (the class of CVE-2025-49596): a page on `evil.example` whose
//! name the attacker re-points at 127.0.0.1 can make the browser of a developer send
//! requests to a local gateway, but they carry `Host: evil.example:…` and
//! `Origin: http://evil.example:…`.
//!
//! * `Host` must be one of `gateway.allowed_hosts` (name or address, optional `:port` or
//!   `:*`; no port means any port). Without that setting: the loopback names `localhost`,
//!   `127.0.0.1` and `[::1]` when no master key is set, any `Host` when one is (the key
//!   protects the gateway instead). A request naming no host at all is refused when a
//!   list applies.
//! * `Origin`, when present, must match `gateway.allowed_origins` (`scheme://host:port`,
//!   `scheme://host:*`, `null`; a portless entry matches any port, as in rmcp). Requests
//!   without `Origin` (curl, SDKs: not a browser) pass.
//!
//! [`Door`] is the rule compiled once from the settings; the front door applies it to
//! every route but `/health/*`, and to the hot path, before authentication. rmcp's own
//! copies of these checks are switched off (`downstream::Endpoint`).

use std::net::IpAddr;

use axum::http::{HeaderMap, StatusCode, Uri, header};

use super::ApiError;

/// The hosts a gateway without a master key answers to, whatever the port.
pub const LOOPBACK_HOSTS: &[&str] = &["localhost", "127.0.0.1", "[::1]"];

/// Origins browsers may call the gateway from unless the operator lists others.
pub const DEFAULT_ALLOWED_ORIGINS: &[&str] =
    &["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

/// One `gateway.allowed_hosts` entry: a host name or IP address, and a port or any port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: Host,
    /// `None`: any port (`name` or `name:*`).
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    /// Lowercase.
    Name(String),
    /// Compared as an address, so `[0:0::1]` is `[::1]`.
    Ip(IpAddr),
}

/// The parts of an authority (`host`, `host:port`, `[v6]:port`), unchecked.
struct Authority<'a> {
    host: &'a str,
    bracketed: bool,
    port: Option<&'a str>,
}

impl<'a> Authority<'a> {
    fn split(value: &'a str) -> Option<Self> {
        if let Some(rest) = value.strip_prefix('[') {
            let (host, after) = rest.split_once(']')?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':')?),
            };
            return Some(Self {
                host,
                bracketed: true,
                port,
            });
        }
        let (host, port) = match value.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        };
        // An IPv6 address must be bracketed to carry a port.
        (!host.contains(':')).then_some(Self {
            host,
            bracketed: false,
            port,
        })
    }
}

impl HostPattern {
    /// Parses an entry; the error says what is wrong with it.
    pub fn parse(entry: &str) -> Result<Self, String> {
        const FORM: &str = "expected a host name or address with an optional :port or :* \
                            (gateway.example.com, gateway.example.com:8443, 10.0.0.5:*, [::1])";
        let entry = entry.trim();
        if entry.is_empty() {
            return Err("must not be empty".into());
        }
        if entry.contains("://") || entry.contains(['/', '@', '?', '#']) {
            return Err(format!("{entry:?} is a URL, not a host; {FORM}"));
        }
        if (entry.contains('*') && !entry.ends_with(":*")) || entry.matches('*').count() > 1 {
            return Err(format!(
                "{entry:?}: only the port may be a wildcard (name:*); list each host name \
                 (with a master key and no gateway.allowed_hosts, any Host is accepted)"
            ));
        }
        // A bare IPv6 address has no port.
        if let Ok(ip) = entry.parse::<std::net::Ipv6Addr>() {
            return Ok(Self {
                host: Host::Ip(ip.into()),
                port: None,
            });
        }
        let Some(authority) = Authority::split(entry) else {
            return Err(format!("{entry:?} is not a host; {FORM}"));
        };
        let port = match authority.port {
            None | Some("*") => None,
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => Some(port),
                _ => return Err(format!("{entry:?} has an invalid port; {FORM}")),
            },
        };
        let host = if authority.bracketed {
            match authority.host.parse::<std::net::Ipv6Addr>() {
                Ok(ip) => Host::Ip(ip.into()),
                Err(_) => return Err(format!("{entry:?}: not an IPv6 address in brackets")),
            }
        } else if let Ok(ip) = authority.host.parse::<std::net::Ipv4Addr>() {
            Host::Ip(ip.into())
        } else if is_host_name(authority.host) {
            Host::Name(authority.host.to_ascii_lowercase())
        } else {
            return Err(format!("{entry:?} is not a host; {FORM}"));
        };
        Ok(Self { host, port })
    }

    /// Whether a request's authority names this host (and port).
    fn matches(&self, authority: &Authority<'_>, port: Option<u16>) -> bool {
        if self.port.is_some_and(|p| port != Some(p)) {
            return false;
        }
        match &self.host {
            Host::Name(name) => !authority.bracketed && authority.host.eq_ignore_ascii_case(name),
            Host::Ip(ip) => authority.host.parse::<IpAddr>().is_ok_and(|a| a == *ip),
        }
    }
}

/// Letters, digits, `-` and `_` in dot-separated, non-empty labels.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// One `gateway.allowed_origins` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern(Origin);

/// A browser origin (RFC 6454): the opaque `null`, or a scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Null,
    Tuple {
        scheme: String,
        host: String,
        /// In a pattern, `None` is any port; in a request, the scheme's default port.
        port: Option<u16>,
    },
}

impl Origin {
    fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("null") {
            return Some(Self::Null);
        }
        let uri: Uri = value.parse().ok()?;
        let authority = uri.authority()?;
        Some(Self::Tuple {
            scheme: uri.scheme_str()?.to_ascii_lowercase(),
            host: authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase(),
            port: authority.port_u16(),
        })
    }
}

impl OriginPattern {
    /// Parses an entry: `scheme://host:port`, `scheme://host:*`, `scheme://host` (any
    /// port, as in rmcp) or `null`.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        let (base, any_port) = match entry.strip_suffix(":*") {
            Some(base) => (base, true),
            None => (entry, false),
        };
        let form = "expected scheme://host:port, scheme://host:* or null, \
                    e.g. https://app.example.com:443 or http://localhost:*";
        match Origin::parse(base) {
            Some(Origin::Null) if !any_port => Ok(Self(Origin::Null)),
            // `scheme://host:port:*` is malformed.
            Some(Origin::Tuple { port: Some(_), .. }) if any_port => {
                Err(format!("{entry:?}: a port and :* together; {form}"))
            }
            Some(origin @ Origin::Tuple { .. }) => Ok(Self(origin)),
            _ => Err(format!("{entry:?} is not an origin; {form}")),
        }
    }

    fn matches(&self, origin: &Origin) -> bool {
        match (&self.0, origin) {
            (Origin::Null, Origin::Null) => true,
            (
                Origin::Tuple { scheme, host, port },
                Origin::Tuple {
                    scheme: o_scheme,
                    host: o_host,
                    port: o_port,
                },
            ) => {
                // An origin omits its scheme's default port (RFC 6454).
                let port_ok =
                    port.is_none_or(|p| o_port.or_else(|| default_port(o_scheme)) == Some(p));
                scheme == o_scheme && host == o_host && port_ok
            }
            _ => false,
        }
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// The rule, compiled once from the settings.
#[derive(Debug, Clone)]
pub struct Door {
    /// `None`: any `Host`.
    hosts: Option<Vec<HostPattern>>,
    /// Why a `Host` is refused, for the answer.
    hosts_reason: &'static str,
    origins: Vec<OriginPattern>,
}

impl Door {
    /// The rule for these settings: `allowed_hosts` when given, else loopback names on a
    /// gateway without a master key (`keyed: false`) and any `Host` on one with a key.
    /// `allowed_origins` entries that do not parse match nothing (the configuration
    /// refuses them).
    pub fn new(
        allowed_hosts: Option<&[HostPattern]>,
        keyed: bool,
        allowed_origins: &[String],
    ) -> Self {
        let (hosts, hosts_reason) = match allowed_hosts {
            Some(list) => (
                Some(list.to_vec()),
                "this Host is not in gateway.allowed_hosts",
            ),
            None if keyed => (None, ""),
            None => (
                Some(
                    LOOPBACK_HOSTS
                        .iter()
                        .map(|h| HostPattern::parse(h).expect("valid loopback host"))
                        .collect(),
                ),
                "without a master key the gateway only answers to localhost, 127.0.0.1 and [::1] \
                 (list other names in gateway.allowed_hosts)",
            ),
        };
        let origins = allowed_origins
            .iter()
            .filter_map(|o| OriginPattern::parse(o).ok())
            .collect();
        Self {
            hosts,
            hosts_reason,
            origins,
        }
    }

    /// Checks a request's `Host` (and request-target authority) and `Origin`: `Ok`, or the
    /// `403` to answer with (`host_not_allowed`, `origin_not_allowed`).
    pub fn admit(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
        if let Some(hosts) = &self.hosts
            && !hosts_allowed(hosts, uri, headers)
        {
            tracing::warn!(
                host = ?headers.get(header::HOST),
                "refused a request whose Host is not allowed (possible DNS rebinding)"
            );
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "host_not_allowed",
                self.hosts_reason,
            ));
        }
        let mut origins = headers.get_all(header::ORIGIN).iter();
        if let Some(origin) = origins.next() {
            let allowed = origins.next().is_none()
                && origin
                    .to_str()
                    .ok()
                    .and_then(Origin::parse)
                    .is_some_and(|o| self.origins.iter().any(|p| p.matches(&o)));
            if !allowed {
                tracing::warn!(
                    ?origin,
                    "refused a request from an Origin that is not allowed"
                );
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "origin_not_allowed",
                    "this Origin is not in gateway.allowed_origins",
                ));
            }
        }
        Ok(())
    }
}

/// Whether every host the request names is allowed, and it names at least one: the one
/// `Host` header and, in an absolute-form request, the target's authority.
fn hosts_allowed(hosts: &[HostPattern], uri: &Uri, headers: &HeaderMap) -> bool {
    let allowed = |value: &str| {
        let Some(authority) = Authority::split(value) else {
            return false;
        };
        let port = match authority.port {
            None | Some("") => None,
            Some(port) => match port.parse::<u16>() {
                Ok(port) => Some(port),
                Err(_) => return false,
            },
        };
        hosts.iter().any(|h| h.matches(&authority, port))
    };
    let mut values = headers.get_all(header::HOST).iter();
    let host = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(one), None) => match one.to_str() {
            Ok(one) => Some(one),
            Err(_) => return false,
        },
        (Some(_), Some(_)) => return false,
    };
    let target = uri.authority().map(|a| a.as_str());
    if host.is_none() && target.is_none() {
        return false;
    }
    host.is_none_or(allowed) && target.is_none_or(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn door(hosts: Option<&[&str]>, keyed: bool, origins: &[&str]) -> Door {
        let hosts: Option<Vec<HostPattern>> =
            hosts.map(|h| h.iter().map(|h| HostPattern::parse(h).unwrap()).collect());
        let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
        Door::new(hosts.as_deref(), keyed, &origins)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    /// The refusal's code, or `None` when admitted.
    fn refusal(door: &Door, pairs: &[(&'static str, &str)]) -> Option<&'static str> {
        door.admit(&Uri::from_static("/mcp"), &headers(pairs))
            .err()
            .map(|e| {
                assert_eq!(e.status, StatusCode::FORBIDDEN);
                e.code
            })
    }

    #[test]
    fn keyless_gateways_answer_to_loopback_names_only() {
        let d = door(None, false, DEFAULT_ALLOWED_ORIGINS);
        for host in [
            "localhost",
            "localhost:4000",
            "LocalHost:1",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:4000",
            "[0:0:0:0:0:0:0:1]:4000",
        ] {
            assert_eq!(refusal(&d, &[("host", host)]), None, "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:4000",
            "localhost.evil.example",
            "127.0.0.2:1",
            "10.0.0.1",
            "[::2]",
            "::1",
            "[localhost]",
            "localhost:99999",
            "localhost:x",
            "",
        ] {
            assert_eq!(
                refusal(&d, &[("host", host)]),
                Some("host_not_allowed"),
                "{host}"
            );
        }
        // No host at all, or two of them.
        assert_eq!(refusal(&d, &[]), Some("host_not_allowed"));
        assert_eq!(
            refusal(&d, &[("host", "localhost"), ("host", "evil.example")]),
            Some("host_not_allowed")
        );
        // An absolute-form target must name an allowed host too.
        let uri = Uri::from_static("http://evil.example/mcp");
        assert!(d.admit(&uri, &headers(&[("host", "localhost")])).is_err());
        let uri = Uri::from_static("http://localhost:4000/mcp");
        assert!(d.admit(&uri, &HeaderMap::new()).is_ok());
    }

    #[test]
    fn a_master_key_alone_accepts_any_host_but_a_list_still_applies() {
        let d = door(None, true, DEFAULT_ALLOWED_ORIGINS);
        assert_eq!(refusal(&d, &[("host", "gateway.example.com")]), None);
        assert_eq!(refusal(&d, &[]), None);
        let list = [
            "gateway.example.com",
            "10.0.0.5:8443",
            "[fd00::1]:*",
            "api.example:*",
        ];
        for keyed in [false, true] {
            let d = door(Some(&list), keyed, DEFAULT_ALLOWED_ORIGINS);
            for host in [
                "gateway.example.com",
                "GATEWAY.example.com:443",
                "10.0.0.5:8443",
                "[fd00::1]:1",
                "api.example",
            ] {
                assert_eq!(refusal(&d, &[("host", host)]), None, "{host}");
            }
            for host in [
                "localhost:4000",
                "10.0.0.5",
                "10.0.0.5:80",
                "evil.example",
                "[fd00::2]",
            ] {
                assert_eq!(
                    refusal(&d, &[("host", host)]),
                    Some("host_not_allowed"),
                    "{host}"
                );
            }
        }
    }

    #[test]
    fn origins_must_be_allowed_when_present() {
        let d = door(None, true, DEFAULT_ALLOWED_ORIGINS);
        assert_eq!(refusal(&d, &[("origin", "http://localhost:3000")]), None);
        for origin in [
            "https://evil.example",
            "http://evil.example:4000",
            "https://localhost:3000",
            "null",
            "not an origin",
        ] {
            assert_eq!(
                refusal(&d, &[("origin", origin)]),
                Some("origin_not_allowed"),
                "{origin}"
            );
        }
        assert_eq!(
            refusal(
                &d,
                &[
                    ("origin", "http://localhost:1"),
                    ("origin", "http://localhost:2")
                ]
            ),
            Some("origin_not_allowed")
        );
        // Host is checked first.
        let d = door(None, false, DEFAULT_ALLOWED_ORIGINS);
        assert_eq!(
            refusal(
                &d,
                &[
                    ("host", "evil.example:4000"),
                    ("origin", "http://evil.example:4000")
                ]
            ),
            Some("host_not_allowed")
        );
        assert_eq!(
            refusal(
                &d,
                &[
                    ("host", "127.0.0.1:4000"),
                    ("origin", "http://evil.example:4000")
                ]
            ),
            Some("origin_not_allowed")
        );
    }

    fn origin_allowed(origin: &str, list: &[&str]) -> bool {
        let origin = Origin::parse(origin);
        list.iter().any(|entry| {
            OriginPattern::parse(entry).is_ok_and(|p| origin.as_ref().is_some_and(|o| p.matches(o)))
        })
    }

    #[test]
    fn origins_match_like_rmcp() {
        let defaults = DEFAULT_ALLOWED_ORIGINS;
        assert!(origin_allowed("http://localhost:3000", defaults));
        assert!(origin_allowed("http://127.0.0.1:8080", defaults));
        assert!(origin_allowed("http://[::1]:5173", defaults));
        assert!(origin_allowed("http://LOCALHOST:1", defaults));
        assert!(!origin_allowed("https://localhost:3000", defaults));
        assert!(!origin_allowed("https://evil.example", defaults));
        assert!(!origin_allowed(
            "http://localhost.evil.example:3000",
            defaults
        ));
        assert!(!origin_allowed("null", defaults));
        assert!(!origin_allowed("not an origin", defaults));

        let list = ["https://app.example:443", "https://other.example", "null"];
        assert!(origin_allowed("https://app.example", &list));
        assert!(origin_allowed("https://app.example:443", &list));
        assert!(!origin_allowed("https://app.example:8443", &list));
        assert!(origin_allowed("https://other.example:8443", &list));
        assert!(origin_allowed("null", &list));
        assert!(!origin_allowed("http://app.example", &list));
        assert!(!origin_allowed("http://localhost:3000", &[]));
    }

    #[test]
    fn origin_entries_are_validated() {
        for good in [
            "https://app.example:443",
            "http://localhost:*",
            "null",
            "https://a.example/",
        ] {
            assert!(OriginPattern::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "app.example",
            "https://app.example:443:*",
            "null:*",
            "",
            "*",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_entries_are_validated() {
        for (entry, host, port) in [
            ("localhost", Host::Name("localhost".into()), None),
            (
                "Gateway.Example.com:8443",
                Host::Name("gateway.example.com".into()),
                Some(8443),
            ),
            (
                "gateway.example.com:*",
                Host::Name("gateway.example.com".into()),
                None,
            ),
            ("10.0.0.5", Host::Ip("10.0.0.5".parse().unwrap()), None),
            ("[::1]:4000", Host::Ip("::1".parse().unwrap()), Some(4000)),
            ("[::1]:*", Host::Ip("::1".parse().unwrap()), None),
            ("::1", Host::Ip("::1".parse().unwrap()), None),
            (" my_host ", Host::Name("my_host".into()), None),
        ] {
            assert_eq!(
                HostPattern::parse(entry),
                Ok(HostPattern { host, port }),
                "{entry}"
            );
        }
        for bad in [
            "",
            "  ",
            "*",
            "*.example.com",
            "example.com:**",
            "http://example.com",
            "example.com/mcp",
            "user@example.com",
            "example.com:0",
            "example.com:65536",
            "example.com:http",
            "exa mple.com",
            "example..com",
            "[not-v6]",
            "[::1]x",
            "::1:4000:",
            "a:b:c",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
