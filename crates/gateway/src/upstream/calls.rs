//! Which downstream call an upstream's message belongs to. Progress is routed exactly:
//! rmcp gives every upstream request a progress token of its own, which is mapped back to
//! the client's token. Requests the upstream sends while serving a call (sampling,
//! elicitation, roots) are routed by the stream they arrived on (streamable HTTP tells which
//! request's response stream carried them) or by whose upstream session it is (see
//! `super::handler::Owner`) — never to "whoever called last".

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use rmcp::{
    ErrorData as McpError,
    model::{InputRequest, ProgressToken, RequestId},
};

use crate::client_peer::ClientPeer;
use tokio::sync::{mpsc, oneshot};

/// An upstream's request (sampling, elicitation, roots) for a 2026-07-28 client, which
/// cannot receive server-initiated requests: the call answers it with `input_required`
/// and the client's retry carries the reply (see `downstream::bridge`).
#[derive(Debug)]
pub struct InputAsk {
    pub request: InputRequest,
    pub reply: oneshot::Sender<Result<serde_json::Value, McpError>>,
}

/// A downstream client session: its number (one per MCP session of the gateway) and the
/// handle to send it messages.
#[derive(Debug, Clone)]
pub struct Client {
    pub session: u64,
    pub peer: ClientPeer,
    /// The client's request being relayed, when there is one: requests the upstream sends
    /// meanwhile go out on that request's response stream.
    pub request: Option<RequestId>,
}

/// In-flight relayed requests and resource subscriptions of one upstream session.
#[derive(Debug, Default)]
pub struct CallRouter {
    inner: Mutex<Inner>,
    /// Log messages on this session reach its owner, so answers wait for them too (see
    /// [`CallGuard::settle`]); a shared session's log messages reach nobody.
    delivers_logs: bool,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    calls: BTreeMap<u64, InFlight>,
    /// Upstream progress token → call (its client may ask for progress only on a retry).
    progress: HashMap<ProgressToken, u64>,
    /// Upstream request id → call: a request the upstream sends on the response stream of
    /// one of ours belongs to that call.
    requests: HashMap<RequestId, u64>,
    /// Resource URI → sessions subscribed to it through the gateway.
    subscriptions: HashMap<String, Vec<Client>>,
    /// Task id → the client whose call created the task (SEP-2663 tasks).
    tasks: HashMap<String, Client>,
}

#[derive(Debug)]
struct InFlight {
    client: Client,
    /// The client's own progress token, when it asked for progress.
    client_token: Option<ProgressToken>,
    /// For 2026-07-28 clients: where the upstream's requests go instead of the client.
    input: Option<mpsc::Sender<InputAsk>>,
    /// The upstream answered; the entry stays a moment for notifications sent just
    /// before the answer, which rmcp may route after it.
    done: bool,
    /// Notifications for this call being forwarded right now (see [`CallGuard::settle`]).
    forwarding: usize,
}

/// How long a finished call stays routable for its late notifications.
const LINGER: std::time::Duration = std::time::Duration::from_millis(500);

/// Who answers an upstream's request that belongs to a call.
#[derive(Debug, Clone)]
pub enum Requester {
    /// A session-era client: ask it directly, on the stream of its request.
    Client(ClientPeer, Option<RequestId>),
    /// A 2026-07-28 client: the call turns the request into `input_required`.
    Input(mpsc::Sender<InputAsk>),
}

/// Registration of one relayed request; removed when dropped.
#[derive(Debug)]
pub struct CallGuard {
    router: Arc<CallRouter>,
    id: u64,
    upstream_token: Option<ProgressToken>,
    upstream_request: Option<RequestId>,
}

impl CallGuard {
    /// Links the upstream request carrying this call (its id, and the progress token rmcp
    /// gave it) to this call.
    pub fn route(&mut self, upstream_request: &RequestId, upstream_token: &ProgressToken) {
        let mut inner = self.router.lock();
        inner.requests.insert(upstream_request.clone(), self.id);
        inner.progress.insert(upstream_token.clone(), self.id);
        self.upstream_request = Some(upstream_request.clone());
        self.upstream_token = Some(upstream_token.clone());
    }
}

/// A handle on a call in flight, to hand it to the request that carries it on: a
/// 2026-07-28 client's retry after `input_required` (see `downstream::bridge`).
#[derive(Debug, Clone)]
pub struct CallTarget {
    router: Arc<CallRouter>,
    id: u64,
}

