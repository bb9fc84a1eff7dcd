//! The start-up wait. Until the config file's servers have each connected, or failed, once,
//! MCP requests that list or use the catalog wait for them (at most
//! `gateway.startup_wait_secs`): a client that spawns `mcp-gateway stdio` asks at once, and
//! would otherwise be shown an empty catalog and told that tools do not exist. Servers that
//! come later are announced with `list_changed`, as always.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;

use crate::{model::HealthState, registry::Registry};

/// How often the servers' health is looked at while waiting.
const POLL: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub struct StartupWait {
    /// The fast path: one load once settled.
    settled: AtomicBool,
    changed: watch::Sender<bool>,
}

impl Default for StartupWait {
    fn default() -> Self {
        Self {
            settled: AtomicBool::new(false),
            changed: watch::Sender::new(false),
        }
    }
}

impl StartupWait {
    /// Resolves once the start-up servers have settled (at once after that).
    pub async fn settled(&self) {
        if self.settled.load(Ordering::Acquire) {
            return;
        }
        let mut changed = self.changed.subscribe();
        let _ = changed.wait_for(|settled| *settled).await;
    }

    fn settle(&self) {
        self.settled.store(true, Ordering::Release);
        self.changed.send_replace(true);
    }

    /// Watches the servers `ids` until each has connected or failed once, or `limit` has
    /// passed; then settles (at once for no servers or a zero limit).
    pub fn watch(self: &Arc<Self>, registry: Arc<Registry>, ids: Vec<String>, limit: Duration) {
        if ids.is_empty() || limit.is_zero() {
            self.settle();
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let waiting = |registry: &Registry| -> Vec<String> {
                let snapshot = registry.snapshot();
                let connecting = |id: &String| {
                    snapshot
                        .servers
                        .get(id)
                        .is_some_and(|e| e.runtime.health().state == HealthState::Connecting)
                };
                ids.iter().filter(|id| connecting(id)).cloned().collect()
            };
            let deadline = tokio::time::Instant::now() + limit;
            loop {
                let still = waiting(&registry);
                if still.is_empty() {
                    tracing::info!("the config file's servers have connected (or failed) once");
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!(
                        waited_secs = limit.as_secs(),
                        servers = ?still,
                        "servers still connecting after gateway.startup_wait_secs; clients are \
                         served without them and told (list_changed) when they arrive"
                    );
                    break;
                }
                tokio::time::sleep(POLL).await;
            }
            this.settle();
        });
    }
}
