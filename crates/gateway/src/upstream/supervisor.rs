//! One supervisor task per registered server: connect (with backoff while the upstream is
//! down), discover, keep the catalog fresh (on `list_changed`, periodically), probe health,
//! reconnect when the session is lost, and shut everything down when told to stop.

use std::{sync::Arc, time::Duration};

use rmcp::model::{ClientRequest, ListToolsRequest, PaginatedRequestParams, SubscriptionFilter};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::{
    Catalog, Connection, UpstreamError, UpstreamEvent, UpstreamHandler, connect, discover,
};
use crate::registry::{Registry, ServerEntry, ServerRuntime};

/// Timing knobs; the defaults suit production, tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct SupervisorConfig {
    /// Full re-discovery even without `list_changed`.
    pub refresh: Duration,
    /// How often a connected upstream is probed.
    pub health_interval: Duration,
    /// How long a probe may take.
    pub probe_timeout: Duration,
    /// How long fetching the whole catalog may take.
    pub discovery_timeout: Duration,
    /// How long connecting and the MCP handshake may take.
    pub handshake_timeout: Duration,
    /// First and longest wait between reconnection attempts.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            refresh: Duration::from_secs(300),
            health_interval: Duration::from_secs(15),
            probe_timeout: Duration::from_secs(10),
            discovery_timeout: Duration::from_secs(30),
            handshake_timeout: crate::config::DEFAULT_UPSTREAM_HANDSHAKE_TIMEOUT,
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// Starts the supervisor of a newly registered (or replaced) server entry.
pub fn spawn(
    registry: Arc<Registry>,
    entry: &ServerEntry,
    config: SupervisorConfig,
    tracker: &TaskTracker,
) {
    entry
        .runtime
        .handshake
        .set_timeout(config.handshake_timeout);
    let supervisor = Supervisor {
        registry,
        record: entry.record.clone(),
        runtime: entry.runtime.clone(),
        config,
    };
    tracker.spawn(supervisor.run());
}

struct Supervisor {
    registry: Arc<Registry>,
    record: Arc<crate::model::ServerRecord>,
    runtime: Arc<ServerRuntime>,
    config: SupervisorConfig,
}

/// How a connected session ended.
enum Ended {
    Stopped,
    Lost(String),
}

