//! Wiring: start the gateway, listen, serve until told to stop, then drain and shut down
//! with a deadline (streams and child processes must not hold shutdown forever).

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{admin, config::Settings, gateway::Gateway, store::StoreError};

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
    let addr = effective_listen_addr(&settings);
    announce_settings(&settings);
    let gateway = Gateway::start(settings).await?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| AppError::Bind { addr, source })?;
    let listener = listener.tap_io(|tcp| {
        // Small JSON-RPC messages must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
    });
    let stop = CancellationToken::new();
    let router = admin::router(gateway.clone());
    let graceful = stop.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { graceful.cancelled().await })
            .await
    });
    tracing::info!(%addr, "mcp-gateway listening");
    Ok(Running {
        gateway,
        addr,
        stop,
        server,
    })
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
    use rmcp::ServiceExt;
    announce_settings(&settings);
    let gateway = Gateway::start(settings).await?;
    let server =
        crate::downstream::GatewayServer::new(gateway.clone(), crate::downstream::Scope::All);
    let result = match server.serve(rmcp::transport::stdio()).await {
        Ok(running) => {
            let cancel = running.cancellation_token();
            tokio::select! {
                _ = running.waiting() => Ok(()),
                () = shutdown => {
                    cancel.cancel();
                    Ok(())
                }
            }
        }
        Err(e) => Err(AppError::Serve(std::io::Error::other(e))),
    };
    gateway.shutdown().await;
    result
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
