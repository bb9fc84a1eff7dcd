//! rmcp's in-memory session manager, with what the direct lane needs to know about each
//! session (may its calls skip rmcp?) and an idle timeout that counts the calls that do.
//!
//! Sessions start *light*: the gateway answers `initialize` itself and keeps only a table
//! entry (a few hundred bytes), where an rmcp session costs ~90 KiB of tasks and channels.
//! A light session's direct calls never need more. Its first request that needs rmcp
//! (listing, a stream, anything but a plain call) finds no rmcp session; rmcp then asks
//! its session store, [`LightSessions`], for the `initialize` parameters and replays the
//! handshake into a new rmcp session with the same id.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock, Weak,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::Stream;
use rmcp::{
    model::{ClientJsonRpcMessage, ClientRequest, InitializeRequestParams, ServerJsonRpcMessage},
    transport::streamable_http_server::session::{
        RestoreOutcome, ServerSseMessage, SessionId, SessionManager, SessionState, SessionStore,
        SessionStoreError,
        local::{LocalSessionManager, LocalSessionManagerError},
    },
};
use tokio_util::sync::CancellationToken;

use crate::protocol;

/// What the gateway tracks about one downstream session.
#[derive(Debug, Default)]
pub struct SessionInfo {
    /// A light session's `initialize` parameters (see the module docs); `None` once rmcp
    /// holds the session.
    light: Option<InitializeRequestParams>,
    /// The client can be asked things (it declared sampling, elicitation or roots) or set
    /// a log level: its calls need the full relay.
    pinned: AtomicBool,
    /// Milliseconds since the manager started, at the session's last request.
    last_active: AtomicU64,
}

impl SessionInfo {
    /// Whether this session's calls may take the direct lane.
    pub fn direct(&self) -> bool {
        !self.pinned.load(Ordering::Relaxed)
    }

    /// From now on, this session's calls take the full relay.
    pub fn pin(&self) {
        self.pinned.store(true, Ordering::Relaxed);
    }

    /// The gateway answered this session's `initialize`; rmcp has not seen it.
    pub fn is_light(&self) -> bool {
        self.light.is_some()
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
}

impl TrackedSessions {
    /// A manager whose sessions end after `ttl` without a request; the sweeper stops
    /// with `shutdown` or when the manager is dropped.
    pub fn new(ttl: Duration, shutdown: CancellationToken) -> Arc<Self> {
        let mut inner = LocalSessionManager::default();
        // Idle sessions are ended here instead: rmcp's worker never sees direct calls.
        inner.session_config.keep_alive = None;
        let sessions = Arc::new(Self {
            inner,
            table: RwLock::default(),
            taking_over: Default::default(),
            started: Instant::now(),
        });
        tokio::spawn(sweep(Arc::downgrade(&sessions), ttl, shutdown));
        sessions
    }

    /// Opens a light session for a client's `initialize` (answered by the caller).
    pub fn open_light(&self, params: InitializeRequestParams) -> SessionId {
        let id: SessionId = uuid::Uuid::new_v4().to_string().into();
        let info = SessionInfo {
            pinned: AtomicBool::new(protocol::can_be_asked(&params.capabilities)),
            last_active: AtomicU64::new(self.now()),
            light: Some(params),
        };
        self.write().insert(id.clone(), Arc::new(info));
        id
    }

    /// The session's info, marking it active, if the session exists.
    pub fn touch(&self, id: &str) -> Option<Arc<SessionInfo>> {
        let info = self.read().get(id).cloned()?;
        info.last_active.store(self.now(), Ordering::Relaxed);
        Some(info)
    }

    /// Whether the session exists (without marking it active).
    pub fn contains(&self, id: &str) -> bool {
        self.read().contains_key(id)
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
            tracing::debug!(session = %id, "closing an idle MCP session");
            let _ = sessions.close_session(&id).await;
        }
    }
}

/// Whether an `initialize` declares a capability that lets the server ask the client.
fn can_be_asked(message: &ClientJsonRpcMessage) -> bool {
    let ClientJsonRpcMessage::Request(request) = message else {
        return false;
    };
    let ClientRequest::InitializeRequest(initialize) = &request.request else {
        return false;
    };
    protocol::can_be_asked(&initialize.params.capabilities)
}

/// rmcp's session store, as far as light sessions need one: it hands rmcp the
/// `initialize` parameters of a light session so that rmcp can take it over.
pub struct LightSessions(pub Arc<TrackedSessions>);

#[async_trait::async_trait]
impl SessionStore for LightSessions {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let light = self.0.read().get(session_id).and_then(|i| i.light.clone());
        Ok(light.map(SessionState::new))
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
        let info = Arc::new(SessionInfo::default());
        if can_be_asked(&message) {
            info.pin();
        }
        // A light session taken over by rmcp (its `initialize` replayed) keeps its pin.
        if self.read().get(id).is_some_and(|old| !old.direct()) {
            info.pin();
        }
        info.last_active.store(self.now(), Ordering::Relaxed);
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
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.write().remove(id);
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
