//! The REST API of the seed (`/mcp/servers`, `/mcp/tools`, `/mcp/resources`, …) and the
//! health routes. Admin routes need `Authorization: Bearer <master_key>` when a key is set.

pub mod audit;
mod body;
mod catalog;
pub mod error;
mod health;
pub mod limits;
mod servers;

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{StatusCode, Uri, header},
    middleware::{self, Next},
    response::Response,
    routing::{get, post},
};

use crate::{downstream::HotPath, gateway::Gateway, secret::keys_match};

pub(crate) use body::body_error;
pub use body::{JsonBody, parse as parse_body};
pub use error::ApiError;

/// The whole HTTP surface of the gateway.
pub fn router(gateway: Arc<Gateway>) -> Router {
    app(gateway).0
}

/// The whole HTTP surface of the gateway, and the hot path for `POST /mcp` that serves the
/// same endpoint without the router (`None` with the MCP routes disabled).
pub fn app(gateway: Arc<Gateway>) -> (Router, Option<Arc<HotPath>>) {
    let max_body = gateway.settings.max_body_bytes;
    let enabled = gateway.settings.mcp_enabled;
    let timeout = gateway.settings.request_timeout;
    let handler_timeout = middleware::from_fn_with_state(timeout, limits::handler_timeout);
    let mut hot_path = None;
    let mut app = Router::new()
        .route("/health/liveliness", get(health::liveliness))
        .route("/health/liveness", get(health::liveliness))
        .route("/health/readiness", get(health::readiness))
        .route_layer(handler_timeout.clone());
    if enabled {
        let admin = Router::new()
            .route("/mcp/servers", get(servers::list).post(servers::create))
            .route(
                "/mcp/servers/{server_id}",
                get(servers::get)
                    .put(servers::replace)
                    .delete(servers::remove),
            )
            .route("/mcp/tools", get(catalog::tools))
            .route("/mcp/resources", get(catalog::resources))
            .route("/mcp/prompts", get(catalog::prompts))
            .route_layer(handler_timeout)
            // Bounded by the called server's own timeout_secs instead.
            .route("/mcp/tools/call", post(catalog::call_tool))
            .route_layer(middleware::from_fn_with_state(gateway.clone(), require_key));
        let (mcp, hot) = crate::downstream::routes(gateway.clone());
        app = app.merge(admin).merge(mcp);
        hot_path = Some(hot);
    }
    let router = app
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(
            timeout,
            limits::body_deadline,
        ))
        .with_state(gateway);
    (router, hot_path)
}

/// Checks `Authorization: Bearer <master_key>` in constant time. Without a configured key
/// the gateway listens on loopback only and admin routes are open to local callers.
pub(crate) async fn require_key(
    State(gateway): State<Arc<Gateway>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let who = match authenticate(&gateway, request.headers()) {
        Ok(who) => who,
        Err(error) => {
            if let Some((action, target)) = audit::change_of(request.method(), request.uri().path())
            {
                let caller = audit::Caller::new(request.extensions());
                audit::change(&caller, action, &target, Err((error.status, error.code)));
            }
            return Err(error);
        }
    };
    request.extensions_mut().insert(audit::Authenticated(who));
    Ok(next.run(request).await)
}

/// Who the caller is (`master_key`, or `loopback` on a keyless gateway), or 401.
pub(crate) fn authenticate(
    gateway: &Gateway,
    headers: &axum::http::HeaderMap,
) -> Result<&'static str, ApiError> {
    let Some(key) = &gateway.settings.master_key else {
        return Ok("loopback");
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    if presented.is_some_and(|p| keys_match(p, key)) {
        Ok("master_key")
    } else {
        Err(ApiError::unauthorized())
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn fallback(State(gateway): State<Arc<Gateway>>, uri: Uri) -> ApiError {
    let path = uri.path();
    let mcp_route =
        path == "/mcp" || path.starts_with("/mcp/") || path == "/sse" || path == "/messages";
    if !gateway.settings.mcp_enabled && mcp_route {
        return ApiError::disabled();
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {}", uri.path()),
    )
}

async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept this method", uri.path()),
    )
}

#[cfg(test)]
mod tests;