impl CallTarget {
    /// From now on the call's notifications go to `client`'s request, with its progress
    /// token.
    pub fn retarget(&self, client: Client, client_token: Option<ProgressToken>) {
        if let Some(call) = self.router.lock().calls.get_mut(&self.id) {
            call.client = client;
            call.client_token = client_token;
        }
    }
}

impl CallGuard {
    /// A handle to retarget this call (see [`CallTarget`]).
    pub fn target(&self) -> CallTarget {
        CallTarget {
            router: self.router.clone(),
            id: self.id,
        }
    }
}

/// A notification of a call being forwarded to its client; the call's answer waits for
/// it (see [`CallGuard::settle`]).
#[derive(Debug)]
pub struct Forwarding {
    router: Arc<CallRouter>,
    id: u64,
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        if let Some(call) = self.router.lock().calls.get_mut(&self.id) {
            call.forwarding = call.forwarding.saturating_sub(1);
        }
    }
}

/// How long an answer may wait for notifications sent just before it.
const SETTLE_WINDOW: std::time::Duration = std::time::Duration::from_millis(50);

impl CallGuard {
    /// Lets notifications the upstream sent just before its answer reach the client first.
    /// rmcp hands each notification to its own task, so one sent right before the answer
    /// may still be on its way when the answer arrives. Only calls that can receive
    /// notifications (progress asked for, or on a session whose log messages reach its
    /// owner) wait, and briefly.
    pub async fn settle(&self) {
        let progress = self
            .router
            .lock()
            .calls
            .get(&self.id)
            .is_some_and(|c| c.client_token.is_some());
        if progress {
            // Give the notification tasks spawned before the answer a moment to start.
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        } else if self.router.delivers_logs {
            // Log messages are rare next to calls: let tasks already spawned for any run
            // first, without a timer on every call.
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        } else {
            return;
        }
        let deadline = tokio::time::Instant::now() + SETTLE_WINDOW;
        while tokio::time::Instant::now() < deadline {
            let busy = self
                .router
                .lock()
                .calls
                .get(&self.id)
                .is_some_and(|c| c.forwarding > 0);
            if !busy {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// The call created the upstream task `task_id`: later `tasks/*` requests and task
    /// status notifications belong to this call's client.
    pub fn record_task(&self, task_id: &str) {
        // The task outlives the call: its status goes to the session, not the call's stream.
        let client = self.router.lock().calls.get(&self.id).map(|c| Client {
            session: c.client.session,
            peer: c.client.peer.session(),
            request: None,
        });
        if let Some(client) = client {
            self.router.record_task(task_id, client);
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        let router = self.router.clone();
        let (id, token, request) = (
            self.id,
            self.upstream_token.take(),
            self.upstream_request.take(),
        );
        if let Some(call) = router.lock().calls.get_mut(&id) {
            call.done = true;
        }
        let forget = move || {
            let mut inner = router.lock();
            inner.calls.remove(&id);
            if let Some(token) = &token {
                inner.progress.remove(token);
            }
            if let Some(request) = &request {
                inner.requests.remove(request);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    tokio::time::sleep(LINGER).await;
                    forget();
                });
            }
            Err(_) => forget(),
        }
    }
}

impl CallRouter {
    /// The router of an upstream session owned by one client, whose log messages reach it.
    pub fn owned() -> Arc<Self> {
        Arc::new(Self {
            delivers_logs: true,
            ..Self::default()
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every critical section is a single map operation, so a poisoned lock is intact.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a request relayed for `client`, who may have asked for progress; `input`
    /// is set for 2026-07-28 clients (see [`InputAsk`]).
    pub fn begin(
        self: &Arc<Self>,
        client: Client,
        client_token: Option<ProgressToken>,
        input: Option<mpsc::Sender<InputAsk>>,
    ) -> CallGuard {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.calls.insert(
            id,
            InFlight {
                client,
                client_token,
                input,
                done: false,
                forwarding: 0,
            },
        );
        CallGuard {
            router: self.clone(),
            id,
            upstream_token: None,
            upstream_request: None,
        }
    }

    /// Where an upstream progress notification goes: the client and its own token.
    pub fn progress_target(
        self: &Arc<Self>,
        upstream_token: &ProgressToken,
    ) -> Option<(ClientPeer, ProgressToken, Forwarding)> {
        let mut inner = self.lock();
        let id = *inner.progress.get(upstream_token)?;
        let call = inner.calls.get_mut(&id)?;
        let token = call.client_token.clone()?;
        call.forwarding += 1;
        let peer = call.client.peer.clone();
        Some((
            peer,
            token,
            Forwarding {
                router: self.clone(),
                id,
            },
        ))
    }

    /// Who answers a request the upstream sent on the response stream of the upstream
    /// request `upstream_request`: the client of the call it carries.
    pub fn requester_of(&self, upstream_request: &RequestId) -> Option<Requester> {
        let inner = self.lock();
        let call = inner.calls.get(inner.requests.get(upstream_request)?)?;
        (!call.done).then(|| Self::requester(call))
    }

    /// The one call in flight, if there is exactly one: on an upstream session owned by
    /// one client, a request that arrived on no particular stream belongs to it.
    pub fn sole_call(&self) -> Option<Requester> {
        let inner = self.lock();
        let mut live = inner.calls.values().filter(|c| !c.done);
        match (live.next(), live.next()) {
            (Some(call), None) => Some(Self::requester(call)),
            _ => None,
        }
    }

    fn requester(call: &InFlight) -> Requester {
        match &call.input {
            Some(input) => Requester::Input(input.clone()),
            None => Requester::Client(call.client.peer.clone(), call.client.request.clone()),
        }
    }

    /// The client of the one call in flight, if there is exactly one, marked as being
    /// forwarded a notification so that the call's answer waits for it.
    pub fn sole_client(self: &Arc<Self>) -> Option<(Client, Forwarding)> {
        let mut inner = self.lock();
        let mut live = inner.calls.iter_mut().filter(|(_, c)| !c.done);
        let (id, call) = live.next()?;
        if live.next().is_some() {
            return None;
        }
        call.forwarding += 1;
        let forwarding = Forwarding {
            router: self.clone(),
            id: *id,
        };
        Some((call.client.clone(), forwarding))
    }

    /// Remembers that `client` subscribed to `uri` through this upstream.
    pub fn subscribe(&self, uri: &str, client: Client) {
        let mut inner = self.lock();
        let subscribers = inner.subscriptions.entry(uri.to_owned()).or_default();
        subscribers.retain(|c| !c.peer.is_closed() && c.session != client.session);
        subscribers.push(client);
    }

    /// Forgets the subscription of `session` to `uri`; returns whether other sessions still
    /// want it, in which case the upstream subscription stays.
    pub fn unsubscribe(&self, uri: &str, session: u64) -> bool {
        let mut inner = self.lock();
        let Some(subscribers) = inner.subscriptions.get_mut(uri) else {
            return false;
        };
        subscribers.retain(|c| !c.peer.is_closed() && c.session != session);
        let others = !subscribers.is_empty();
        if !others {
            inner.subscriptions.remove(uri);
        }
        others
    }

    /// Remembers that `client`'s call created the upstream task `task_id`.
    pub fn record_task(&self, task_id: &str, client: Client) {
        let mut inner = self.lock();
        inner.tasks.retain(|_, c| !c.peer.is_closed());
        inner.tasks.insert(task_id.to_owned(), client);
    }

    /// Whether this upstream created the task `task_id` for a client of the gateway.
    pub fn owns_task(&self, task_id: &str) -> bool {
        self.lock().tasks.contains_key(task_id)
    }

    /// Whether `session` created the task `task_id` on this upstream.
    pub fn task_of(&self, task_id: &str, session: u64) -> bool {
        self.lock()
            .tasks
            .get(task_id)
            .is_some_and(|c| c.session == session)
    }

    /// The client that owns task `task_id`.
    pub fn task_client(&self, task_id: &str) -> Option<ClientPeer> {
        self.lock().tasks.get(task_id).map(|c| c.peer.clone())
    }

    /// Forgets a session that ended: its subscriptions. Returns the URIs nobody follows
    /// any more, to unsubscribe upstream.
    pub fn forget_session(&self, session: u64) -> Vec<String> {
        let mut inner = self.lock();
        let mut unused = Vec::new();
        inner.subscriptions.retain(|uri, subscribers| {
            subscribers.retain(|c| c.session != session && !c.peer.is_closed());
            if subscribers.is_empty() {
                unused.push(uri.clone());
            }
            !subscribers.is_empty()
        });
        unused
    }

    /// The sessions subscribed to `uri`.
    pub fn subscribers(&self, uri: &str) -> Vec<ClientPeer> {
        let mut inner = self.lock();
        let Some(subscribers) = inner.subscriptions.get_mut(uri) else {
            return Vec::new();
        };
        subscribers.retain(|c| !c.peer.is_closed());
        subscribers.iter().map(|c| c.peer.clone()).collect()
    }
}
