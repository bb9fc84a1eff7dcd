//! rmcp's in-memory session manager, with what the gateway holds of each session (its
//! [`ClientSession`]: capabilities, log level, upstream sessions of its own), its record in
//! the gateway's session store, and an idle timeout that counts the calls rmcp never sees.
//!
//! Sessions start *light*: the gateway answers `initialize` itself and keeps only a table
//! entry and a record (a few hundred bytes), where an rmcp session costs ~90 KiB of tasks
//! and channels. A light session's direct calls never need more. Its first request that
//! needs rmcp (listing, a stream, anything the lane leaves) finds no rmcp session; rmcp
//! then asks its session store, [`LightSessions`], for the `initialize` parameters and
//! replays the handshake into a new rmcp session with the same id. A session this table
//! lacks but the session store holds (opened by another gateway sharing the store) is
//! rebuilt from its record the same way.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::Stream;
use rmcp::{
    model::{
        ClientCapabilities, ClientJsonRpcMessage, ClientRequest, InitializeRequestParams,
        ServerJsonRpcMessage,
    },
    transport::streamable_http_server::session::{
        RestoreOutcome, ServerSseMessage, SessionId, SessionManager, SessionState, SessionStore,
        SessionStoreError,
        local::{LocalSessionManager, LocalSessionManagerError},
    },
};
use tokio_util::sync::CancellationToken;

use crate::downstream::{
    owned::ClientSession,
    session_store::{SessionRecord, SessionStore as Records, now_millis},
};

/// What the gateway tracks about one downstream session.
pub struct SessionInfo {
    /// A light session (see the module docs): rmcp does not hold it (its `initialize`
    /// parameters are in its record).
    light: bool,
    /// What the session holds of its own (capabilities, log level, upstream sessions),
    /// kept when rmcp takes a light session over.
    client: Arc<ClientSession>,
    /// Milliseconds since the manager started, at the session's last request.
    last_active: AtomicU64,
    /// `last_active` when it was last noted in the store (see [`TrackedSessions::touch`]).
    noted_active: AtomicU64,
    /// The version of the record this copy of the session reflects.
    version: AtomicU64,
}

impl SessionInfo {
    /// What the session holds of its own.
    pub fn client(&self) -> &Arc<ClientSession> {
        &self.client
    }

    /// The gateway answered this session's `initialize`; rmcp has not seen it.
    pub fn is_light(&self) -> bool {
        self.light
    }
}

/// [`LocalSessionManager`] plus a table of [`SessionInfo`] and an idle timeout.
pub struct TrackedSessions {
    inner: LocalSessionManager,
    table: RwLock<HashMap<SessionId, Arc<SessionInfo>>>,
    /// Light sessions rmcp is taking over, until their `initialize` has been replayed:
    /// rmcp must not route requests to the new session before (its worker would quit),
    /// so it is reported absent and later requests wait for the takeover to finish.
    taking_over: std::sync::Mutex<std::collections::HashSet<SessionId>>,
    started: Instant,
    /// How long a session may go without a request, here and in every other process
    /// sharing the store, before it ends.
    ttl: Duration,
    /// Every session's record (shared by the endpoints of a gateway, and perhaps by other
    /// gateways): a session missing from the table is rebuilt from its record.
    store: Arc<dyn Records>,
    /// Which endpoint this is (see [`SessionRecord::endpoint`]).
    endpoint: Option<String>,
    me: Weak<Self>,
}

impl TrackedSessions {
    /// A manager whose sessions end after `ttl` without a request; the sweeper stops
    /// with `shutdown` or when the manager is dropped.
    pub fn new(
        ttl: Duration,
        shutdown: CancellationToken,
        store: Arc<dyn Records>,
        endpoint: Option<String>,
    ) -> Arc<Self> {
        let mut inner = LocalSessionManager::default();
        // Idle sessions are ended here instead: rmcp's worker never sees direct calls.
        inner.session_config.keep_alive = None;
        let sessions = Arc::new_cyclic(|me| Self {
            inner,
            table: RwLock::default(),
            taking_over: Default::default(),
            started: Instant::now(),
            ttl,
            store,
            endpoint,
            me: me.clone(),
        });
        tokio::spawn(sweep(Arc::downgrade(&sessions), ttl, shutdown));
        sessions
    }

    /// Opens a light session for a client's `initialize` (answered by the caller with
    /// protocol revision `version`).
    pub fn open_light(&self, params: &InitializeRequestParams, version: &str) -> SessionId {
        let id: SessionId = uuid::Uuid::new_v4().to_string().into();
        let record = SessionRecord::opened(
            id.to_string(),
            self.endpoint.clone(),
            version.into(),
            params,
        );
        let client = self.recorded_client(&record);
        let info = self.light_info(client, self.store.save(record));
        self.write().insert(id.clone(), Arc::new(info));
        id
    }

    fn recorded_client(&self, record: &SessionRecord) -> Arc<ClientSession> {
        Arc::new(ClientSession::recorded(record, self.store.clone()))
    }

    /// A light session's entry, reflecting its record's `version`.
    fn light_info(&self, client: Arc<ClientSession>, version: u64) -> SessionInfo {
        SessionInfo {
            client,
            last_active: AtomicU64::new(self.now()),
            noted_active: AtomicU64::new(self.now()),
            version: AtomicU64::new(version),
            light: true,
        }
    }

