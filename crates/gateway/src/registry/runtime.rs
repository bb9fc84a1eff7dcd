//! The live part of a registered server: its health and a handle to its upstream session.
//! Owned by the registry entry, written by the server's supervisor.

use std::sync::{
    Arc, Mutex, OnceLock,
    atomic::{AtomicU32, AtomicU64, Ordering},
};

use arc_swap::ArcSwapOption;
use chrono::Utc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    metrics::{Outcome, UpstreamClock},
    model::{HealthState, HealthView, ServerRecord},
    upstream::{
        CallRouter, HandshakePlan, UpstreamError, UpstreamPeer,
        lane::{HttpLane, Lane, StdioLane},
    },
};

/// Health and connection of one server.
#[derive(Debug)]
pub struct ServerRuntime {
    health: Mutex<HealthView>,
    peer: ArcSwapOption<UpstreamPeer>,
    /// Cancelled to stop the server's supervisor (removal, replacement, shutdown).
    pub stop: CancellationToken,
    /// Downstream requests in flight on this server, for routing what it sends back.
    pub calls: Arc<CallRouter>,
    /// The direct `tools/call` lane of a streamable HTTP upstream, made on first use.
    http_lane: OnceLock<Option<Arc<HttpLane>>>,
    /// The direct lane on a stdio upstream's pipes, while its session is up.
    stdio_lane: ArcSwapOption<StdioLane>,
    /// Calls failed in a row for want of a connection (see [`Self::record_failure`]).
    failures: AtomicU32,
    suspect: Notify,
    /// Upstream sessions owned by single clients (see `downstream::owned`).
    pub client_sessions: ClientSessionCount,
    /// A client that can be asked something wants this server's tools: discovery also
    /// looks for those listed only to such clients (see `Catalog::asking_only`).
    asking_wanted: std::sync::atomic::AtomicBool,
    asking_requested: Notify,
    /// How connections to this server make their handshake.
    pub handshake: HandshakePlan,
    /// The meters of the requests routed to this server (`/metrics`).
    pub meters: crate::metrics::ServerMeters,
    /// Sessions established (and discovered), and connections or sessions that failed.
    connects: AtomicU64,
    connect_failures: AtomicU64,
}

/// Connection failures in a row after which the server is probed at once.
pub const FAILURES_TO_PROBE: u32 = 3;

impl super::ServerEntry {
    /// Runs one request to this server's upstream — the one way every path calls an
    /// upstream: within the server's per-call timeout, a connection failure counted
    /// toward the supervisor's early probe, an answer counted as a sign of life. Dropping
    /// the future (a client's cancellation, the timeout) drops the request, which the
    /// session carrying it cancels upstream.
    ///
    /// `clock` (the request's, from its `Admission`) learns how long the upstream took
    /// and how a failure here ended the request (`/metrics`).
    pub async fn call_upstream<T>(
        &self,
        clock: &UpstreamClock,
        call: impl Future<Output = Result<T, UpstreamError>>,
    ) -> Result<T, UpstreamError> {
        let timeout = self.record.call_timeout();
        // Unoptimised builds copy every path's request future (and what it holds) across
        // the frames of each layer, which overflows a test thread's stack: there it goes on
        // the heap. Optimised builds keep it inline (an allocation per call on the hot path).
        #[cfg(debug_assertions)]
        let call = Box::pin(call);
        let started = clock.is_metered().then(std::time::Instant::now);
        let outcome = tokio::time::timeout(timeout, call)
            .await
            .unwrap_or(Err(UpstreamError::Timeout(timeout)));
        if let Some(started) = started {
            clock.waited(started.elapsed());
        }
        match &outcome {
            Ok(_) => self.runtime.mark_seen(),
            Err(e) => {
                if e.is_connection_failure() {
                    self.runtime.record_failure();
                }
                clock.note(Outcome::of(e));
            }
        }
        outcome
    }
}

impl Default for ServerRuntime {
    fn default() -> Self {
        Self {
            health: Mutex::new(HealthView::connecting()),
            peer: ArcSwapOption::empty(),
            stop: CancellationToken::new(),
            calls: Arc::default(),
            http_lane: OnceLock::new(),
            stdio_lane: ArcSwapOption::empty(),
            failures: AtomicU32::new(0),
            suspect: Notify::new(),
            client_sessions: ClientSessionCount::default(),
            asking_wanted: Default::default(),
            asking_requested: Notify::new(),
            handshake: HandshakePlan::default(),
            meters: Default::default(),
            connects: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
        }
    }
}

impl ServerRuntime {
    /// The current health.
    pub fn health(&self) -> HealthView {
        self.lock().clone()
    }

    /// The connected upstream session, if any.
    pub fn peer(&self) -> Option<Arc<UpstreamPeer>> {
        self.peer.load_full()
    }

