//! Serving the fixture: streamable HTTP (in-process, for tests) and stdio (for the binary).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::Request,
    http::{HeaderName, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use rmcp::{
    ServiceExt,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::server::{FixtureOptions, FixtureServer};

/// The path the fixture serves MCP on.
pub const MCP_PATH: &str = "/mcp";

/// The axum router of the fixture: rmcp's `StreamableHttpService` at `/mcp`, behind a
/// middleware that records every request's headers and, if configured, enforces
/// [`FixtureOptions::require_header`]. Sessions end when `ct` is cancelled.
///
/// Host validation is off so the binary can serve on any interface.
pub fn router(server: FixtureServer, ct: CancellationToken) -> anyhow::Result<Router> {
    let required = match &server.options().require_header {
        Some((name, value)) => Some((
            HeaderName::try_from(name.as_str())?,
            HeaderValue::try_from(value.as_str())?,
        )),
        None => None,
    };
    let factory = server.clone();
    let service: StreamableHttpService<FixtureServer, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(factory.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default()
                .disable_allowed_hosts()
                .with_sse_keep_alive(Some(Duration::from_secs(5)))
                .with_cancellation_token(ct),
        );
    let required = Arc::new(required);
    let gate = middleware::from_fn(move |request: Request, next: Next| {
        let server = server.clone();
        let required = required.clone();
        async move {
            server.record_headers(request.headers());
            if let Some((name, value)) = required.as_ref()
                && request.headers().get(name) != Some(value)
            {
                return unauthorized(name);
            }
            next.run(request).await
        }
    });
    Ok(Router::new().nest_service(MCP_PATH, service).layer(gate))
}

fn unauthorized(header: &HeaderName) -> Response {
    let body = serde_json::json!({
        "error": "unauthorized",
        "message": format!("missing or wrong `{header}` header"),
    });
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

/// Serves the fixture over streamable HTTP on `listener` until `ct` is cancelled.
pub async fn serve_http(
    listener: TcpListener,
    server: FixtureServer,
    ct: CancellationToken,
) -> anyhow::Result<()> {
    let app = router(server, ct.child_token())?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { ct.cancelled_owned().await })
        .await?;
    Ok(())
}

/// Serves the fixture over stdin/stdout until the client closes stdin.
pub async fn serve_stdio(server: FixtureServer) -> anyhow::Result<()> {
    let running = server.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}

/// A fixture served over streamable HTTP on `127.0.0.1` by [`spawn_http`]. Dropping it (or
/// [`FixtureHandle::shutdown`]) stops the server and ends its sessions.
pub struct FixtureHandle {
    url: String,
    addr: SocketAddr,
    server: FixtureServer,
    ct: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FixtureHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixtureHandle")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Starts a fixture on `127.0.0.1:<free port>` and returns once it accepts connections.
///
/// # Panics
/// If the loopback listener cannot be bound or `require_header` is not a valid header.
pub async fn spawn_http(options: FixtureOptions) -> FixtureHandle {
    spawn_http_server(FixtureServer::new(options)).await
}

/// Like [`spawn_http`], for an already built server (e.g. one shared with other fronts).
pub async fn spawn_http_server(server: FixtureServer) -> FixtureHandle {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let ct = CancellationToken::new();
    let app = router(server.clone(), ct.child_token()).expect("fixture options");
    let shutdown = ct.clone();
    let task = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled_owned().await })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "fixture HTTP server failed");
        }
    });
    FixtureHandle {
        url: format!("http://{addr}{MCP_PATH}"),
        addr,
        server,
        ct,
        task: Some(task),
    }
}

impl FixtureHandle {
    /// `http://127.0.0.1:PORT/mcp`
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server behind this handle: counters, `add_tool`, `notify_tools_changed`.
    pub fn server(&self) -> &FixtureServer {
        &self.server
    }

    /// Headers of every HTTP request received so far (including rejected ones), oldest first.
    pub fn seen_headers(&self) -> Vec<http::HeaderMap> {
        self.server.seen_headers()
    }

    /// Stops accepting connections, ends all sessions and waits (≤ 5 s) for the server task.
    pub async fn shutdown(mut self) {
        self.ct.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for FixtureHandle {
    fn drop(&mut self) {
        self.ct.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
