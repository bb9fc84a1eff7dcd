//! The streamable HTTP sessions of one MCP endpoint, served by the gateway itself: a
//! table of [`SessionInfo`] (what the client declared, its [`Relay`], its [`Outbox`]), each
//! session's record in the gateway's session store, and an idle timeout.
//!
//! A session costs a table entry, a record and a few small structures (no task, no channel
//! until the client opens a stream). A session this table lacks but the session store
//! holds (opened by another gateway sharing the store) is rebuilt from its record.
//!
//! The direct lane answers plain requests ([`super`]); everything else on a session comes
//! through rmcp's streamable HTTP framing (its header checks and event streams), which
//! hands each message to this table as its session manager ([`manager`]), and from here
//! to the session's relay: rmcp runs no server of its own for these sessions.

mod manager;

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use rmcp::{
    model::{InitializeRequestParams, ProtocolVersion},
    transport::streamable_http_server::session::SessionId,
};
use tokio_util::sync::CancellationToken;

use crate::{
    client_peer::{ClientPeer, Outbox},
    downstream::{
        owned::ClientSession,
        relay::Relay,
        session_store::{SessionRecord, SessionStore as Records, now_millis},
        view::Scope,
    },
    gateway::Gateway,
    metrics::{Face, SessionMeter},
};

/// What the gateway holds of one downstream session.
pub struct SessionInfo {
    /// What the session holds of its own (capabilities, log level, upstream sessions).
    client: Arc<ClientSession>,
    /// The session's relay: every request of the session goes through it.
    relay: Relay,
    /// The session's streams.
    outbox: Arc<Outbox>,
    /// The negotiated protocol revision.
    revision: ProtocolVersion,
    /// Who opened it (see [`SessionRecord::owner`]).
    owner: Box<str>,
    /// Milliseconds since the manager started, at the session's last request.
    last_active: AtomicU64,
    /// `last_active` when it was last noted in the store (see [`TrackedSessions::touch`]).
    noted_active: AtomicU64,
    /// The version of the record this copy of the session reflects.
    version: AtomicU64,
    /// Counts the session in `mcp_gateway_sessions` while this process serves it.
    _meter: SessionMeter,
}

impl SessionInfo {
    /// What the session holds of its own.
    pub fn client(&self) -> &Arc<ClientSession> {
        &self.client
    }

    /// The session's relay.
    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    /// The session's streams.
    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// The session as a whole, as messages outside its requests reach it.
    pub fn peer(&self) -> ClientPeer {
        ClientPeer::Session(self.outbox.clone())
    }

    /// The negotiated protocol revision.
    pub fn revision(&self) -> &ProtocolVersion {
        &self.revision
    }
}

/// The sessions of one endpoint, with an idle timeout.
pub struct TrackedSessions {
    gateway: Arc<Gateway>,
    scope: Scope,
    table: RwLock<HashMap<SessionId, Arc<SessionInfo>>>,
    started: Instant,
    /// How long a session may go without a request, here and in every other process
    /// sharing the store, before it ends.
    ttl: Duration,
    /// Every session's record (shared by the endpoints of a gateway, and perhaps by other
    /// gateways): a session missing from the table is rebuilt from its record.
    store: Arc<dyn Records>,
    /// Which endpoint this is (see [`SessionRecord::endpoint`]).
    endpoint: Option<String>,
}

impl TrackedSessions {
    /// The sessions of `scope`'s endpoint; they end after the gateway's session ttl
    /// without a request. The sweeper stops at shutdown or when the table is dropped.
    pub fn new(gateway: &Arc<Gateway>, scope: Scope) -> Arc<Self> {
        let ttl = gateway.settings.session_ttl;
        let endpoint = match &scope {
            Scope::All => None,
            Scope::Server(id) => Some(id.to_string()),
        };
        let sessions = Arc::new(Self {
            gateway: gateway.clone(),
            scope,
            table: RwLock::default(),
            started: Instant::now(),
            ttl,
            store: gateway.sessions.clone(),
            endpoint,
        });
        let shutdown = gateway.shutdown_token().clone();
        tokio::spawn(sweep(Arc::downgrade(&sessions), ttl, shutdown));
        sessions
    }

    /// Opens a session for a client's `initialize` (answered by the caller with protocol
    /// revision `version`), owned by `owner` (a principal).
    pub fn open(
        &self,
        params: &InitializeRequestParams,
        version: &ProtocolVersion,
        owner: &str,
    ) -> SessionId {
        let id: SessionId = uuid::Uuid::new_v4().to_string().into();
        let record = SessionRecord::opened(
            id.to_string(),
            self.endpoint.clone(),
            version.to_string(),
            params,
            owner.to_owned(),
        );
        let client = self.recorded_client(&record);
        let info = self.info(client, version.clone(), self.store.save(record), owner);
        self.write().insert(id.clone(), Arc::new(info));
        id
    }

    /// A session's entry, reflecting its record's `version`.
    fn info(
        &self,
        client: Arc<ClientSession>,
        revision: ProtocolVersion,
        version: u64,
        owner: &str,
    ) -> SessionInfo {
        let outbox = Outbox::new(client.capabilities().clone());
        client.attach(&ClientPeer::Session(outbox.clone()));
        let relay = Relay::for_client(self.gateway.clone(), self.scope.clone(), client.clone());
        let face = match self.scope {
            Scope::All => Face::Aggregate,
            Scope::Server(_) => Face::Server,
        };
        let meter = self.gateway.metrics.session(face, revision.as_str());
        SessionInfo {
            client,
            relay,
            outbox,
            revision,
            owner: owner.into(),
            last_active: AtomicU64::new(self.now()),
            noted_active: AtomicU64::new(self.now()),
            version: AtomicU64::new(version),
            _meter: meter,
        }
    }

