//! The stdio lane: direct requests (tool calls, prompts, resource reads) written on the
//! stdio server's own stdin, between the rmcp session's messages, with ids (and progress
//! tokens) of their own — strings starting `gw-lane-`, which rmcp never uses (its ids are
//! numbers). The transport reading the server's stdout hands every line that answers or
//! reports on such a request to the lane ([`StdioLane::take`]) and the rest to rmcp.
//!
//! A stdio server has one session, shared with rmcp: a session-era server may still send
//! its requests (sampling, …) or log messages during a direct call; they reach rmcp's
//! handler and are routed as for any call (the gateway's clients on the lane declared no
//! such capabilities, so they are refused or go to another client). A 2026-07-28 server
//! gets each direct call with metadata declaring no client capabilities.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use indexmap::IndexMap;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

use super::closable::ClosableStdin;
use crate::protocol::{self, meta};
use crate::upstream::{
    UpstreamError,
    lane::{LaneError, LaneRequest, Message, Outcome},
};

const ID_PREFIX: &str = "gw-lane-";

/// The direct lane to one stdio server process.
#[derive(Debug)]
pub struct StdioLane {
    stdin: ClosableStdin,
    calls: Mutex<HashMap<u64, Waiting>>,
    next_id: AtomicU64,
    /// Set once the session is up: `Some(members)` of the `_meta` every 2026-07-28
    /// request carries, `None` for a session-era server.
    protocol: OnceLock<Option<String>>,
    /// The server's output ended: no answer will come.
    closed: AtomicBool,
}

/// A call waiting for its answer.
#[derive(Debug)]
struct Waiting {
    answer: oneshot::Sender<Outcome>,
    notify: mpsc::Sender<Box<RawValue>>,
    /// The client's progress token, put back into the server's progress notifications.
    progress_token: Option<Box<RawValue>>,
}

impl StdioLane {
    pub(super) fn new(stdin: ClosableStdin) -> Arc<Self> {
        Arc::new(Self {
            stdin,
            calls: Mutex::default(),
            next_id: AtomicU64::new(1),
            protocol: OnceLock::new(),
            closed: AtomicBool::new(false),
        })
    }

    /// The session is up with `version`: the lane may be used.
    pub fn open(&self, version: &str) {
        let members = (!protocol::has_initialize(version)).then(|| meta::gateway_client(version));
        let _ = self.protocol.set(members);
    }

    /// Whether the server speaks the stateless 2026-07-28 revision.
    pub fn stateless(&self) -> bool {
        matches!(self.protocol.get(), Some(Some(_)))
    }

    /// Sends a request; see [`crate::upstream::lane::Lane::request`].
    pub async fn request(
        self: Arc<Self>,
        call: LaneRequest,
        notify: mpsc::Sender<Box<RawValue>>,
    ) -> Result<Outcome, LaneError> {
        let Some(protocol) = self.protocol.get() else {
            return Err(LaneError::Unusable);
        };
        if self.closed.load(Ordering::Relaxed) {
            return Err(LaneError::Unusable);
        }
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = format!(r#""{ID_PREFIX}{n}""#);
        let (answer, answered) = oneshot::channel();
        let waiting = Waiting {
            answer,
            notify,
            progress_token: call.progress_token.clone(),
        };
        self.lock().insert(n, waiting);
        let mut pending = Pending {
            lane: self.clone(),
            n,
            answered: false,
        };
        let token = call.progress_token.is_some().then_some(id.as_str());
        let mut line = call.body(&id, protocol.as_deref(), token);
        line.push(b'\n');
        self.stdin.write_line(&line).await.map_err(|e| {
            LaneError::Failed(UpstreamError::Transport(format!(
                "cannot write to the stdio server: {e}"
            )))
        })?;
        let outcome = answered.await.map_err(|_| {
            LaneError::Failed(UpstreamError::Transport(
                "the stdio server exited before answering".into(),
            ))
        })?;
        pending.answered = true;
        Ok(outcome)
    }

    /// Takes a line of the server's output if it concerns a direct call (its answer, or
    /// progress on it); `false` leaves it to rmcp.
    pub(super) fn take(&self, line: &str) -> bool {
        if !line.contains(ID_PREFIX) {
            return false; // the common case for rmcp's traffic, without parsing
        }
        let Ok(message) = serde_json::from_str::<Message>(line) else {
            return false;
        };
        if let Some(n) = message.id.as_deref().and_then(lane_number) {
            let Some(outcome) = message.into_outcome() else {
                return false;
            };
            if let Some(waiting) = self.lock().remove(&n) {
                let _ = waiting.answer.send(outcome);
            }
            return true;
        }
        if message.method.as_deref() == Some("notifications/progress")
            && let Some(params) = message.params
            && let Ok(params) = serde_json::from_str(params.get())
        {
            return self.progress(params);
        }
        false
    }

    /// Relays progress on a direct call with the client's own token.
    fn progress(&self, params: IndexMap<String, Box<RawValue>>) -> bool {
        let Some(n) = params
            .get(meta::PROGRESS_TOKEN)
            .and_then(|t| lane_number(t))
        else {
            return false;
        };
        let calls = self.lock();
        let Some(waiting) = calls.get(&n) else {
            return true; // a late report on a finished call
        };
        let Some(token) = &waiting.progress_token else {
            return true;
        };
        let mut params = params;
        params.insert(meta::PROGRESS_TOKEN.into(), token.clone());
        let notification = serde_json::json!({
            "jsonrpc": "2.0", "method": "notifications/progress", "params": params,
        });
        if let Ok(raw) = serde_json::value::to_raw_value(&notification) {
            // A client reading slowly loses progress reports rather than stalling the
            // server's output for everyone.
            let _ = waiting.notify.try_send(raw);
        }
        true
    }

    /// The server's output ended: every waiting call fails.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waiting>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A call's number, from its id or progress token.
fn lane_number(id: &RawValue) -> Option<u64> {
    let text: &str = serde_json::from_str(id.get()).ok()?;
    text.strip_prefix(ID_PREFIX)?.parse().ok()
}

/// A call in flight: forgotten when it ends, and cancelled upstream when abandoned.
struct Pending {
    lane: Arc<StdioLane>,
    n: u64,
    answered: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.lane.lock().remove(&self.n).is_none() || self.answered {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let stdin = self.lane.stdin.clone();
        let id = format!(r#""{ID_PREFIX}{}""#, self.n);
        let line = protocol::cancelled_notification(&id) + "\n";
        runtime.spawn(async move {
            let _ = stdin.write_line(line.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_ids_are_recognised_and_others_left_alone() {
        let raw = |s: &str| RawValue::from_string(s.into()).unwrap();
        assert_eq!(lane_number(&raw(r#""gw-lane-42""#)), Some(42));
        assert_eq!(lane_number(&raw("42")), None);
        assert_eq!(lane_number(&raw(r#""gw-lane-x""#)), None);
        assert_eq!(lane_number(&raw(r#""other-1""#)), None);
    }
}
