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
    model::{ClientCapabilities, LoggingLevel, SetLevelRequestParams},
};
use tokio_util::sync::CancellationToken;

use super::{
    error,
    session_store::{OwnedSessionRecord, SessionRecord, SessionStore},
};
use crate::{
    model::TransportKind,
    registry::{ServerEntry, ServerRuntime},
    upstream::{
        self, CallRouter, ClientLink, Owner, UpstreamError, UpstreamHandler, UpstreamPeer,
        seen_session::{SeenSession, SessionHeaders},
    },
};

/// An open upstream session owned by one client (or one call of a 2026-07-28 client).
pub(crate) struct OwnedUpstream {
    pub peer: Arc<UpstreamPeer>,
    pub calls: Arc<CallRouter>,
    /// The server entry it was opened for: a replaced server gets a new session.
    runtime: Arc<ServerRuntime>,
    /// Cancelled to close the session (the task holding it then shuts it down).
    end: CancellationToken,
    /// A streamable HTTP session's id and headers: the direct lane sends this client's
    /// tool calls on the same upstream session.
    http_session: Option<Arc<SeenSession>>,
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
        // A session-era client's session is a session-era one where the upstream offers
        // it (see `upstream::connect_session`).
        let session_era = matches!(owner, Owner::Client { .. });
        let handler = UpstreamHandler::owned(id.clone(), calls.clone(), owner);
        let connect = |handler| async {
            if session_era {
                upstream::connect_session(&entry.record, handler, &entry.runtime.handshake).await
            } else {
                upstream::connect(&entry.record, handler, &entry.runtime.handshake).await
            }
        };
        // A new session's first request may meet a pooled connection the upstream has just
        // closed; nothing ran yet, so one more attempt is safe.
        let connection = match connect(handler.clone()).await {
            Err(e) if e.is_connection_failure() => {
                tracing::debug!(upstream = %id, error = %e, "opening a client's session again");
                connect(handler).await
            }
            other => other,
        }
        .map_err(|e| error::upstream(id, e))?;
        let peer = Arc::new(connection.service.peer().clone());
        let http_session = connection.http_session.clone();
        let end = CancellationToken::new();
        let stop = entry.runtime.stop.clone();
        let ended = end.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let upstream::Connection { service, child, .. } = connection;
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
        // What the upstream sends outside a call must have a stream to come on before the
        // first call goes out (server-everything asks for roots that way during one).
        if let Some(seen) = &http_session {
            seen.stream_ready(STREAM_WAIT).await;
        }
        if let Some(level) = level {
            tell_level(&peer, level).await;
        }
        Ok(Self {
            peer,
            calls,
            runtime: entry.runtime.clone(),
            end,
            http_session,
        })
    }

    /// The upstream's id for this session, if it gave one (streamable HTTP).
    pub fn upstream_session_id(&self) -> Option<String> {
        let headers = self.http_session.as_ref()?.current()?;
        let id = headers.headers.get(crate::protocol::header::SESSION_ID)?;
        id.to_str().ok().map(str::to_owned)
    }

    /// The id and headers of this streamable HTTP session, while it is open.
    pub fn http_session(&self) -> Option<Arc<SessionHeaders>> {
        if self.end.is_cancelled() || self.peer.is_transport_closed() {
            return None;
        }
        self.http_session.as_ref()?.current()
    }

    /// Whether the session was opened for this server runtime.
    pub fn serves_runtime(&self, runtime: &Arc<ServerRuntime>) -> bool {
        Arc::ptr_eq(&self.runtime, runtime)
    }

    /// Whether the session has ended (closed here, or by the upstream).
    pub fn is_closed(&self) -> bool {
        self.end.is_cancelled() || self.peer.is_transport_closed()
    }

    /// Whether the session still serves `entry` and is open.
    pub fn serves(&self, entry: &ServerEntry) -> bool {
        Arc::ptr_eq(&self.runtime, &entry.runtime) && !self.is_closed()
    }
}

/// How long a new session of one's own waits for the upstream to answer its GET stream.
const STREAM_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

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
    /// This client's session with `entry`'s upstream, opened now if it has none (then
    /// with `true`).
    pub async fn get(
        &self,
        entry: &ServerEntry,
        owner: impl FnOnce() -> Owner,
        limit: usize,
    ) -> Result<(Arc<OwnedUpstream>, bool), McpError> {
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
            return Ok((open.clone(), false));
        }
        // Boxed: the handshake's future is large, and the requests that open a session
        // (the direct lane's among them) should not carry it inline.
        let open = Box::pin(OwnedUpstream::open(entry, owner(), self.level(), limit));
        let opened = Arc::new(open.await?);
        *held = Some(opened.clone());
        Ok((opened, true))
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

    /// The sessions open now that no opening holds (without waiting for any).
    fn open_now(&self) -> Vec<Arc<OwnedUpstream>> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .values()
            .filter_map(|slot| slot.try_lock().ok()?.clone())
            .filter(|session| !session.end.is_cancelled())
            .collect()
    }

    /// Tells every open session in scope the client's new log level.
    pub async fn tell_level(&self, level: LoggingLevel, keep: impl Fn(&str) -> bool) {
        self.set_level(level);
        for session in self.open(keep).await {
            tell_level(&session.peer, level).await;
        }
    }
}