    fn recorded_client(&self, record: &SessionRecord) -> Arc<ClientSession> {
        Arc::new(ClientSession::recorded(record, self.store.clone()))
    }

    /// The session's info, marking it active, if the session exists: in the table, or
    /// as a record (opened by another endpoint table with the same store, perhaps in
    /// another gateway), rebuilt from it. The record decides: a session
    /// ended elsewhere is forgotten here, one changed elsewhere (its log level) is
    /// brought up to date.
    pub fn touch(&self, id: &str) -> Option<Arc<SessionInfo>> {
        let Some(version) = self.store.version(id) else {
            // Ended by another process: its copy here goes.
            self.drop_copy(id);
            return None;
        };
        let listed = self.read().get(id).cloned();
        let info = match listed {
            Some(info) => info,
            None => self.rebuild(id)?,
        };
        if info.version.swap(version, Ordering::Relaxed) != version
            && let Some(record) = self.recorded(id)
        {
            info.client.refresh(&record);
        }
        let now = self.now();
        info.last_active.store(now, Ordering::Relaxed);
        // The store learns of activity a few times per idle timeout: enough for the
        // other processes sharing it not to end a session this one serves.
        let noted = info.noted_active.load(Ordering::Relaxed);
        if now.saturating_sub(noted) >= self.note_every()
            && info
                .noted_active
                .compare_exchange(noted, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.store.mark_active(id, now_millis());
        }
        Some(info)
    }

    fn note_every(&self) -> u64 {
        (self.ttl / 4).as_millis() as u64
    }

    /// Whether another process sharing the store served the session within the idle
    /// timeout.
    fn active_elsewhere(&self, id: &str) -> bool {
        let ttl = self.ttl.as_millis() as u64;
        self.store
            .last_active(id)
            .is_some_and(|at| now_millis().saturating_sub(at) < ttl)
    }

    /// Drops this process's copy of a session that another process serves: its record
    /// stays, and the session is rebuilt from it if it comes back here.
    fn drop_copy(&self, id: &str) {
        if let Some(info) = self.write().remove(id) {
            info.outbox.end();
        }
    }

    /// Ends a session (the client's `DELETE`, or idle too long): its record goes too.
    pub fn end(&self, id: &str) {
        self.drop_copy(id);
        self.store.remove(id);
    }

    /// A session of this endpoint known only by its record.
    fn recorded(&self, id: &str) -> Option<SessionRecord> {
        self.store
            .load(id)
            .filter(|record| record.endpoint == self.endpoint)
    }

    /// Serves here a session opened elsewhere: its handshake is done, so the client is
    /// told of list changes and its subscriptions are followed again from now on.
    fn rebuild(&self, id: &str) -> Option<Arc<SessionInfo>> {
        let record = self.recorded(id)?;
        // Any newer version is taken in by the caller (`touch`).
        let version = self.store.version(id)?;
        let revision =
            serde_json::from_value(serde_json::Value::String(record.protocol_version.clone()))
                .ok()?;
        let client = self.recorded_client(&record);
        let info = Arc::new(self.info(client, revision, version, &record.owner));
        tracing::debug!(session = %id, "serving a session from its record");
        let (info, rebuilt) = {
            let mut table = self.write();
            match table.get(id) {
                Some(present) => (present.clone(), false),
                None => {
                    table.insert(id.into(), info.clone());
                    (info, true)
                }
            }
        };
        if rebuilt {
            info.relay.initialized(info.peer());
        }
        Some(info)
    }

    /// Whether the session exists (without marking it active).
    /// Whether `principal` may use the session: `None` when there is no such session,
    /// `Some(false)` when someone else opened it (which its caller answers as for a
    /// session that does not exist).
    pub fn is_owned_by(&self, id: &str, principal: &str) -> Option<bool> {
        if let Some(info) = self.read().get(id) {
            return Some(&*info.owner == principal);
        }
        self.recorded(id).map(|record| record.owner == principal)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.read().contains_key(id) || self.recorded(id).is_some()
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<SessionId, Arc<SessionInfo>>> {
        // Every write leaves the map consistent, so a poisoned lock is still usable.
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<SessionId, Arc<SessionInfo>>> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Sessions idle for longer than `ttl`.
    fn idle(&self, ttl: Duration) -> Vec<SessionId> {
        let cutoff = self.now().saturating_sub(ttl.as_millis() as u64);
        self.read()
            .iter()
            .filter(|(_, info)| info.last_active.load(Ordering::Relaxed) < cutoff)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// Ends idle sessions, checking a few times per `ttl`.
async fn sweep(sessions: Weak<TrackedSessions>, ttl: Duration, shutdown: CancellationToken) {
    let every = (ttl / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
        let Some(sessions) = sessions.upgrade() else {
            return;
        };
        for id in sessions.idle(ttl) {
            if sessions.active_elsewhere(&id) {
                tracing::debug!(session = %id, "dropping the copy of a session served elsewhere");
                sessions.drop_copy(&id);
            } else {
                tracing::debug!(session = %id, "closing an idle MCP session");
                sessions.end(&id);
            }
        }
    }
}
