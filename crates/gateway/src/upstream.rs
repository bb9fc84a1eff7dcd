//! Connections to upstream MCP servers: one rmcp client service per server, whatever the
//! transport. `streamable_http` uses rmcp's client (both protocol eras, `server/discover`
//! with fallback to `initialize`); `sse` uses our legacy HTTP+SSE transport; `stdio` spawns
//! a supervised child process and speaks newline-delimited JSON-RPC over its pipes.
//! `sse_decode` reads event streams for both the legacy transport and the HTTP lane.
//!
//! [`supervisor`] keeps each registered server connected, discovered and health-checked.

mod body;
mod calls;
pub(crate) mod diagnose;
mod discovery;
mod handler;
mod headers;
pub mod lane;
mod plan;
mod request;
pub(crate) mod seen_session;
pub mod sse;
pub(crate) mod sse_decode;
mod stdio;
pub mod supervisor;

use std::{sync::Arc, time::Duration};

use rmcp::{
    RoleClient,
    model::ProtocolVersion,
    service::{ClientCacheConfig, ClientLifecycleMode, ClientServiceExt, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};

use crate::model::{ServerRecord, TransportKind};

pub use calls::{CallGuard, CallRouter, CallTarget, Client, InputAsk, Requester};
pub use discovery::{Catalog, discover, discover_asking_tools};
pub use handler::{ClientLink, Owner, UpstreamEvent, UpstreamHandler, may_ask};
pub use headers::upstream_headers;
pub use plan::HandshakePlan;
pub use request::Pending;
pub use stdio::StdioChild;

/// Why an upstream could not be reached or used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("invalid upstream configuration: {0}")]
    Config(String),
    #[error("cannot start the stdio server: {0}")]
    Spawn(String),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("the upstream is not connected")]
    Unavailable,
    #[error("upstream error {code}: {message}")]
    Rpc {
        code: i32,
        message: String,
        data: Option<Box<serde_json::Value>>,
    },
    #[error("upstream transport error: {0}")]
    Transport(String),
}

impl UpstreamError {
    /// A connection failure, described for operators (see [`without_type_names`] and
    /// [`without_url_queries`]).
    fn connect(error: impl std::fmt::Display) -> Self {
        Self::Connect(without_url_queries(without_type_names(error.to_string())))
    }
}

impl UpstreamError {
    /// The upstream could not be reached or the connection broke — as opposed to an
    /// answer it gave (an error response, a timeout of one slow call).
    pub fn is_connection_failure(&self) -> bool {
        matches!(
            self,
            Self::Connect(_) | Self::Unavailable | Self::Transport(_)
        )
    }
}