    /// The session's info, marking it active, if the session exists: in the table, or
    /// as a record (opened by another endpoint table with the same store, perhaps in
    /// another gateway), rebuilt as a light session. The record decides: a session
    /// ended elsewhere is forgotten here, one changed elsewhere (its log level) is
    /// brought up to date.
    pub fn touch(&self, id: &str) -> Option<Arc<SessionInfo>> {
        let Some(version) = self.store.version(id) else {
            self.forget(id);
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
    async fn drop_copy(&self, id: &SessionId) {
        self.write().remove(id);
        self.taking_over().remove(id);
        let _ = self.inner.close_session(id).await;
    }

    /// Drops the copy of a session whose record is gone (ended by another process).
    fn forget(&self, id: &str) {
        if self.write().remove(id).is_none() {
            return;
        }
        let (Ok(runtime), Some(sessions)) =
            (tokio::runtime::Handle::try_current(), self.me.upgrade())
        else {
            return;
        };
        let id: SessionId = id.into();
        runtime.spawn(async move {
            let _ = sessions.inner.close_session(&id).await;
        });
    }

    /// A session of this endpoint known only by its record.
    fn recorded(&self, id: &str) -> Option<SessionRecord> {
        self.store
            .load(id)
            .filter(|record| record.endpoint == self.endpoint)
    }

    fn rebuild(&self, id: &str) -> Option<Arc<SessionInfo>> {
        let record = self.recorded(id)?;
        // Any newer version is taken in by the caller (`touch`).
        let version = self.store.version(id)?;
        let info = Arc::new(self.light_info(self.recorded_client(&record), version));
        tracing::debug!(session = %id, "serving a session from its record");
        let mut table = self.write();
        Some(table.entry(id.into()).or_insert(info).clone())
    }

    /// Whether the session exists (without marking it active).
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

    fn taking_over(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<SessionId>> {
        self.taking_over.lock().unwrap_or_else(|p| p.into_inner())
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
                sessions.drop_copy(&id).await;
            } else {
                tracing::debug!(session = %id, "closing an idle MCP session");
                let _ = sessions.close_session(&id).await;
            }
        }
    }
}

/// The parameters of an `initialize`.
fn initialize_params(message: &ClientJsonRpcMessage) -> Option<&InitializeRequestParams> {
    let ClientJsonRpcMessage::Request(request) = message else {
        return None;
    };
    let ClientRequest::InitializeRequest(initialize) = &request.request else {
        return None;
    };
    Some(&initialize.params)
}

/// rmcp's session store, as far as light sessions need one: it hands rmcp the
/// `initialize` parameters of a light session so that rmcp can take it over.
pub struct LightSessions(pub Arc<TrackedSessions>);

#[async_trait::async_trait]
impl SessionStore for LightSessions {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let params = self
            .0
            .recorded(session_id)
            .and_then(|r| r.initialize_params());
        Ok(params.map(SessionState::new))
    }

    async fn store(&self, _: &str, _: &SessionState) -> Result<(), SessionStoreError> {
        Ok(()) // sessions rmcp opened itself are in the table already
    }

    async fn delete(&self, _: &str) -> Result<(), SessionStoreError> {
        Ok(()) // the table entry goes with `close_session`
    }
}

impl SessionManager for TrackedSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        // A light session taken over by rmcp (its `initialize` replayed) keeps what it
        // holds; a session rmcp opens itself gets a record.
        let taken_over = self
            .read()
            .get(id)
            .map(|old| (old.client.clone(), old.version.load(Ordering::Relaxed)));
        let (client, version) = match (taken_over, initialize_params(&message)) {
            (Some(light), _) => light,
            (None, Some(params)) => {
                let revision = params.protocol_version.to_string();
                let record =
                    SessionRecord::opened(id.to_string(), self.endpoint.clone(), revision, params);
                let client = self.recorded_client(&record);
                (client, self.store.save(record))
            }
            (None, None) => (
                Arc::new(ClientSession::new(ClientCapabilities::default())),
                0,
            ),
        };
        let info = Arc::new(SessionInfo {
            light: false,
            client,
            last_active: AtomicU64::new(self.now()),
            noted_active: AtomicU64::new(self.now()),
            version: AtomicU64::new(version),
        });
        let response = self.inner.initialize_session(id, message).await;
        self.taking_over().remove(id);
        let response = response?;
        self.write().insert(id.clone(), info);
        Ok(response)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        if self.taking_over().contains(id) {
            return Ok(false);
        }
        // Ended, perhaps by another gateway sharing the store: close the copy here.
        if self.store.version(id).is_none() {
            self.write().remove(id);
            let _ = self.inner.close_session(id).await;
            return Ok(false);
        }
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.write().remove(id);
        self.store.remove(id);
        self.taking_over().remove(id);
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.touch(id);
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        self.inner.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.taking_over().insert(id.clone());
        let outcome = self.inner.restore_session(id.clone()).await;
        if !matches!(outcome, Ok(RestoreOutcome::Restored(_))) {
            self.taking_over().remove(&id);
        }
        outcome
    }
}
