//! The MCP endpoints downstream clients use:
//! * `/mcp` — every registered server, names prefixed `<server_id>__`;
//! * `/mcp/servers/{server_id}/mcp` — one server, names unprefixed.
//!
//! Both speak streamable HTTP in both protocol eras: sessions with `Mcp-Session-Id` for
//! 2024-11-05 … 2025-11-25, which the gateway opens and serves itself (rmcp's transport
//! only frames their messages), and stateless requests for 2026-07-28. Every request goes
//! through the session's [`relay::Relay`] (docs/ARCHITECTURE.md, "One relay").

mod bridge;
mod changes;
pub(crate) mod direct;
mod error;
pub(crate) mod owned;
mod relay;
mod server;
pub mod session_store;
mod sse;
pub(crate) mod stream_session;
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
    response::{IntoResponse, Response},
};
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tower::ServiceExt;

use crate::protocol::header;
use crate::{front::ApiError, gateway::Gateway};

pub(crate) use changes::SessionWatch;
pub use server::GatewayServer;
pub use view::{PAGE_SIZE, Scope};

use direct::{DirectLane, sessions::TrackedSessions};

type McpService = StreamableHttpService<GatewayServer, TrackedSessions>;

/// One MCP endpoint: rmcp's streamable HTTP service, its session table and its direct
/// lane for plain tool calls. Shared by every request (cloning rmcp's service, with its
/// configuration, costs allocations that only the requests rmcp answers need).
struct Endpoint {
    service: McpService,
    sessions: Arc<TrackedSessions>,
    direct: Arc<DirectLane>,
    max_sessions: usize,
}

impl Endpoint {
    /// A streamable HTTP MCP endpoint for one scope.
    fn new(gateway: &Arc<Gateway>, scope: Scope) -> Self {
        let settings = &gateway.settings;
        let config = StreamableHttpServerConfig::default()
            .with_sse_keep_alive(Some(Duration::from_secs(15)))
            .with_max_request_body_bytes(settings.max_body_bytes)
            .with_cancellation_token(gateway.shutdown_token().child_token())
            // Host and Origin are the front door's rule (`front::host_origin`), applied
            // before any request gets here: rmcp's copy of it stays off.
            .disable_allowed_hosts()
            .disable_allowed_origins();
        let sessions = TrackedSessions::new(gateway, scope.clone());
        let direct = Arc::new(DirectLane::new(
            gateway.clone(),
            scope.clone(),
            sessions.clone(),
        ));
        let gateway = gateway.clone();
        let service = StreamableHttpService::new(
            move || Ok(GatewayServer::new(gateway.clone(), scope.clone())),
            sessions.clone(),
            config,
        );
        Self {
            service,
            sessions,
            direct,
            max_sessions: settings.max_sessions,
        }
    }

    async fn handle(&self, request: Request<Body>) -> Response {
        if self.opens_session(&request) && self.sessions.len() >= self.max_sessions {
            return self.full();
        }
        if self.someone_elses_session(&request) {
            return session_not_found();
        }
        let request = if request.method() == axum::http::Method::POST {
            // Boxed: the lane's future is large, and every enclosing future (the front
            // door's, hyper's) would otherwise carry and copy it on every request.
            match Box::pin(self.direct.try_answer(request)).await {
                direct::Handled::Answered(response) => return response,
                direct::Handled::Pass(request) => request,
            }
        } else {
            request
        };
        if let Some(unknown) = self.deletes_unknown_session(&request) {
            return unknown;
        }
        let is_delete = request.method() == axum::http::Method::DELETE;
        // rmcp's service, for what the direct lane does not take: boxed, so that its large
        // future is no part of every request's.
        let mut response = match Box::pin(self.service.clone().oneshot(request)).await {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        };
        // rmcp answers a session DELETE with 202; clients (the Python SDK among them)
        // expect the 200 or 204 that a completed termination deserves, and warn otherwise.
        if is_delete && response.status() == StatusCode::ACCEPTED {
            *response.status_mut() = StatusCode::OK;
        }
        response
    }