/// reqwest's errors, which rmcp's embed, name the URL; its query may carry a credential
/// (`?api_key=…`), and these messages are logged and shown in health reports. Each URL
/// keeps its scheme, host and path.
fn without_url_queries(text: String) -> String {
    if !text.contains("://") {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("://") {
        let (before, url) = rest.split_at(at);
        out.push_str(before);
        let end = url
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ','))
            .unwrap_or(url.len());
        let (url, after) = url.split_at(end);
        match url.find(['?', '#']) {
            Some(query) => {
                out.push_str(&url[..query]);
                out.push_str("?…");
            }
            None => out.push_str(url),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// rmcp's messages embed the Rust type name of the transport (`Transport
/// [rmcp::transport::worker::…] error:`), which says nothing useful to a user.
fn without_type_names(mut text: String) -> String {
    while let Some(start) = text.find("Transport [") {
        let Some(len) = text[start..].find("] ") else {
            break;
        };
        text.replace_range(start..start + len + 2, "");
    }
    text
}

impl From<rmcp::ServiceError> for UpstreamError {
    fn from(e: rmcp::ServiceError) -> Self {
        match e {
            rmcp::ServiceError::McpError(e) => Self::Rpc {
                code: e.code.0,
                message: e.message.into_owned(),
                data: e.data.map(Box::new),
            },
            rmcp::ServiceError::Timeout { timeout } => Self::Timeout(timeout),
            rmcp::ServiceError::TransportClosed => Self::Unavailable,
            other => Self::Transport(without_url_queries(without_type_names(other.to_string()))),
        }
    }
}

/// A live client session with one upstream, plus the child process behind it for `stdio`.
pub struct Connection {
    pub service: RunningService<RoleClient, UpstreamHandler>,
    /// Kept so the process is terminated and reaped when the connection ends.
    pub child: Option<StdioChild>,
    /// A streamable HTTP session's id and headers, for the direct lane to send on it.
    pub http_session: Option<Arc<seen_session::SeenSession>>,
}

impl Connection {
    /// Ends the session, then terminates and reaps the child process, if any.
    pub async fn shutdown(mut self) {
        let _ = self
            .service
            .close_with_timeout(Duration::from_secs(2))
            .await;
        if let Some(child) = self.child.take() {
            child.terminate().await;
        }
    }
}

/// Connects to an upstream and completes the MCP handshake, within the server's handshake
/// time ([`HandshakePlan`]): `server/discover` (2026-07-28) first, falling back to
/// `initialize` when the server answers it as a session-era server does, or does not answer
/// within rmcp's 10 s probe. A slow first start (`npx` downloading its package) then gets
/// `initialize` on the same pipe while the probe is still unread; the stdio transport drops
/// the probe's late answer (see `stdio::transport`), so the handshake just takes longer.
pub async fn connect(
    record: &ServerRecord,
    handler: UpstreamHandler,
    plan: &HandshakePlan,
) -> Result<Connection, UpstreamError> {
    let attempt = async {
        if record.transport_kind() == TransportKind::Sse {
            // The legacy transport only knows the `initialize` handshake.
            return connect_with(record, handler, ClientLifecycleMode::Initialize).await;
        }
        match connect_with(record, handler.clone(), auto_lifecycle()).await {
            // A server that answers `server/discover` but supports no 2026-07-28 version
            // (`ErrorCode::UNSUPPORTED_PROTOCOL_VERSION` with older versions only) is not
            // treated as legacy by rmcp's probe; it is one, so connect again with the
            // `initialize` handshake.
            Err(Handshake::NoCommonVersion(_)) => {
                connect_with(record, handler, ClientLifecycleMode::Initialize).await
            }
            other => other,
        }
    };
    within_handshake_time(record, plan, async {
        attempt.await.map_err(UpstreamError::from)
    })
    .await
}

/// Connects as [`connect`] does, preferring the session-era handshake: a session-era
/// client's own session (`downstream::owned`) is then one the upstream treats as it would
/// treat that client directly — it sends its requests on it, takes
/// `resources/subscribe` — and, over streamable HTTP, one with an id the direct lane can
/// send on too. An upstream that refuses `initialize` is connected as by [`connect`].
pub async fn connect_session(
    record: &ServerRecord,
    handler: UpstreamHandler,
    plan: &HandshakePlan,
) -> Result<Connection, UpstreamError> {
    if record.transport_kind() == TransportKind::Sse {
        return connect(record, handler, plan).await; // session-era only
    }
    let attempt = async {
        connect_with(record, handler.clone(), ClientLifecycleMode::Initialize)
            .await
            .map_err(UpstreamError::from)
    };
    match within_handshake_time(record, plan, attempt).await {
        Ok(connection) => Ok(connection),
        Err(e) if e.is_connection_failure() || matches!(e, UpstreamError::Timeout(_)) => Err(e),
        Err(e) => {
            tracing::debug!(upstream = %record.server_id, error = %e, "initialize refused; trying the 2026-07-28 handshake");
            connect(record, handler, plan).await
        }
    }
}

/// How long an upstream may take over its handshake before the wait is logged (once).
const SLOW_HANDSHAKE: Duration = Duration::from_secs(10);

/// `attempt` within the plan's handshake time; a slow one is said once in the log, so
/// that a first start that downloads packages reads as slow, not as broken.
async fn within_handshake_time<T>(
    record: &ServerRecord,
    plan: &HandshakePlan,
    attempt: impl Future<Output = Result<T, UpstreamError>>,
) -> Result<T, UpstreamError> {
    let limit = plan.timeout();
    // On the heap: a handshake's future is large, and unoptimised builds copy it through
    // each layer of the callers' frames (test threads' stacks overflowed).
    let mut attempt = Box::pin(tokio::time::timeout(limit, attempt));
    let outcome = tokio::select! {
        outcome = &mut attempt => outcome,
        () = tokio::time::sleep(SLOW_HANDSHAKE.min(limit)) => {
            tracing::info!(
                upstream = %record.server_id,
                limit_secs = limit.as_secs(),
                "the upstream has not completed its handshake after {}s; still waiting \
                 (a first start may be downloading its package; gateway.upstream_handshake_timeout_secs)",
                SLOW_HANDSHAKE.as_secs(),
            );
            attempt.await
        }
    };
    outcome.map_err(|_| UpstreamError::Timeout(limit))?
}

/// A failed connection attempt, keeping apart the one outcome that is worth retrying
/// with the other handshake.
enum Handshake {
    NoCommonVersion(String),
    Failed(UpstreamError),
}

impl From<Handshake> for UpstreamError {
    fn from(e: Handshake) -> Self {
        match e {
            Handshake::NoCommonVersion(message) => UpstreamError::connect(message),
            Handshake::Failed(e) => e,
        }
    }
}

impl From<UpstreamError> for Handshake {
    fn from(e: UpstreamError) -> Self {
        Self::Failed(e)
    }
}

fn handshake_error(e: rmcp::service::ClientInitializeError) -> Handshake {
    match e {
        rmcp::service::ClientInitializeError::NoCompatibleProtocolVersion { .. } => {
            Handshake::NoCommonVersion(e.to_string())
        }
        other => Handshake::Failed(UpstreamError::connect(other)),
    }
}

/// One connection attempt with one lifecycle mode.
async fn connect_with(
    record: &ServerRecord,
    handler: UpstreamHandler,
    lifecycle: ClientLifecycleMode,
) -> Result<Connection, Handshake> {
    let connection = handshake(record, handler, lifecycle).await?;
    // rmcp's client caches results the server marks fresh (SEP-2549), keyed without the
    // caller: on a session many clients share, one client's private read would be served
    // to the next. A relay passes the hints on and leaves caching to each client.
    connection
        .service
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    Ok(connection)
}

async fn handshake(
    record: &ServerRecord,
    handler: UpstreamHandler,
    lifecycle: ClientLifecycleMode,
) -> Result<Connection, Handshake> {
    let url = || {
        record
            .url
            .as_deref()
            .ok_or_else(|| UpstreamError::Config("url is missing".into()))
    };
    match record.transport_kind() {
        TransportKind::StreamableHttp => {
            let headers = upstream_headers(record).map_err(UpstreamError::Config)?;
            // An upstream that forgot our session (restart, expiry) answers 404: rmcp
            // re-initialises transparently and retries the request.
            let config = StreamableHttpClientTransportConfig::with_uri(url()?)
                .custom_headers(
                    headers
                        .into_iter()
                        .filter_map(|(k, v)| Some((k?, v)))
                        .collect(),
                )
                .reinit_on_expired_session(true)
                // One upstream session serves every downstream client of this server.
                .max_concurrent_requests(64);
            let (client, seen) = seen_session::RecordingClient::new(http_client()?);
            let transport = StreamableHttpClientTransport::with_client(client, config);
            let service = handler
                .serve_with_lifecycle(transport, lifecycle)
                .await
                .map_err(handshake_error)?;
            Ok(Connection {
                service,
                child: None,
                http_session: Some(seen),
            })
        }
        TransportKind::Sse => {
            let headers = upstream_headers(record).map_err(UpstreamError::Config)?;
            let transport = sse::SseClientTransport::connect(http_client()?, url()?, headers)
                .await
                .map_err(UpstreamError::connect)?;
            let service = handler
                .serve_with_lifecycle(transport, lifecycle)
                .await
                .map_err(handshake_error)?;
            Ok(Connection {
                service,
                child: None,
                http_session: None,
            })
        }
        TransportKind::Stdio => {
            let (child, transport) = StdioChild::spawn(record)?;
            match handler.serve_with_lifecycle(transport, lifecycle).await {
                Ok(service) => Ok(Connection {
                    service,
                    child: Some(child),
                    http_session: None,
                }),
                Err(e) => {
                    child.terminate().await;
                    Err(handshake_error(e))
                }
            }
        }
    }
}

/// Probe with `server/discover` (2026-07-28) and fall back to `initialize` for legacy servers.
fn auto_lifecycle() -> ClientLifecycleMode {
    ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: None,
    }
}

/// The shared HTTP client for upstream traffic (connection pooling across servers).
pub(crate) fn http_client() -> Result<reqwest::Client, UpstreamError> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        // Below Node's 5 s keep-alive (most MCP servers run on it): a connection the server
        // is about to close is not picked for a request.
        .pool_idle_timeout(Duration::from_secs(4))
        // Credentials ride in custom headers (X-API-Key, extras) that reqwest keeps across
        // hosts, so only same-origin redirects are followed.
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() == attempt.url().origin());
            if same_origin && attempt.previous().len() < 5 {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
        .build()
        .map_err(|e| UpstreamError::Config(format!("cannot build the HTTP client: {e}")))?;
    Ok(CLIENT.get_or_init(|| client).clone())
}