/// What one downstream session holds of its own, whichever path serves its requests (the
/// direct lane, rmcp's server after it took the session over): the capabilities it
/// declared, its log level and the upstream sessions it owns. Dropped with the session,
/// which closes those upstream sessions. What of it is data (level, subscriptions, owned
/// sessions) is written to the session's record as it changes.
pub(crate) struct ClientSession {
    capabilities: ClientCapabilities,
    owned: OwnedUpstreams,
    /// How its own upstream sessions reach it outside its calls.
    link: Arc<ClientLink>,
    /// Where its record is kept, for the MCP sessions of an endpoint's session table.
    record: Option<(Arc<dyn SessionStore>, String)>,
}

impl ClientSession {
    /// A session whose record is kept nowhere (the legacy `/sse` face, stdio).
    pub fn new(capabilities: ClientCapabilities) -> Self {
        Self {
            capabilities,
            owned: OwnedUpstreams::default(),
            link: Arc::default(),
            record: None,
        }
    }

    /// The session a record describes, keeping the record up to date.
    pub fn recorded(record: &SessionRecord, store: Arc<dyn SessionStore>) -> Self {
        let session = Self {
            record: Some((store, record.id.clone())),
            ..Self::new(record.capabilities.clone())
        };
        if let Some(level) = record.log_level {
            session.owned.set_level(level);
        }
        session
    }

    /// Who opened the session (its record's owner), for a session kept as a record.
    pub fn owner(&self) -> Option<String> {
        let (store, id) = self.record.as_ref()?;
        store.load(id).map(|record| record.owner)
    }

    /// Takes in what another process changed in the record: the log level (the
    /// sessions open here are told it).
    pub fn refresh(&self, record: &SessionRecord) {
        let Some(level) = record.log_level else {
            return;
        };
        if self.owned.level() == Some(level) {
            return;
        }
        self.owned.set_level(level);
        let open: Vec<Arc<OwnedUpstream>> = self.owned.open_now();
        if open.is_empty() {
            return;
        }
        tokio::spawn(async move {
            for session in open {
                tell_level(&session.peer, level).await;
            }
        });
    }

    fn write_record(&self, mut change: impl FnMut(&mut SessionRecord)) {
        if let Some((store, id)) = &self.record {
            store.update(id, &mut change);
        }
    }

    /// Whether an upstream could ask this client something or must log at its level:
    /// then its requests go on upstream sessions of its own.
    pub fn asks(&self) -> bool {
        crate::protocol::can_be_asked(&self.capabilities) || self.owned.level().is_some()
    }

    /// Whether an upstream may send this client a request of `method`.
    pub fn may_be_asked(&self, method: &str) -> bool {
        upstream::may_ask(&self.capabilities, method)
    }

    /// What the client declared in its `initialize`.
    pub fn capabilities(&self) -> &ClientCapabilities {
        &self.capabilities
    }

    /// Messages outside calls reach the client through `peer` from now on (the first
    /// peer attached stays).
    pub fn attach(&self, peer: &crate::client_peer::ClientPeer) {
        self.link.attach(peer);
    }

    /// This client's session with `entry`'s upstream, opened now if it has none.
    pub async fn upstream(
        &self,
        entry: &ServerEntry,
        limit: usize,
    ) -> Result<Arc<OwnedUpstream>, McpError> {
        let owner = || Owner::Client {
            link: self.link.clone(),
            capabilities: self.capabilities.clone(),
        };
        let (session, opened) = self.owned.get(entry, owner, limit).await?;
        if opened {
            let server_id = &entry.record.server_id;
            let upstream_session_id = session.upstream_session_id();
            self.write_record(|record| {
                record.owned.retain(|o| o.server_id != *server_id);
                record.owned.push(OwnedSessionRecord {
                    server_id: server_id.clone(),
                    upstream_session_id: upstream_session_id.clone(),
                });
            });
        }
        Ok(session)
    }

    /// Records the client's log level and tells its sessions in scope (those opened
    /// later are told when they open).
    pub async fn tell_level(&self, level: LoggingLevel, keep: impl Fn(&str) -> bool) {
        self.write_record(|record| record.log_level = Some(level));
        self.owned.tell_level(level, keep).await;
    }

    /// Records a resource subscription taken (`true`) or dropped.
    pub fn note_subscription(&self, uri: &str, subscribed: bool) {
        self.write_record(|record| {
            record.subscriptions.retain(|u| u != uri);
            if subscribed {
                record.subscriptions.push(uri.to_owned());
            }
        });
    }

    /// The resources its record says it follows.
    pub fn subscriptions(&self) -> Vec<String> {
        let Some((store, id)) = &self.record else {
            return Vec::new();
        };
        store
            .load(id)
            .map(|record| record.subscriptions)
            .unwrap_or_default()
    }

    pub fn owned(&self) -> &OwnedUpstreams {
        &self.owned
    }
}
