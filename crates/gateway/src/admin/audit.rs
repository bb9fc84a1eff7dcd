//! The audit log: one structured `tracing` event on target `mcp_gateway::audit` for every
//! admin change (register, update, delete), whether it succeeded or was refused (401,
//! 403, 409, 422, …; the front door's `host_not_allowed` and `origin_not_allowed` too).
//!
//! Fields: `action` (`register` | `update` | `delete` for servers, `create_key` |
//! `update_key` | `delete_key` for API keys, `create_policy` | `replace_policy` |
//! `delete_policy` for policies, `approve_tool` for held tools), `server_id`,
//! `transport`, `url` (without userinfo, query or fragment), `key_id`, `policy`, `tool`,
//! `caller` (`master_key` when a master key is
//! configured and was presented, `loopback` when none is configured, `key:<key_id>` for an
//! API key (refused: admin changes need the master key), `anonymous` for a
//! refused key or a request refused before authentication), `client` (the peer address,
//! when the listener provides it), `outcome` (`ok` | `refused`), `status` and, when
//! refused, `error` (the error code). The event's timestamp is the log line's. Never a
//! secret: no `auth_value`, header or env value, no presented key.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{Method, StatusCode, request::Parts},
};

use crate::model::ServerRecord;

/// The `tracing` target of audit events (filter with `mcp_gateway::audit=info`).
pub const TARGET: &str = "mcp_gateway::audit";

/// Who made an admin request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `master_key`, `loopback` or `anonymous`.
    pub who: std::borrow::Cow<'static, str>,
    /// The client's address, when the server was started with connect info.
    pub client: Option<SocketAddr>,
}

impl Caller {
    pub(crate) fn from_parts(parts: &axum::http::request::Parts) -> Self {
        Self::new(&parts.extensions)
    }

    pub(crate) fn new(extensions: &axum::http::Extensions) -> Self {
        Self {
            who: extensions
                .get::<crate::access::Identity>()
                .map_or("anonymous".into(), |who| who.principal().to_owned().into()),
            client: extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| *addr),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}

/// What a change was about, as far as it is known (a body that did not parse names nothing).
#[derive(Debug, Default, Clone)]
pub struct Target {
    pub server_id: Option<String>,
    pub transport: Option<&'static str>,
    pub url: Option<String>,
    /// An API key's id (key changes).
    pub key_id: Option<String>,
    /// A policy's name (policy changes).
    pub policy: Option<String>,
    /// A tool's name upstream (approvals of held tools).
    pub tool: Option<String>,
}

impl Target {
    pub fn key(key_id: &str) -> Self {
        Self {
            key_id: Some(key_id.to_owned()),
            ..Self::default()
        }
    }

    pub fn policy(name: &str) -> Self {
        Self {
            policy: Some(name.to_owned()),
            ..Self::default()
        }
    }

    pub fn tool(server_id: &str, tool: &str) -> Self {
        Self {
            server_id: Some(server_id.to_owned()),
            tool: Some(tool.to_owned()),
            ..Self::default()
        }
    }

    pub fn id(server_id: &str) -> Self {
        Self {
            server_id: Some(server_id.to_owned()),
            ..Self::default()
        }
    }