    /// 503: no room for another session.
    fn full(&self) -> Response {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_sessions",
            format!(
                "the gateway holds its maximum of {} MCP sessions; retry later",
                self.max_sessions
            ),
        )
        .into_response()
    }

    /// A `DELETE` of a session that does not exist gets 404 (rmcp would answer 202).
    fn deletes_unknown_session(&self, request: &Request<Body>) -> Option<Response> {
        if request.method() != axum::http::Method::DELETE {
            return None;
        }
        let id = request.headers().get(header::SESSION_ID)?.to_str().ok()?;
        (!self.sessions.contains(id)).then(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "session_not_found",
                "no such MCP session (it may have ended or expired)",
            )
            .into_response()
        })
    }

    /// Whether the request names a session that another identity opened: a session is
    /// used only with the credential that opened it, and anyone else is answered as
    /// for a session that does not exist.
    fn someone_elses_session(&self, request: &Request<Body>) -> bool {
        let Some(id) = request.headers().get(header::SESSION_ID) else {
            return false;
        };
        let Ok(id) = id.to_str() else {
            return false;
        };
        let principal = request
            .extensions()
            .get::<crate::access::Identity>()
            .map_or("", crate::access::Identity::principal);
        self.sessions.is_owned_by(id, principal) == Some(false)
    }

    /// A session-era `initialize`: a POST with neither a session id nor the per-request
    /// `Mcp-Method` header of the stateless 2026-07-28 revision.
    fn opens_session(&self, request: &Request<Body>) -> bool {
        request.method() == axum::http::Method::POST
            && !request.headers().contains_key(header::SESSION_ID)
            && !request.headers().contains_key(header::METHOD)
    }
}

/// The answer to a request for a session that does not exist, as rmcp's framing gives it
/// (so that a session of someone else's cannot be told from none).
fn session_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        "Not Found: Session not found",
    )
        .into_response()
}

/// `POST /mcp`, the path of nearly every call, served without the router's generic
/// layers (route matching, boxed middleware and futures): the front door applies the
/// routes' checks and limits (`front::Front`), then this is the same endpoint as the
/// `/mcp` route.
pub struct HotPath {
    endpoint: Arc<Endpoint>,
}

impl HotPath {
    /// Whether the request is one for the hot path.
    pub fn takes<B>(&self, request: &axum::http::Request<B>) -> bool {
        request.method() == axum::http::Method::POST && request.uri().path() == "/mcp"
    }

    /// Answers a request the front door has admitted.
    pub(crate) async fn answer(&self, request: Request<Body>) -> Response {
        self.endpoint.handle(request).await
    }
}

/// The MCP routes, for the front door to put behind its checks, and the [`HotPath`] to
/// the aggregate endpoint they share.
pub fn routes(gateway: Arc<Gateway>) -> (Router<Arc<Gateway>>, Arc<HotPath>) {
    let aggregate = Arc::new(Endpoint::new(&gateway, Scope::All));
    let hot = Arc::new(HotPath {
        endpoint: aggregate.clone(),
    });
    let per_server = Arc::new(PerServer::default());
    let router = Router::new()
        .route(
            "/mcp",
            axum::routing::any(move |request| {
                let aggregate = aggregate.clone();
                async move { aggregate.handle(request).await }
            }),
        )
        .route(
            "/mcp/servers/{server_id}/mcp",
            axum::routing::any(move |state, path, request| {
                one_server(state, path, request, per_server.clone())
            }),
        )
        // The legacy HTTP+SSE transport: `GET /sse`, `POST /messages?sessionId=…`.
        .merge(sse::routes(&gateway));
    (router, hot)
}

/// One MCP service (with its sessions) per server endpoint, created on first use.
#[derive(Default)]
struct PerServer(Mutex<HashMap<String, Arc<Endpoint>>>);

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
            .or_insert_with(|| {
                Arc::new(Endpoint::new(
                    &gateway,
                    Scope::Server(server_id.as_str().into()),
                ))
            })
            .clone()
    };
    endpoint.handle(request).await
}
