//! The MCP endpoints downstream clients use:
//! * `/mcp` — every registered server, names prefixed `<server_id>__`;
//! * `/mcp/servers/{server_id}/mcp` — one server, names unprefixed.
//!
//! Both speak streamable HTTP in both protocol eras through rmcp's server transport
//! (sessions with `Mcp-Session-Id` for 2024-11-05 … 2025-11-25, stateless requests for
//! 2026-07-28); [`server::GatewayServer`] answers every request from the registry.

mod changes;
mod error;
mod server;
mod sse;
mod view;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{Path, Request, State},
    http::StatusCode,
    middleware,
    response::{IntoResponse, Response},
    routing::any_service,
};
use rmcp::transport::{
    StreamableHttpServerConfig, StreamableHttpService,
    streamable_http_server::session::local::LocalSessionManager,
};
use tower::ServiceExt;

use crate::{admin::ApiError, gateway::Gateway};

pub use server::GatewayServer;
pub use view::Scope;

type McpService = StreamableHttpService<GatewayServer, LocalSessionManager>;

/// Origins browsers may call the MCP endpoints from unless the operator lists others.
pub const DEFAULT_ALLOWED_ORIGINS: &[&str] =
    &["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

/// The MCP routes, for merging into the gateway's router.
pub fn routes(gateway: Arc<Gateway>) -> Router<Arc<Gateway>> {
    let aggregate = service(&gateway, Scope::All);
    let per_server = Arc::new(PerServer::default());
    Router::new()
        .route_service("/mcp", any_service(aggregate))
        .route(
            "/mcp/servers/{server_id}/mcp",
            axum::routing::any(move |state, path, request| {
                one_server(state, path, request, per_server.clone())
            }),
        )
        // The legacy HTTP+SSE transport: `GET /sse`, `POST /messages?sessionId=…`.
        .merge(sse::routes(&gateway))
        .route_layer(middleware::from_fn(session_delete_status))
        .route_layer(middleware::from_fn_with_state(
            gateway,
            crate::admin::require_key,
        ))
}

/// rmcp answers a session DELETE with 202; clients (the Python SDK among them) expect the
/// 200 or 204 that a completed termination deserves, and warn otherwise.
async fn session_delete_status(request: Request, next: middleware::Next) -> Response {
    let is_delete = request.method() == axum::http::Method::DELETE;
    let mut response = next.run(request).await;
    if is_delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::OK;
    }
    response
}

/// A streamable HTTP MCP service for one scope.
fn service(gateway: &Arc<Gateway>, scope: Scope) -> McpService {
    let settings = &gateway.settings;
    let mut config = StreamableHttpServerConfig::default()
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        .with_max_request_body_bytes(settings.max_body_bytes)
        .with_cancellation_token(gateway.shutdown_token().child_token())
        .with_allowed_origins(settings.allowed_origins.iter().cloned())
        .enforce_origin_validation();
    // Host validation guards local, keyless gateways against DNS rebinding; a gateway
    // reachable from elsewhere is protected by its key instead.
    config = if settings.master_key.is_some() {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(["localhost", "127.0.0.1", "::1"])
    };
    let gateway = gateway.clone();
    let sessions = Arc::new(LocalSessionManager::default());
    StreamableHttpService::new(
        move || Ok(GatewayServer::new(gateway.clone(), scope.clone())),
        sessions,
        config,
    )
}

/// One MCP service (with its sessions) per server endpoint, created on first use.
#[derive(Default)]
struct PerServer(Mutex<HashMap<String, McpService>>);

async fn one_server(
    State(gateway): State<Arc<Gateway>>,
    Path(server_id): Path<String>,
    request: Request<Body>,
    services: Arc<PerServer>,
) -> Response {
    if gateway.registry.get(&server_id).is_none() {
        services
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&server_id);
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "server_not_found",
            format!("server {server_id:?} is not registered"),
        )
        .into_response();
    }
    let service = {
        let mut map = services.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(server_id.clone())
            .or_insert_with(|| service(&gateway, Scope::Server(server_id.as_str().into())))
            .clone()
    };
    match service.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}