    pub fn of(record: &ServerRecord) -> Self {
        Self {
            server_id: (!record.server_id.is_empty()).then(|| record.server_id.clone()),
            transport: Some(record.transport_kind().as_str()),
            url: record.url.as_deref().map(redact_url),
            ..Self::default()
        }
    }
}

/// The admin change a request asks for, by method and path; `None` for anything else.
pub(crate) fn change_of(method: &Method, path: &str) -> Option<(&'static str, Target)> {
    if path == "/mcp/servers" && method == Method::POST {
        return Some(("register", Target::default()));
    }
    if path == "/mcp/keys" && method == Method::POST {
        return Some(("create_key", Target::default()));
    }
    if path == "/mcp/policies" && method == Method::POST {
        return Some(("create_policy", Target::default()));
    }
    if let Some(name) = path.strip_prefix("/mcp/policies/") {
        let action = match *method {
            Method::PUT => "replace_policy",
            Method::DELETE => "delete_policy",
            _ => return None,
        };
        return (!name.is_empty() && !name.contains('/')).then(|| (action, Target::policy(name)));
    }
    if let Some(id) = path.strip_prefix("/mcp/keys/") {
        let action = match *method {
            Method::PATCH => "update_key",
            Method::DELETE => "delete_key",
            _ => return None,
        };
        return (!id.is_empty() && !id.contains('/')).then(|| (action, Target::key(id)));
    }
    let id = path.strip_prefix("/mcp/servers/")?;
    if let Some((id, rest)) = id.split_once("/tools/")
        && let Some(tool) = rest.strip_suffix("/approve")
    {
        let named = |s: &str| !s.is_empty() && !s.contains('/');
        return (method == Method::POST && named(id) && named(tool))
            .then(|| ("approve_tool", Target::tool(id, tool)));
    }
    if id.is_empty() || id.contains('/') {
        return None;
    }
    let action = match *method {
        Method::PUT => "update",
        Method::DELETE => "delete",
        _ => return None,
    };
    Some((action, Target::id(id)))
}

/// Audits a request the front door refused (foreign `Host` or `Origin`, no key) when it
/// asked for an admin change; other requests change nothing and are not audited.
pub(crate) fn refused(request: &axum::extract::Request, error: &crate::front::ApiError) {
    if let Some((action, target)) = change_of(request.method(), request.uri().path()) {
        let caller = Caller::new(request.extensions());
        change(&caller, action, &target, Err((error.status, error.code)));
    }
}

/// Emits the audit event of one admin change.
pub fn change(
    caller: &Caller,
    action: &'static str,
    target: &Target,
    outcome: Result<StatusCode, (StatusCode, &'static str)>,
) {
    let dash = "-";
    let server_id = target.server_id.as_deref().unwrap_or(dash);
    let transport = target.transport.unwrap_or(dash);
    let url = target.url.as_deref().unwrap_or(dash);
    let key_id = target.key_id.as_deref().unwrap_or(dash);
    let policy = target.policy.as_deref().unwrap_or(dash);
    let tool = target.tool.as_deref().unwrap_or(dash);
    let client = caller
        .client
        .map_or_else(|| dash.to_owned(), |a| a.to_string());
    match outcome {
        Ok(status) => tracing::info!(
            target: TARGET,
            action,
            server_id,
            transport,
            url,
            key_id,
            policy,
            tool,
            caller = ?caller.who,
            client,
            outcome = "ok",
            status = status.as_u16(),
            "admin change"
        ),
        Err((status, error)) => tracing::warn!(
            target: TARGET,
            action,
            server_id,
            transport,
            url,
            key_id,
            policy,
            tool,
            caller = ?caller.who,
            client,
            outcome = "refused",
            status = status.as_u16(),
            error,
            "admin change refused"
        ),
    }
}

/// An admin change under way: [`Pending::finish`] emits its event; one dropped before it
/// finished (the request timed out, the client went away) emits `outcome="abandoned"` —
/// the change itself still completes or fails as a whole (`Gateway::register`), and its
/// own log line says which.
pub struct Pending {
    caller: Caller,
    action: &'static str,
    target: Target,
    finished: bool,
}

impl Pending {
    pub fn new(caller: Caller, action: &'static str, target: Target) -> Self {
        Self {
            caller,
            action,
            target,
            finished: false,
        }
    }

    pub fn finish(mut self, outcome: Result<StatusCode, (StatusCode, &'static str)>) {
        self.finished = true;
        change(&self.caller, self.action, &self.target, outcome);
    }

    /// Emits the event of a change's `result` (`ok` is its status when it succeeded) and
    /// passes the result on.
    pub fn conclude<T>(
        self,
        result: Result<T, crate::front::ApiError>,
        ok: StatusCode,
    ) -> Result<T, crate::front::ApiError> {
        self.finish(match &result {
            Ok(_) => Ok(ok),
            Err(e) => Err((e.status, e.code)),
        });
        result
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.finished {
            tracing::warn!(
                target: TARGET,
                action = self.action,
                server_id = self.target.server_id.as_deref().unwrap_or("-"),
                transport = self.target.transport.unwrap_or("-"),
                url = self.target.url.as_deref().unwrap_or("-"),
                key_id = self.target.key_id.as_deref().unwrap_or("-"),
                policy = self.target.policy.as_deref().unwrap_or("-"),
                tool = self.target.tool.as_deref().unwrap_or("-"),
                caller = ?self.caller.who,
                client = self.caller.client.map_or_else(|| "-".to_owned(), |a| a.to_string()),
                outcome = "abandoned",
                "admin change abandoned by its request (it may still complete)"
            );
        }
    }
}

/// A URL without userinfo, query and fragment (where tokens hide).
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials_and_queries() {
        assert_eq!(
            redact_url("https://u:pw@h.example:8443/mcp?token=t#frag"),
            "https://h.example:8443/mcp"
        );
        assert_eq!(redact_url("http://h/mcp"), "http://h/mcp");
        assert_eq!(redact_url("not a url with secret"), "(not a URL)");
    }

    #[test]
    fn an_abandoned_change_is_still_recorded() {
        let caller = Caller {
            who: "master_key".into(),
            client: Some("127.0.0.1:5000".parse().unwrap()),
        };
        // A second live dispatcher: see `admin_changes_are_audited_without_secrets`.
        let _second = tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .with_writer(std::io::sink)
                .finish(),
        );
        let (captured, guard) = mcp_gateway_testkit::CapturedLogs::text(tracing::Level::INFO);
        drop(Pending::new(caller.clone(), "register", Target::id("gone")));
        Pending::new(caller, "delete", Target::id("done")).finish(Ok(StatusCode::OK));
        drop(guard);
        let out = captured.contents();
        let lines: Vec<&str> = out.lines().filter(|l| l.contains(TARGET)).collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(
            lines[0].contains("outcome=\"abandoned\"") && lines[0].contains("\"gone\""),
            "{out}"
        );
        assert!(lines[1].contains("outcome=\"ok\"") && lines[1].contains("127.0.0.1:5000"));
    }

    #[test]
    fn changes_by_route() {
        let c = |m: Method, p: &str| change_of(&m, p).map(|(a, t)| (a, t.server_id));
        assert_eq!(c(Method::POST, "/mcp/servers"), Some(("register", None)));
        assert_eq!(
            c(Method::PUT, "/mcp/servers/a"),
            Some(("update", Some("a".into())))
        );
        assert_eq!(
            c(Method::DELETE, "/mcp/servers/a"),
            Some(("delete", Some("a".into())))
        );
        assert_eq!(c(Method::GET, "/mcp/servers/a"), None);
        assert_eq!(c(Method::POST, "/mcp/servers/a/mcp"), None);
        assert_eq!(c(Method::POST, "/mcp/tools/call"), None);
    }
}
