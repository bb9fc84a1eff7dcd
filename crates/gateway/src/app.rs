//! Wiring: start the gateway, listen, serve until told to stop, then drain and shut down
//! with a deadline (streams and child processes must not hold shutdown forever).

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Settings,
    downstream::session_store::{MemorySessionStore, SessionStore},
    front::{self, Front},
    gateway::Gateway,
    store::StoreError,
};

/// How long in-flight requests get to finish after the shutdown signal.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);
/// How long before open MCP streams are closed during a shutdown.
const STREAM_GRACE: Duration = Duration::from_secs(1);

/// Why the gateway could not run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot open the server store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// A started gateway listening on a socket (see [`start`]).
pub struct Running {
    pub gateway: Arc<Gateway>,
    pub addr: SocketAddr,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, drains in-flight requests up to a deadline, then stops upstreams.
    pub async fn shutdown(mut self) -> Result<(), AppError> {
        self.stop.cancel();
        // In-flight calls get a moment to finish; then the long-lived streams (GET /mcp,
        // GET /sse), which never finish by themselves, are closed so the drain can end.
        if tokio::time::timeout(STREAM_GRACE, &mut self.server)
            .await
            .is_ok()
        {
            self.gateway.shutdown().await;
            return Ok(());
        }
        self.gateway.shutdown_token().cancel();
        let served = match tokio::time::timeout(DRAIN_DEADLINE, self.server).await {
            Ok(Ok(result)) => result.map_err(AppError::Serve),
            Ok(Err(join)) => Err(AppError::Serve(std::io::Error::other(join))),
            Err(_) => {
                tracing::warn!(
                    "in-flight requests did not finish within {DRAIN_DEADLINE:?}; closing them"
                );
                Ok(())
            }
        };
        self.gateway.shutdown().await;
        served
    }
}

/// Starts the gateway and its listener; returns once it accepts connections.
pub async fn start(settings: Settings) -> Result<Running, AppError> {
    start_sharing(settings, MemorySessionStore::new()).await
}

/// [`start`], keeping MCP sessions in `sessions`, which other gateways may share (see
/// [`crate::downstream::session_store`]).
pub async fn start_sharing(
    settings: Settings,
    sessions: Arc<dyn SessionStore>,
) -> Result<Running, AppError> {
    let addr = effective_listen_addr(&settings);
    announce_settings(&settings);
    let config = Gateway::supervisor_config(&settings);
    let gateway = Gateway::start_sharing(settings, config, sessions).await?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| AppError::Bind { addr, source })?;
    let stop = CancellationToken::new();
    let head_timeout = gateway.settings.request_timeout;
    let server = tokio::spawn(serve(
        listener,
        front::app(gateway.clone()),
        stop.clone(),
        head_timeout,
    ));
    tracing::info!(%addr, "mcp-gateway listening");
    Ok(Running {
        gateway,
        addr,
        stop,
        server,
    })
}

