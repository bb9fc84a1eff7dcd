//! SSE sessions: the table of open sessions, and for each one an rmcp server running over
//! two bounded channels — posted messages in, serialized server messages out to the stream.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rmcp::{
    RoleServer, ServiceExt,
    model::ClientJsonRpcMessage,
    service::{RxJsonRpcMessage, TxJsonRpcMessage},
    transport::Transport,
};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::Limits;
use crate::{
    downstream::{GatewayServer, Scope},
    gateway::Gateway,
};

/// The open sessions by id. A `std` mutex: it is never held across an `.await`.
#[derive(Default)]
pub(super) struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
}

/// What a `POST` needs of a session.
pub(super) struct Session {
    inbound: mpsc::Sender<ClientJsonRpcMessage>,
    activity: Activity,
}

/// Why a posted message was not taken.
#[derive(Debug)]
pub(super) enum Rejected {
    /// The session's queue is full: the client sends faster than the gateway handles.
    Busy,
    /// The session is ending.
    Ended,
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many sessions are open.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// A session whose messages nobody reads, for tests of a full queue.
    #[cfg(test)]
    pub fn insert_unserved(&self, id: &str, queue: usize) -> mpsc::Receiver<ClientJsonRpcMessage> {
        let (inbound, rx) = mpsc::channel(queue);
        let session = Session {
            inbound,
            activity: Activity::new(),
        };
        self.lock().insert(id.to_owned(), Arc::new(session));
        rx
    }

    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.lock().get(id).cloned()
    }

    /// Opens a session and starts its rmcp server; `None` when the table is full. The
    /// returned stream side ends the session when dropped.
    pub fn open(self: &Arc<Self>, gateway: &Arc<Gateway>, limits: &Limits) -> Option<Outbound> {
        // 122 random bits from the OS generator: unguessable, since the id is all a POST
        // needs (besides the key) to speak for the session.
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (inbound, inbound_rx) = mpsc::channel(limits.inbound_queue);
        let (outbound, outbound_rx) = mpsc::channel(limits.outbound_queue);
        let session = Arc::new(Session {
            inbound,
            activity: Activity::new(),
        });
        {
            let mut map = self.lock();
            if map.len() >= limits.max_sessions {
                return None;
            }
            map.insert(id.clone(), session.clone());
        }
        let ct = gateway.shutdown_token().child_token();
        let transport = ChannelTransport {
            inbound: inbound_rx,
            outbound,
            stall_timeout: limits.stall_timeout,
            session: id.clone(),
            ct: ct.clone(),
        };
        let server = GatewayServer::new(gateway.clone(), Scope::All);
        tokio::spawn(
            self.clone()
                .run(id.clone(), session.clone(), server, transport, *limits),
        );
        tracing::debug!(session = %id, "legacy SSE session opened");
        Some(Outbound {
            id,
            messages: outbound_rx,
            session,
            _end_on_drop: ct.drop_guard(),
        })
    }

    /// Serves one session until it ends, then forgets it.
    async fn run(
        self: Arc<Self>,
        id: String,
        session: Arc<Session>,
        server: GatewayServer,
        transport: ChannelTransport,
        limits: Limits,
    ) {
        let ct = transport.ct.clone();
        let serve = server.serve_with_ct(transport, ct.clone());
        match tokio::time::timeout(limits.init_timeout, serve).await {
            Err(_) => {
                tracing::info!(session = %id, timeout = ?limits.init_timeout, "closing a legacy SSE session that sent no initialize");
            }
            Ok(Err(e)) => {
                tracing::debug!(session = %id, error = %e, "legacy SSE session ended before initialize");
            }
            Ok(Ok(running)) => {
                // Dropping `running` on idleness cancels the service (its drop guard).
                tokio::select! {
                    _ = running.waiting() => {}
                    () = session.activity.idle(limits.idle_timeout) => {
                        tracing::info!(session = %id, timeout = ?limits.idle_timeout, "closing an idle legacy SSE session");
                    }
                }
            }
        }
        ct.cancel();
        self.lock().remove(&id);
        tracing::debug!(session = %id, "legacy SSE session closed");
    }
}

impl Session {
    /// Queues a posted message without waiting: a full queue is the client's problem.
    pub fn deliver(&self, message: ClientJsonRpcMessage) -> Result<(), Rejected> {
        self.inbound.try_send(message).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Rejected::Busy,
            mpsc::error::TrySendError::Closed(_) => Rejected::Ended,
        })?;
        self.activity.touch();
        Ok(())
    }
}

/// The stream side of a session: its id and the server messages, JSON-encoded.
pub(super) struct Outbound {
    id: String,
    messages: mpsc::Receiver<String>,
    session: Arc<Session>,
    /// Cancels the session when the stream is dropped (the client disconnected).
    _end_on_drop: DropGuard,
}

impl Outbound {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The next server message; `None` once the session's server has stopped.
    pub async fn next(&mut self) -> Option<String> {
        let message = self.messages.recv().await?;
        self.session.activity.touch();
        Some(message)
    }
}

/// When a session last carried a message, for the idle limit.
struct Activity {
    since: Instant,
    /// Milliseconds after `since`.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(now, Ordering::Relaxed);
    }

    /// Resolves once no message has passed for `limit`.
    async fn idle(&self, limit: Duration) {
        loop {
            let last = self.since + Duration::from_millis(self.last.load(Ordering::Relaxed));
            let deadline = last + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// The rmcp transport of one session.
struct ChannelTransport {
    inbound: mpsc::Receiver<ClientJsonRpcMessage>,
    outbound: mpsc::Sender<String>,
    stall_timeout: Duration,
    session: String,
    ct: CancellationToken,
}

#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("the SSE stream is closed")]
    Closed,
    #[error("the SSE stream took no message for {0:?}")]
    Stalled(Duration),
    #[error("cannot encode a server message: {0}")]
    Encode(#[from] serde_json::Error),
}

impl Transport<RoleServer> for ChannelTransport {
    type Error = StreamError;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let outbound = self.outbound.clone();
        let stall = self.stall_timeout;
        let ct = self.ct.clone();
        let session = self.session.clone();
        async move {
            let json = serde_json::to_string(&item)?;
            match tokio::time::timeout(stall, outbound.send(json)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(StreamError::Closed),
                Err(_) => {
                    // rmcp sends from spawned tasks, so a client that stopped reading would
                    // otherwise let them pile up.
                    tracing::warn!(session = %session, timeout = ?stall, "closing a legacy SSE session whose client stopped reading");
                    ct.cancel();
                    Err(StreamError::Stalled(stall))
                }
            }
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        self.inbound.recv().await
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inbound.close();
        Ok(())
    }
}