impl Supervisor {
    async fn run(self) {
        let id = self.record.server_id.clone();
        let mut failures: u32 = 0;
        // The last failure logged: a server that stays down for the same reason is logged
        // once, not on every retry.
        let mut logged: Option<String> = None;
        loop {
            self.runtime.mark_connecting();
            let (events_tx, events_rx) = mpsc::channel(1);
            let handler =
                UpstreamHandler::new(id.clone(), events_tx.clone(), self.runtime.calls.clone());
            let attempt = tokio::select! {
                attempt = connect(&self.record, handler, &self.runtime.handshake) => attempt,
                () = self.runtime.stop.cancelled() => return,
            };
            let error = match attempt {
                Ok(conn) => match self.serve(conn, events_tx, events_rx).await {
                    Ok(Ended::Stopped) => return,
                    Ok(Ended::Lost(error)) => {
                        failures = 0; // it was up: retry promptly
                        logged = None;
                        error
                    }
                    Err(error) => error.to_string(),
                },
                Err(error) => super::diagnose::with_cause(&self.record, error)
                    .await
                    .to_string(),
            };
            if logged.as_deref() == Some(error.as_str()) {
                tracing::debug!(upstream = %id, %error, "upstream still unavailable");
            } else {
                tracing::warn!(upstream = %id, %error, "upstream unavailable");
                logged = Some(error.clone());
            }
            self.runtime.mark_unhealthy(error);
            self.registry
                .set_catalog(&id, &self.runtime, Catalog::default());
            let delay = backoff(failures, self.config);
            failures = failures.saturating_add(1);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.runtime.stop.cancelled() => return,
            }
        }
    }

    /// Runs one connected session until it is lost or the supervisor is stopped.
    async fn serve(
        &self,
        conn: Connection,
        events_tx: mpsc::Sender<UpstreamEvent>,
        mut events: mpsc::Receiver<UpstreamEvent>,
    ) -> Result<Ended, UpstreamError> {
        let id = &self.record.server_id;
        let Connection { service, child, .. } = conn;
        let peer = service.peer().clone();
        let cancel = service.cancellation_token();
        let mut finished = tokio::spawn(service.waiting());
        let close = |child: Option<super::StdioChild>| async move {
            if let Some(child) = child {
                child.terminate().await;
            }
        };

        let catalog = match self.discover(&peer).await {
            Ok(catalog) => catalog,
            Err(e) => {
                cancel.cancel();
                close(child).await;
                return Err(e);
            }
        };
        tracing::info!(
            upstream = %id,
            tools = catalog.tools.len(),
            resources = catalog.resources.len(),
            prompts = catalog.prompts.len(),
            "upstream connected and discovered"
        );
        self.registry.set_catalog(id, &self.runtime, catalog);
        self.runtime.mark_healthy(peer.clone());
        if let (Some(child), Some(info)) = (&child, peer.peer_info()) {
            child.lane.open(info.protocol_version.as_str());
            self.runtime.attach_stdio_lane(child.lane.clone());
        }
        let listener = tokio::spawn(listen_for_list_changes(peer.clone(), events_tx));

        let mut refresh = tokio::time::interval(self.config.refresh);
        let mut health = tokio::time::interval(self.config.health_interval);
        refresh.reset();
        health.reset();
        let ended = loop {
            tokio::select! {
                () = self.runtime.stop.cancelled() => break Ended::Stopped,
                _ = &mut finished => break Ended::Lost("the upstream session closed".into()),
                Some(UpstreamEvent::ListChanged) = events.recv() => {
                    if let Err(e) = self.rediscover(&peer).await {
                        tracing::warn!(upstream = %id, error = %e, "re-discovery after list_changed failed");
                    }
                }
                _ = refresh.tick() => {
                    if let Err(e) = self.rediscover(&peer).await {
                        tracing::warn!(upstream = %id, error = %e, "periodic re-discovery failed");
                    }
                }
                _ = health.tick() => {
                    if let Err(e) = self.probe(&peer).await {
                        break Ended::Lost(format!("health probe failed: {e}"));
                    }
                }
                () = self.runtime.asking_tools_requested() => {
                    if let Err(e) = self.rediscover(&peer).await {
                        tracing::warn!(upstream = %id, error = %e, "discovery of tools for clients that can be asked failed");
                    }
                }
                () = self.runtime.suspected() => {
                    if let Err(e) = self.probe(&peer).await {
                        break Ended::Lost(format!("calls failed, then the probe: {e}"));
                    }
                }
            }
        };
        listener.abort();
        self.runtime.detach_peer();
        cancel.cancel();
        // rmcp's service task keeps draining for up to 2 s after a cancel (its own handle
        // holds a Peer); it ends by itself (sending DELETE for HTTP sessions), so it is not
        // awaited. The child process is closed and reaped here, at once.
        drop(finished);
        close(child).await;
        Ok(ended)
    }

    /// Discovery with a deadline: a hung upstream must not stall its supervisor. Once a
    /// client that can be asked something wants this server's tools, the tools listed
    /// only to such clients are looked for too (see [`Self::discover_asking_tools`]).
    async fn discover(&self, peer: &super::UpstreamPeer) -> Result<Catalog, UpstreamError> {
        let deadline = self.config.discovery_timeout;
        let catalog = tokio::time::timeout(deadline, discover(peer))
            .await
            .map_err(|_| UpstreamError::Timeout(deadline))??;
        if !self.runtime.asking_tools_wanted() {
            return Ok(catalog);
        }
        let asking = tokio::time::timeout(deadline, self.discover_asking_tools())
            .await
            .unwrap_or(Err(UpstreamError::Timeout(deadline)));
        Ok(match asking {
            Ok(tools) => catalog.with_asking_tools(tools),
            Err(error) => {
                tracing::warn!(upstream = %self.record.server_id, %error, "tools for clients that can be asked not discovered; they see the others");
                catalog.with_asking_tools(Vec::new())
            }
        })
    }

    /// The shared session declares no client capabilities, and an upstream may list some
    /// tools only to clients that declared some (server-everything lists
    /// `trigger-sampling-request` only to clients that can sample): a short-lived session
    /// declaring every capability lists them. For a stdio server it is a short-lived
    /// process.
    async fn discover_asking_tools(&self) -> Result<Vec<rmcp::model::Tool>, UpstreamError> {
        let id = self.record.server_id.clone();
        let handler =
            UpstreamHandler::owned(id, super::CallRouter::owned(), super::Owner::Discovery);
        let connection = connect(&self.record, handler, &self.runtime.handshake).await?;
        let tools = super::discover_asking_tools(connection.service.peer()).await;
        connection.shutdown().await;
        tools
    }

    async fn rediscover(&self, peer: &super::UpstreamPeer) -> Result<(), UpstreamError> {
        let catalog = self.discover(peer).await?;
        self.registry
            .set_catalog(&self.record.server_id, &self.runtime, catalog);
        self.runtime.mark_seen();
        Ok(())
    }

    /// Any JSON-RPC answer (even an error) proves the upstream alive; a timeout or a
    /// transport failure does not. `tools/list` exists in every protocol era (ping does not).
    async fn probe(&self, peer: &super::UpstreamPeer) -> Result<(), UpstreamError> {
        let request = ClientRequest::ListToolsRequest(ListToolsRequest::with_param(
            PaginatedRequestParams::default(),
        ));
        match tokio::time::timeout(self.config.probe_timeout, peer.send_request(request)).await {
            Err(_) => Err(UpstreamError::Timeout(self.config.probe_timeout)),
            Ok(Ok(_)) | Ok(Err(rmcp::ServiceError::McpError(_))) => {
                self.runtime.mark_seen();
                Ok(())
            }
            Ok(Err(e)) => Err(e.into()),
        }
    }
}

