//! Upstream sessions of one's own, for clients that can be asked something.
//!
//! A client that declared sampling, elicitation or roots, or that set a log level, shares
//! nothing with other clients: each upstream it calls gets a session of its own from it,
//! opened on its first request to that server, declaring that client's capabilities, told
//! its log level and asking it for its roots. Everything that upstream session sends goes
//! to that client, so nothing it sends can reach another one (see
//! [`crate::upstream::Owner`]). For stdio servers a session of one's own is a process of
//! one's own; `gateway.max_client_processes_per_server` bounds how many a server may have.
//!
//! A session of one's own ends with the downstream session, when its server is removed or
//! replaced, or when the upstream closes it; a stdio process is then terminated and reaped.

// Logging is deprecated by SEP-2577 but still relayed.
#![allow(deprecated)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use rmcp::{
    ErrorData as McpError,
    model::{LoggingLevel, SetLevelRequestParams},
};
use tokio_util::sync::CancellationToken;

use super::error;
use crate::{
    model::TransportKind,
    registry::{ServerEntry, ServerRuntime},
    upstream::{self, CallRouter, Owner, UpstreamError, UpstreamHandler, UpstreamPeer},
};

/// An open upstream session owned by one client (or one call of a 2026-07-28 client).
pub(crate) struct OwnedUpstream {
    pub peer: Arc<UpstreamPeer>,
    pub calls: Arc<CallRouter>,
    /// The server entry it was opened for: a replaced server gets a new session.
    runtime: Arc<ServerRuntime>,
    /// Cancelled to close the session (the task holding it then shuts it down).
    end: CancellationToken,
}

impl Drop for OwnedUpstream {
    fn drop(&mut self) {
        self.end.cancel();
    }
}

impl OwnedUpstream {
    /// Opens a session with `entry`'s upstream for `owner`, within the server's limit of
    /// sessions of one's own; `level` is the log level to tell the upstream, if any.
    pub async fn open(
        entry: &ServerEntry,
        owner: Owner,
        level: Option<LoggingLevel>,
        limit: usize,
    ) -> Result<Self, McpError> {
        let id = &entry.record.server_id;
        // A stdio session of one's own is a process: those are counted and bounded.
        let slot = if entry.record.transport_kind() == TransportKind::Stdio {
            let slot = entry.runtime.client_sessions.take(limit).ok_or_else(|| {
                McpError::internal_error(
                    format!(
                        "mcp-gateway: {id:?} already runs {limit} processes for clients \
                         (gateway.max_client_processes_per_server); retry later"
                    ),
                    None,
                )
            })?;
            Some(slot)
        } else {
            None
        };
        let calls = CallRouter::owned();
        let handler = UpstreamHandler::owned(id.clone(), calls.clone(), owner);
        // A new session's first request may meet a pooled connection the upstream has just
        // closed; nothing ran yet, so one more attempt is safe.
        let connection = match upstream::connect(&entry.record, handler.clone()).await {
            Err(e) if e.is_connection_failure() => {
                tracing::debug!(upstream = %id, error = %e, "opening a client's session again");
                upstream::connect(&entry.record, handler).await
            }
            other => other,
        }
        .map_err(|e| error::upstream(id, e))?;
        let peer = Arc::new(connection.service.peer().clone());
        let end = CancellationToken::new();
        let stop = entry.runtime.stop.clone();
        let ended = end.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let upstream::Connection { service, child } = connection;
            let cancel = service.cancellation_token();
            let mut finished = tokio::spawn(service.waiting());
            tokio::select! {
                () = ended.cancelled() => {}
                () = stop.cancelled() => {}
                _ = &mut finished => {}
            }
            // As the supervisor closes its session: rmcp's task ends by itself (sending
            // DELETE to an HTTP upstream); the child process is terminated and reaped now.
            cancel.cancel();
            if let Some(child) = child {
                child.terminate().await;
            }
        });
        if let Some(level) = level {
            tell_level(&peer, level).await;
        }
        Ok(Self {
            peer,
            calls,
            runtime: entry.runtime.clone(),
            end,
        })
    }

    /// Whether the session was opened for this server runtime.
    pub fn serves_runtime(&self, runtime: &Arc<ServerRuntime>) -> bool {
        Arc::ptr_eq(&self.runtime, runtime)
    }

    /// Whether the session still serves `entry` and is open.
    fn serves(&self, entry: &ServerEntry) -> bool {
        Arc::ptr_eq(&self.runtime, &entry.runtime)
            && !self.end.is_cancelled()
            && !self.peer.is_transport_closed()
    }
}

/// Tells an upstream that offers logging the level its client asked for.
async fn tell_level(peer: &UpstreamPeer, level: LoggingLevel) {
    let logs = peer
        .peer_info()
        .is_some_and(|i| i.capabilities.logging.is_some());
    if logs && let Err(e) = peer.set_level(SetLevelRequestParams::new(level)).await {
        tracing::debug!(error = %UpstreamError::from(e), "logging/setLevel not relayed");
    }
}

/// The upstream sessions one downstream session owns, by server id, and what they are
/// told: its log level.
#[derive(Default)]
pub(crate) struct OwnedUpstreams {
    /// One slot per server, held across an opening: a client opens one session per server
    /// at a time, and its requests to other servers do not wait for it.
    slots: Mutex<HashMap<String, Slot>>,
    level: Mutex<Option<LoggingLevel>>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Arc<OwnedUpstream>>>>;

impl OwnedUpstreams {
    /// This client's session with `entry`'s upstream, opened now if it has none.
    pub async fn get(
        &self,
        entry: &ServerEntry,
        owner: impl FnOnce() -> Owner,
        limit: usize,
    ) -> Result<Arc<OwnedUpstream>, McpError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots
                .entry(entry.record.server_id.clone())
                .or_default()
                .clone()
        };
        let mut held = slot.lock().await;
        if let Some(open) = held.as_ref()
            && open.serves(entry)
        {
            return Ok(open.clone());
        }
        let opened = Arc::new(OwnedUpstream::open(entry, owner(), self.level(), limit).await?);
        *held = Some(opened.clone());
        Ok(opened)
    }

    /// The log level this client set, if any.
    pub fn level(&self) -> Option<LoggingLevel> {
        *self.level.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the client's log level; sessions opened from now on are told it.
    pub fn set_level(&self, level: LoggingLevel) {
        *self.level.lock().unwrap_or_else(|p| p.into_inner()) = Some(level);
    }

    /// The sessions open now whose server `keep` accepts (after any opening under way).
    pub async fn open(&self, keep: impl Fn(&str) -> bool) -> Vec<Arc<OwnedUpstream>> {
        let slots: Vec<Slot> = {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots
                .iter()
                .filter(|(id, _)| keep(id))
                .map(|(_, slot)| slot.clone())
                .collect()
        };
        let mut open = Vec::with_capacity(slots.len());
        for slot in slots {
            if let Some(session) = slot.lock().await.as_ref()
                && !session.end.is_cancelled()
            {
                open.push(session.clone());
            }
        }
        open
    }

    /// Tells every open session in scope the client's new log level.
    pub async fn tell_level(&self, level: LoggingLevel, keep: impl Fn(&str) -> bool) {
        self.set_level(level);
        for session in self.open(keep).await {
            tell_level(&session.peer, level).await;
        }
    }
}
