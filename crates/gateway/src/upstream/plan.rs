//! How a server's handshake is made: its time limit (`gateway.upstream_handshake_timeout_secs`)
//! and which protocol era the server turned out to speak, so that a reconnection goes
//! straight to the handshake that worked.

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Duration,
};

use crate::config::DEFAULT_UPSTREAM_HANDSHAKE_TIMEOUT;

/// One server's handshake plan (kept in its runtime, shared by every connection to it).
#[derive(Debug)]
pub struct HandshakePlan {
    timeout_ms: AtomicU64,
    /// The server answered `server/discover` as a session-era server does.
    session_era: AtomicBool,
}

impl Default for HandshakePlan {
    fn default() -> Self {
        Self {
            timeout_ms: AtomicU64::new(millis(DEFAULT_UPSTREAM_HANDSHAKE_TIMEOUT)),
            session_era: AtomicBool::new(false),
        }
    }
}

impl HandshakePlan {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.load(Ordering::Relaxed))
    }

    pub fn set_timeout(&self, timeout: Duration) {
        self.timeout_ms.store(millis(timeout), Ordering::Relaxed);
    }

    /// Whether the server is known to speak only the session-era handshake.
    pub fn session_era(&self) -> bool {
        self.session_era.load(Ordering::Relaxed)
    }

    pub fn learn_session_era(&self) {
        self.session_era.store(true, Ordering::Relaxed);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}
