//! The gateway as an OAuth protected resource (the MCP authorization spec, RFC 9728 and
//! RFC 8707): the canonical URI of each endpoint, which a JWT's audience must name, and
//! the Protected Resource Metadata that tells a client which authorization server issues
//! tokens for it — at `/.well-known/oauth-protected-resource` (the gateway as a whole)
//! and its path-suffixed forms (`…/mcp`, `…/mcp/servers/{id}/mcp`, `…/sse`). Served only
//! with `gateway.auth.jwt` configured.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Request, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::ApiError;
use crate::{config::Settings, gateway::Gateway};

pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The gateway's base URL as a request reached it: `gateway.public_url`, else
/// `http://<Host>` (the Host rule has vetted the name by then).
pub fn base_url(settings: &Settings, headers: &HeaderMap) -> String {
    if let Some(url) = &settings.public_url {
        return url.as_str().trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// The path of the resource a request path belongs to: each `/mcp/servers/{id}/mcp` is a
/// resource of its own, `/sse` and its `/messages` one, and `/mcp` (the aggregate
/// endpoint and the REST routes under it) another.
pub fn resource_path(path: &str) -> &str {
    let server_id = path
        .strip_prefix("/mcp/servers/")
        .and_then(|rest| rest.strip_suffix("/mcp"));
    if server_id.is_some_and(|id| !id.is_empty() && !id.contains('/')) {
        return path;
    }
    match path {
        "/sse" | "/messages" => "/sse",
        _ => "/mcp",
    }
}

/// The URIs a token presented at `path` may be issued for: the endpoint's canonical URI
/// and the gateway's base URL (the resource the root metadata describes).
pub fn audiences_for(base: &str, path: &str) -> [String; 2] {
    [format!("{base}{}", resource_path(path)), base.to_owned()]
}

/// Where the metadata of the resource at `path` is.
pub fn metadata_url(base: &str, path: &str) -> String {
    format!("{base}{METADATA_PATH}{}", resource_path(path))
}

/// `GET /.well-known/oauth-protected-resource[/<resource path>]`.
pub(crate) async fn metadata(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let Some(jwt) = &gateway.settings.jwt else {
        return not_found(request.uri().path());
    };
    let suffix = request
        .uri()
        .path()
        .strip_prefix(METADATA_PATH)
        .unwrap_or_default();
    let is_resource = suffix.is_empty() || resource_path(suffix) == suffix;
    if !is_resource || suffix.contains("//") {
        return not_found(request.uri().path());
    }
    let base = base_url(&gateway.settings, request.headers());
    let mut body = json!({
        "resource": format!("{base}{suffix}"),
        "authorization_servers": jwt.authorization_servers,
        "bearer_methods_supported": ["header"],
        "resource_name": "mcp-gateway",
    });
    if !jwt.scopes_supported.is_empty() {
        body["scopes_supported"] = json!(jwt.scopes_supported);
    }
    Json(body).into_response()
}

fn not_found(path: &str) -> Response {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {path}"),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_endpoint_is_a_resource() {
        assert_eq!(resource_path("/mcp"), "/mcp");
        assert_eq!(resource_path("/mcp/tools/call"), "/mcp");
        assert_eq!(
            resource_path("/mcp/servers/git/mcp"),
            "/mcp/servers/git/mcp"
        );
        assert_eq!(resource_path("/mcp/servers/git"), "/mcp");
        assert_eq!(resource_path("/mcp/servers/a/b/mcp"), "/mcp");
        assert_eq!(resource_path("/messages"), "/sse");
        assert_eq!(
            audiences_for("http://gw", "/mcp/servers/a/mcp"),
            [
                "http://gw/mcp/servers/a/mcp".to_owned(),
                "http://gw".to_owned()
            ]
        );
        assert_eq!(
            metadata_url("http://gw", "/messages"),
            "http://gw/.well-known/oauth-protected-resource/sse"
        );
    }
}
