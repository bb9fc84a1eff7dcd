//! The front door: every HTTP request meets the gateway here, whatever it is for (the REST
//! API, the MCP endpoints, legacy SSE), and goes through the same steps in the same order:
//!
//! 1. the Host and Origin rule ([`host_origin`]): `403 host_not_allowed` /
//!    `403 origin_not_allowed`;
//! 2. authentication ([`auth`]): the master key, an API key or a JWT of the configured
//!    identity provider, else `401 unauthorized` with the MCP authorization spec's
//!    challenge ([`resource`]); the admin routes (servers, keys) take the master key only
//!    (`403 forbidden`);
//! 3. the limits ([`limits`]): body size and body deadline on every route, an answer
//!    deadline on the routes the gateway answers itself;
//! 4. the route: the REST handlers (`admin`) or an MCP endpoint (`downstream`).
//!
//! The Protected Resource Metadata ([`resource`]) skips step 2; only `/health/*` skips
//! steps 1 and 2: those routes act on nothing (nor do the `404` and
//! `405` answers to paths and methods no route takes). [`error::ApiError`] is the one place
//! errors become HTTP statuses. `POST /mcp`, nearly every call, takes the hot path
//! ([`Front`]): the same steps without the router's generic layers.

pub mod auth;
pub mod error;
pub mod host_origin;
pub mod limits;
pub mod resource;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, DefaultBodyLimit, Request, State},
    http::{StatusCode, Uri},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tower::ServiceExt;

use crate::{
    admin::{audit, catalog, credentials, health, keys, metrics, policies, servers},
    downstream::HotPath,
    gateway::Gateway,
};

pub use error::ApiError;
use host_origin::Door;

/// The whole HTTP surface of the gateway, as a router (without the hot path: the router
/// serves `POST /mcp` itself too).
pub fn router(gateway: Arc<Gateway>) -> Router {
    app(gateway).router
}

/// What answers requests: the router, and the hot path it is bypassed for.
#[derive(Clone)]
pub struct Front {
    router: Router,
    /// `None` with the MCP routes disabled.
    hot_path: Option<Arc<HotPath>>,
    door: Arc<Door>,
    gateway: Arc<Gateway>,
}

/// The front door of `gateway`: its routes, with the Host/Origin rule, authentication and
/// limits, and the hot path.
pub fn app(gateway: Arc<Gateway>) -> Front {
    let settings = &gateway.settings;
    let door = Arc::new(Door::new(
        settings.allowed_hosts.as_deref(),
        settings.master_key.is_some(),
        &settings.allowed_origins,
    ));
    let timeout = settings.request_timeout;
    let handler_timeout = middleware::from_fn_with_state(timeout, limits::handler_timeout);
    let mut hot_path = None;
    let mut app = Router::new()
        .route("/health/liveliness", get(health::liveliness))
        .route("/health/liveness", get(health::liveliness))
        .route("/health/readiness", get(health::readiness))
        .route_layer(handler_timeout.clone())
        .merge(
            Router::new()
                .route("/metrics", get(metrics::scrape))
                .route_layer(handler_timeout.clone())
                // The last layer runs first: Host/Origin, then who may scrape.
                .route_layer(middleware::from_fn_with_state(
                    gateway.clone(),
                    auth::require_scraper,
                ))
                .route_layer(middleware::from_fn_with_state(door.clone(), admit)),
        );
    if settings.mcp_enabled {
        let (mcp, hot) = crate::downstream::routes(gateway.clone());
        // Changes to the gateway (and what they would reveal): the operator's alone.
        let admin = Router::new()
            .route("/mcp/servers", get(servers::list).post(servers::create))
            .route(
                "/mcp/servers/{server_id}",
                get(servers::get)
                    .put(servers::replace)
                    .delete(servers::remove),
            )
            .route(
                "/mcp/servers/{server_id}/tools/{tool}/approve",
                post(servers::approve_tool),
            )
            .route("/mcp/keys", get(keys::list).post(keys::create))
            .route(
                "/mcp/keys/{key_id}",
                get(keys::get).patch(keys::update).delete(keys::remove),
            )
            .route("/mcp/policies", get(policies::list).post(policies::create))
            .route(
                "/mcp/policies/{name}",
                get(policies::get)
                    .put(policies::replace)
                    .delete(policies::remove),
            )
            .route_layer(middleware::from_fn(auth::require_operator));
        // Public metadata: the Host/Origin rule, no key.
        let metadata = Router::new()
            .route(resource::METADATA_PATH, get(resource::metadata))
            .route(
                &format!("{}/{{*resource}}", resource::METADATA_PATH),
                get(resource::metadata),
            )
            .route_layer(handler_timeout.clone())
            .route_layer(middleware::from_fn_with_state(door.clone(), admit));
        let guarded = admin
            // A caller's own credentials: any identity, for itself.
            .route(
                "/mcp/servers/{server_id}/credentials",
                get(credentials::get)
                    .put(credentials::put)
                    .delete(credentials::remove),
            )
            .route("/mcp/tools", get(catalog::tools))
            .route("/mcp/resources", get(catalog::resources))
            .route("/mcp/prompts", get(catalog::prompts))
            .route_layer(handler_timeout)
            // Bounded by the called server's own timeout_secs instead.
            .route("/mcp/tools/call", post(catalog::call_tool))
            .merge(mcp)
            // The last layer runs first: Host/Origin, then the key.
            .route_layer(middleware::from_fn_with_state(
                gateway.clone(),
                auth::require_key,
            ))
            .route_layer(middleware::from_fn_with_state(door.clone(), admit));
        app = app.merge(guarded).merge(metadata);
        hot_path = Some(hot);
    }
    let router = app
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            timeout,
            limits::body_deadline,
        ))
        .with_state(gateway.clone());
    Front {
        router,
        hot_path,
        door,
        gateway,
    }
}

impl Front {
    /// Answers one request from a connection with `peer`.
    pub async fn answer(
        self,
        mut request: axum::http::Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> Result<Response, std::convert::Infallible> {
        if let Some(hot) = self.hot_path.as_ref().filter(|hot| hot.takes(&request)) {
            return Ok(self.hot(hot, request.map(Body::new)).await);
        }
        request.extensions_mut().insert(ConnectInfo(peer));
        // Boxed, so that the hot path's requests do not carry the router's future.
        Box::pin(self.router.oneshot(request)).await
    }

    /// The hot path: the steps of the routes, then the aggregate endpoint.
    async fn hot(&self, hot: &HotPath, mut request: Request) -> Response {
        if let Err(refused) = self.door.admit(request.uri(), request.headers()) {
            return refused.into_response();
        }
        match auth::authenticate(&self.gateway, request.uri(), request.headers()).await {
            Ok(who) => _ = request.extensions_mut().insert(who),
            Err(refused) => return refused.into_response(),
        }
        let timeout = self.gateway.settings.request_timeout;
        let (request, expired) = limits::with_deadline(request, timeout);
        let response = hot.answer(request).await;
        limits::unless_expired(expired.as_deref(), timeout, response)
    }
}

/// The Host/Origin rule as a layer: a refused request goes no further (audited when it
/// asked for an admin change).
async fn admit(
    State(door): State<Arc<Door>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Err(refused) = door.admit(request.uri(), request.headers()) {
        audit::refused(&request, &refused);
        return Err(refused);
    }
    Ok(next.run(request).await)
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
