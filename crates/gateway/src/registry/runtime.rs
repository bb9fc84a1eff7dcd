//! The live part of a registered server: its health and a handle to its upstream session.
//! Owned by the registry entry, written by the server's supervisor.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::{
    model::{HealthState, HealthView},
    upstream::{CallRouter, UpstreamPeer},
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
}

impl Default for ServerRuntime {
    fn default() -> Self {
        Self {
            health: Mutex::new(HealthView::connecting()),
            peer: ArcSwapOption::empty(),
            stop: CancellationToken::new(),
            calls: Arc::default(),
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

    /// A session is up and discovery worked.
    pub fn mark_healthy(&self, peer: UpstreamPeer) {
        self.peer.store(Some(Arc::new(peer)));
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
    }

    /// The upstream answered (a call or a refresh succeeded).
    pub fn mark_seen(&self) {
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
        self.peer.store(None);
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
