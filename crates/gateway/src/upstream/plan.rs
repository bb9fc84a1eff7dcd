//! How a server's handshake is made: its time limit (`gateway.upstream_handshake_timeout_secs`),
//! kept with the server's runtime so that every connection to it (the supervisor's, clients'
//! own sessions) uses the same.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use crate::config::DEFAULT_UPSTREAM_HANDSHAKE_TIMEOUT;

/// One server's handshake plan.
#[derive(Debug)]
pub struct HandshakePlan {
    timeout_ms: AtomicU64,
}

impl Default for HandshakePlan {
    fn default() -> Self {
        Self {
            timeout_ms: AtomicU64::new(millis(DEFAULT_UPSTREAM_HANDSHAKE_TIMEOUT)),
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
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}