/// Exposed for the registry: a cheap handle to send requests to a connected upstream.
pub type UpstreamPeer = rmcp::Peer<RoleClient>;

/// Whether an upstream session speaks the stateless 2026-07-28 revision (no `initialize`):
/// its requests carry the client's capabilities, and it asks through `input_required`.
pub fn is_stateless(peer: &UpstreamPeer) -> bool {
    peer.peer_info()
        .is_some_and(|i| !i.protocol_version.has_initialize())
}

/// Shared between the registry (readers) and the supervisor (writer).
pub type SharedPeer = Arc<arc_swap::ArcSwapOption<UpstreamPeer>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_hide_url_queries() {
        let raw = "Client error: error sending request for url (http://127.0.0.1:9/mcp?api_key=s3cret&x=1): \
                   also https://h.example/p#frag and http://plain/path, done";
        let e = UpstreamError::connect(raw).to_string();
        assert_eq!(
            e,
            "connection failed: Client error: error sending request for url (http://127.0.0.1:9/mcp?…): \
             also https://h.example/p?… and http://plain/path, done"
        );
        assert!(!e.contains("s3cret"));
        assert_eq!(without_url_queries("no url here".into()), "no url here");
    }

    #[test]
    fn connect_errors_drop_rust_type_names() {
        let raw = "Send message error Transport [rmcp::transport::worker::WorkerTransport<a::B<c::D>>] \
                   error: Client error: error sending request for url (http://127.0.0.1:9/mcp)";
        let e = UpstreamError::connect(raw).to_string();
        assert_eq!(
            e,
            "connection failed: Send message error error: Client error: error sending request for url (http://127.0.0.1:9/mcp)"
        );
    }
}