/// Serves HTTP/1.1 connections until `stop`, then waits for the open ones to finish (idle
/// keep-alive connections close at once, in-flight requests complete).
///
/// This is `axum::serve` plus what it cannot be configured for: a client must send a
/// request's head (request line and headers) within `head_timeout` of the connection
/// starting to wait for it — including an idle keep-alive connection — or the connection is
/// closed. Each request the router answers carries the peer address as
/// `ConnectInfo<SocketAddr>` (for the audit log; the hot path needs none), and
/// `TCP_NODELAY` is set (small JSON-RPC messages must not wait for Nagle's algorithm).
async fn serve(
    listener: TcpListener,
    front: Front,
    stop: CancellationToken,
    head_timeout: Duration,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(head_timeout);
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let front = front.clone();
        let service =
            hyper::service::service_fn(move |request| front.clone().answer(request, peer));
        let connection = http.serve_connection(TokioIo::new(tcp), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::trace!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Errors of one incoming connection, not of the listener (as hyper and axum classify them).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Runs the gateway until `shutdown` resolves.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
    let running = start(settings).await?;
    shutdown.await;
    tracing::info!("shutting down");
    running.shutdown().await
}

/// Serves the aggregate over stdin/stdout (for clients that spawn their MCP servers) until
/// the client closes stdin or `shutdown` resolves. stdout carries only the protocol.
pub async fn serve_stdio(
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AppError> {
    announce_settings(&settings);
    let max_line = settings.max_body_bytes;
    let gateway = Gateway::start(settings).await?;
    let served = crate::downstream::stream_session::serve_lines(
        gateway.clone(),
        stdin()?,
        tokio::io::stdout(),
        max_line,
        shutdown,
    )
    .await;
    gateway.shutdown().await;
    served.map_err(AppError::Serve)
}

/// stdin, read on a thread of its own: a blocking read cannot be interrupted, and on
/// tokio's blocking pool it would hold up the runtime's shutdown (a signal while the
/// client keeps stdin open) until the next line. A plain thread does not; it ends with
/// the process, or at EOF.
fn stdin() -> Result<tokio::io::DuplexStream, AppError> {
    use std::io::Read;
    use tokio::io::AsyncWriteExt;
    let (mut writer, reader) = tokio::io::duplex(64 * 1024);
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buffer = vec![0; 16 * 1024];
            loop {
                match stdin.read(&mut buffer) {
                    Ok(0) | Err(_) => return, // EOF for the reader: the writer drops
                    Ok(n) => {
                        if runtime.block_on(writer.write_all(&buffer[..n])).is_err() {
                            return;
                        }
                    }
                }
            }
        })
        .map_err(AppError::Serve)?;
    Ok(reader)
}

/// Without a master key the admin API is open, so the gateway only listens on loopback.
fn effective_listen_addr(settings: &Settings) -> SocketAddr {
    let addr = settings.listen;
    if settings.master_key.is_none() && !addr.ip().is_loopback() {
        let loopback = SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port());
        tracing::warn!(
            requested = %addr, using = %loopback,
            "no master key configured (MCP_GATEWAY_MASTER_KEY or gateway.master_key): listening on loopback only"
        );
        return loopback;
    }
    addr
}

fn announce_settings(settings: &Settings) {
    if settings.master_key.is_none() {
        tracing::warn!("no master key configured: admin routes accept any local caller");
    }
    if !settings.store_model_in_db {
        tracing::info!(
            "STORE_MODEL_IN_DB=false: servers registered through the API are kept in memory and lost on restart"
        );
    }
    match (&settings.secret_key, settings.store_model_in_db) {
        (Some(key), true) => tracing::info!(
            key = key.form().describe(),
            "MCP_GATEWAY_SECRET_KEY set: stored secrets are encrypted (AES-256-GCM)"
        ),
        (None, true) => tracing::info!(
            "MCP_GATEWAY_SECRET_KEY not set: secrets of API-registered servers are stored unencrypted"
        ),
        _ => {}
    }
    if settings.allow_stdio_registration && settings.stdio_allowed_commands.is_empty() {
        tracing::warn!(
            "gateway.allow_stdio_registration is on with no gateway.stdio_allowed_commands: any caller with the admin key can run any command on this host"
        );
    }
    if !settings.mcp_enabled {
        tracing::info!(
            "MCP_GATEWAY_ENABLED=false: every /mcp route answers 404 mcp_gateway_disabled"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn without_a_master_key_only_loopback_is_used() {
        let open = Settings {
            listen: "0.0.0.0:4555".parse().unwrap(),
            ..Settings::default()
        };
        assert_eq!(effective_listen_addr(&open).to_string(), "127.0.0.1:4555");
        let keyed = Settings {
            master_key: Some(Secret::new("k")),
            ..open.clone()
        };
        assert_eq!(effective_listen_addr(&keyed).to_string(), "0.0.0.0:4555");
        let local = Settings {
            listen: "[::1]:4555".parse().unwrap(),
            ..Settings::default()
        };
        assert_eq!(effective_listen_addr(&local).to_string(), "[::1]:4555");
    }
}
