//! The MCP endpoints downstream clients use:
//! * `/mcp` — every registered server, names prefixed `<server_id>__`;
//! * `/mcp/servers/{server_id}/mcp` — one server, names unprefixed.
//!
//! Both speak streamable HTTP in both protocol eras through rmcp's server transport
//! (sessions with `Mcp-Session-Id` for 2024-11-05 … 2025-11-25, stateless requests for
//! 2026-07-28); [`server::GatewayServer`] answers every request from the registry.

mod bridge;
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

/// One MCP endpoint: rmcp's streamable HTTP service and its session table.
#[derive(Clone)]
struct Endpoint {
    service: McpService,
    sessions: Arc<LocalSessionManager>,
    max_sessions: usize,
}

impl Endpoint {
    /// A streamable HTTP MCP endpoint for one scope.
    fn new(gateway: &Arc<Gateway>, scope: Scope) -> Self {
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
        let mut sessions = LocalSessionManager::default();
        sessions.session_config.keep_alive = Some(settings.session_ttl);
        let sessions = Arc::new(sessions);
        let gateway = gateway.clone();
        let service = StreamableHttpService::new(
            move || Ok(GatewayServer::new(gateway.clone(), scope.clone())),
            sessions.clone(),
            config,
        );
        Self {
            service,
            sessions,
            max_sessions: settings.max_sessions,
        }
    }

    async fn handle(self, request: Request<Body>) -> Response {
        if self.opens_session(&request)
            && self.sessions.sessions.read().await.len() >= self.max_sessions
        {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_sessions",
                format!(
                    "the gateway holds its maximum of {} MCP sessions; retry later",
                    self.max_sessions
                ),
            )
            .into_response();
        }
        match self.service.oneshot(request).await {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        }
    }

    /// A session-era `initialize`: a POST with neither a session id nor the per-request
    /// `Mcp-Method` header of the stateless 2026-07-28 revision.
    fn opens_session(&self, request: &Request<Body>) -> bool {
        request.method() == axum::http::Method::POST
            && !request.headers().contains_key("mcp-session-id")
            && !request.headers().contains_key("mcp-method")
    }
}

/// Origins browsers may call the MCP endpoints from unless the operator lists others.
pub const DEFAULT_ALLOWED_ORIGINS: &[&str] =
    &["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

/// The MCP routes, for merging into the gateway's router.
pub fn routes(gateway: Arc<Gateway>) -> Router<Arc<Gateway>> {
    let aggregate = Endpoint::new(&gateway, Scope::All);
    let per_server = Arc::new(PerServer::default());
    Router::new()
        .route(
            "/mcp",
            axum::routing::any(move |request| aggregate.clone().handle(request)),
        )
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

/// One MCP service (with its sessions) per server endpoint, created on first use.
#[derive(Default)]
struct PerServer(Mutex<HashMap<String, Endpoint>>);

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
    let endpoint = {
        let mut map = services.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(server_id.clone())
            .or_insert_with(|| Endpoint::new(&gateway, Scope::Server(server_id.as_str().into())))
            .clone()
    };
    endpoint.handle(request).await
}