/// In the 2026-07-28 era a server sends `list_changed` only on a `subscriptions/listen`
/// stream that asked for it (earlier eras send them unprompted to the handler). Forwards
/// them to the supervisor until the stream or the session ends.
async fn listen_for_list_changes(peer: super::UpstreamPeer, events: mpsc::Sender<UpstreamEvent>) {
    let Some(info) = peer.peer_info() else { return };
    if info.protocol_version.has_initialize() {
        return;
    }
    let caps = &info.capabilities;
    let mut filter = SubscriptionFilter::builder();
    if caps
        .tools
        .as_ref()
        .is_some_and(|t| t.list_changed == Some(true))
    {
        filter = filter.tools_list_changed();
    }
    if caps
        .resources
        .as_ref()
        .is_some_and(|r| r.list_changed == Some(true))
    {
        filter = filter.resources_list_changed();
    }
    if caps
        .prompts
        .as_ref()
        .is_some_and(|p| p.list_changed == Some(true))
    {
        filter = filter.prompts_list_changed();
    }
    let filter = filter.build();
    if filter == SubscriptionFilter::new() {
        return;
    }
    let mut subscription = match peer.listen(filter).await {
        Ok(subscription) => subscription,
        Err(e) => {
            tracing::debug!(error = %e, "upstream refused subscriptions/listen; relying on periodic refresh");
            return;
        }
    };
    // What changed between the discovery and the subscription was announced to nobody:
    // look once more now that changes will be announced (an unchanged catalog publishes
    // nothing).
    let _ = events.try_send(UpstreamEvent::ListChanged);
    while let Ok(Some(_notification)) = subscription.next().await {
        let _ = events.try_send(UpstreamEvent::ListChanged);
    }
}

/// Exponential backoff with jitter: min · 2^failures, capped, ±25 %.
fn backoff(failures: u32, config: SupervisorConfig) -> Duration {
    let base = config
        .backoff_min
        .saturating_mul(1u32 << failures.min(16))
        .min(config.backoff_max);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = f64::from(nanos % 1000) / 1000.0 * 0.5 + 0.75; // 0.75 ..= 1.25
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = SupervisorConfig::default();
        let first = backoff(0, c);
        assert!(first >= c.backoff_min.mul_f64(0.75) && first <= c.backoff_min.mul_f64(1.25));
        assert!(backoff(3, c) > backoff(0, c));
        assert!(backoff(40, c) <= c.backoff_max.mul_f64(1.25));
    }
}
