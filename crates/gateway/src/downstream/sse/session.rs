//! SSE sessions: the table of open sessions, and for each one the relay serving it over two
//! bounded channels — posted messages in, serialized server messages out to the stream
//! (see [`crate::downstream::stream_session`]).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use rmcp::model::ClientJsonRpcMessage;
use tokio::sync::mpsc;
use tokio_util::sync::DropGuard;

use super::Limits;
use crate::{
    downstream::stream_session::{Activity, StreamLimits, StreamSession},
    gateway::Gateway,
    metrics::Face,
};

/// The protocol revision that defined the HTTP+SSE transport.
const SSE_ERA: &str = "2024-11-05";

/// The open sessions by id. A `std` mutex: it is never held across an `.await`.
#[derive(Default)]
pub(super) struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
}

/// What a `POST` needs of a session.
pub(super) struct Session {
    inbound: mpsc::Sender<ClientJsonRpcMessage>,
    activity: Arc<Activity>,
    /// Who opened it: only they may post to it.
    owner: String,
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
            activity: Arc::new(Activity::new()),
            owner: "loopback".to_owned(),
        };
        self.lock().insert(id.to_owned(), Arc::new(session));
        rx
    }

    /// The session `id`, if `principal` opened it (another's session is none of theirs).
    pub fn get(&self, id: &str, principal: &str) -> Option<Arc<Session>> {
        self.lock()
            .get(id)
            .filter(|session| session.owner == principal)
            .cloned()
    }

    /// Opens a session for `owner` (a principal) and starts serving it; `None` when the
    /// table is full. The returned stream side ends the session when dropped.
    pub fn open(
        self: &Arc<Self>,
        gateway: &Arc<Gateway>,
        limits: &Limits,
        owner: String,
    ) -> Option<Outbound> {
        // 122 random bits from the OS generator: unguessable, since the id is all a POST
        // needs (besides the key) to speak for the session.
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (inbound, inbound_rx) = mpsc::channel(limits.inbound_queue);
        let (outbound, outbound_rx) = mpsc::channel(limits.outbound_queue);
        let session = Arc::new(Session {
            inbound,
            activity: Arc::new(Activity::new()),
            owner: owner.clone(),
        });
        {
            let mut map = self.lock();
            if map.len() >= limits.max_sessions {
                return None;
            }
            map.insert(id.clone(), session.clone());
        }
        let ct = gateway.shutdown_token().child_token();
        let served = StreamSession {
            gateway: gateway.clone(),
            id: id.clone(),
            owner,
            inbound: inbound_rx,
            outbound,
            limits: StreamLimits {
                init_timeout: limits.init_timeout,
                stall_timeout: limits.stall_timeout,
                idle: Some((session.activity.clone(), limits.idle_timeout)),
            },
            ct: ct.clone(),
        };
        tokio::spawn(self.clone().run(id.clone(), served));
        tracing::debug!(session = %id, "legacy SSE session opened");
        Some(Outbound {
            id,
            messages: outbound_rx,
            session,
            _end_on_drop: ct.drop_guard(),
        })
    }

    /// Serves one session until it ends, then forgets it.
    async fn run(self: Arc<Self>, id: String, served: StreamSession) {
        // Counted under the revision whose transport this is (2024-11-05, HTTP+SSE).
        let _meter = served.gateway.metrics.session(Face::Sse, SSE_ERA);
        let ct = served.ct.clone();
        served.run().await;
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