    /// A call failed for want of a working connection (not an error the upstream
    /// answered). After [`FAILURES_TO_PROBE`] in a row the supervisor is asked to probe
    /// the server now rather than at its next health check: a dead upstream is then marked
    /// unhealthy at once, its tools withdrawn, and calls fail fast until it is back.
    pub fn record_failure(&self) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures == FAILURES_TO_PROBE {
            self.suspect.notify_one();
        }
    }

    /// Calls failed in a row for want of a connection.
    pub fn failures_in_a_row(&self) -> u32 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Sessions established so far, and connections or sessions that failed.
    pub fn connections(&self) -> (u64, u64) {
        (
            self.connects.load(Ordering::Relaxed),
            self.connect_failures.load(Ordering::Relaxed),
        )
    }

    /// Resolves when calls have been failing (see [`Self::record_failure`]).
    pub async fn suspected(&self) {
        self.suspect.notified().await;
    }

    /// A client that can be asked something is listing or calling this server's tools:
    /// from now on discovery also finds the tools listed only to such clients, starting now.
    pub fn want_asking_tools(&self) {
        if !self.asking_wanted.swap(true, Ordering::AcqRel) {
            self.asking_requested.notify_one();
        }
    }

    /// Whether discovery should look for tools listed only to clients that can be asked.
    pub fn asking_tools_wanted(&self) -> bool {
        self.asking_wanted.load(Ordering::Acquire)
    }

    /// Resolves when [`Self::want_asking_tools`] was first called.
    pub async fn asking_tools_requested(&self) {
        self.asking_requested.notified().await;
    }

    /// The direct call lane to this server, when it has one (see [`Lane`]).
    pub fn lane(&self, record: &ServerRecord) -> Option<Lane> {
        if let Some(lane) = self.stdio_lane.load_full() {
            return Some(Lane::Stdio(lane));
        }
        let http = self.http_lane.get_or_init(|| HttpLane::for_record(record));
        http.clone().map(Lane::Http)
    }

    /// The stdio session is up: direct calls may use its pipes.
    pub fn attach_stdio_lane(&self, lane: Arc<StdioLane>) {
        self.stdio_lane.store(Some(lane));
    }

    /// A session is up and discovery worked.
    pub fn mark_healthy(&self, peer: UpstreamPeer) {
        self.peer.store(Some(Arc::new(peer)));
        self.connects.fetch_add(1, Ordering::Relaxed);
        let mut h = self.lock();
        if h.state != HealthState::Healthy {
            h.state = HealthState::Healthy;
            h.since = Utc::now();
        }
        h.last_error = None;
        h.last_seen = Some(Utc::now());
    }

    /// Forgets the upstream session (it is being closed).
    pub fn detach_peer(&self) {
        self.peer.store(None);
        self.stdio_lane.store(None);
    }

    /// The upstream answered (a call or a refresh succeeded).
    pub fn mark_seen(&self) {
        self.failures.store(0, Ordering::Relaxed);
        self.lock().last_seen = Some(Utc::now());
    }

    /// A (re)connection attempt is starting.
    pub fn mark_connecting(&self) {
        let mut h = self.lock();
        if h.state == HealthState::Healthy {
            h.state = HealthState::Connecting;
            h.since = Utc::now();
        }
    }

    /// The session failed or could not be established.
    pub fn mark_unhealthy(&self, error: impl Into<String>) {
        self.connect_failures.fetch_add(1, Ordering::Relaxed);
        self.peer.store(None);
        self.stdio_lane.store(None);
        let mut h = self.lock();
        if h.state != HealthState::Unhealthy {
            h.state = HealthState::Unhealthy;
            h.since = Utc::now();
        }
        h.last_error = Some(error.into());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HealthView> {
        // Every write above leaves the view consistent, so a poisoned lock is still usable.
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How many sessions of one's own a server has; shared by all downstream sessions.
#[derive(Debug, Default)]
pub struct ClientSessionCount(Arc<std::sync::atomic::AtomicUsize>);

/// One counted session; released when dropped.
pub struct ClientSessionSlot(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for ClientSessionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl ClientSessionCount {
    /// A slot, unless `limit` sessions are open.
    pub fn take(&self, limit: usize) -> Option<ClientSessionSlot> {
        use std::sync::atomic::Ordering;
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| ClientSessionSlot(self.0.clone()))
    }

    /// Sessions open now.
    pub fn current(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stop_at_the_limit_and_come_back() {
        let count = ClientSessionCount::default();
        let a = count.take(2).unwrap();
        let _b = count.take(2).unwrap();
        assert!(count.take(2).is_none());
        drop(a);
        assert_eq!(count.current(), 1);
        assert!(count.take(2).is_some());
    }
}
