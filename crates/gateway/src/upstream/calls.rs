//! Which downstream client is waiting on an upstream. Everything an upstream sends outside
//! a response — progress, log messages, `resources/updated`, and its own requests
//! (sampling, elicitation, roots) — must reach the client session whose call caused it.
//!
//! Progress is routed exactly: rmcp gives every upstream request a progress token of its
//! own, which is mapped back to the client's token. Requests and log messages carry no such
//! link, so they go to the client of the most recent call still in flight on that upstream
//! (with one caller at a time, that is exact).

// Logging is deprecated by SEP-2577 but still relayed.
#![allow(deprecated)]

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use rmcp::{
    ErrorData as McpError, Peer, RoleServer,
    model::{InputRequest, LoggingLevel, ProgressToken, RequestId},
};
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
    pub peer: Peer<RoleServer>,
    /// The client's request being relayed, when there is one: requests the upstream sends
    /// meanwhile go out on that request's response stream.
    pub request: Option<RequestId>,
}

/// In-flight relayed requests and resource subscriptions of one upstream server.
#[derive(Debug, Default)]
pub struct CallRouter {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    /// Ordered by start, so the last entry is the most recent call.
    calls: BTreeMap<u64, InFlight>,
    /// Upstream progress token → call, for calls whose client asked for progress.
    progress: HashMap<ProgressToken, u64>,
    /// The client of the most recent call, kept after it ends: upstreams ask for roots
    /// right after a `roots/list_changed`, when no call is in flight.
    last_client: Option<Client>,
    /// Resource URI → sessions subscribed to it through the gateway.
    subscriptions: HashMap<String, Vec<Client>>,
    /// Task id → the client whose call created the task (SEP-2663 tasks).
    tasks: HashMap<String, Client>,
    /// `logging/setLevel` of each session, with its handle to tell when it is gone.
    levels: HashMap<u64, (LoggingLevel, Peer<RoleServer>)>,
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

/// Who answers an upstream's request.
#[derive(Debug, Clone)]
pub enum Requester {
    /// A session-era client: ask it directly, on the stream of its request.
    Client(Peer<RoleServer>, Option<RequestId>),
    /// A 2026-07-28 client: the call turns the request into `input_required`.
    Input(mpsc::Sender<InputAsk>),
}

/// Registration of one relayed request; removed when dropped.
#[derive(Debug)]
pub struct CallGuard {
    router: Arc<CallRouter>,
    id: u64,
    upstream_token: Option<ProgressToken>,
}

impl CallGuard {
    /// Links the progress token rmcp gave the upstream request to this call (only when
    /// the client asked for progress).
    pub fn route_progress(&mut self, upstream_token: &ProgressToken) {
        let mut inner = self.router.lock();
        if inner
            .calls
            .get(&self.id)
            .is_some_and(|c| c.client_token.is_some())
        {
            inner.progress.insert(upstream_token.clone(), self.id);
            self.upstream_token = Some(upstream_token.clone());
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
    /// notifications (progress asked for, or a log level set) wait, and briefly.
    pub async fn settle(&self) {
        let expects_notifications = {
            let inner = self.router.lock();
            inner.calls.get(&self.id).is_some_and(|c| {
                c.client_token.is_some() || inner.levels.contains_key(&c.client.session)
            })
        };
        if !expects_notifications {
            return;
        }
        let deadline = tokio::time::Instant::now() + SETTLE_WINDOW;
        // Give the notification tasks spawned before the answer a moment to start.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
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
        let client = self
            .router
            .lock()
            .calls
            .get(&self.id)
            .map(|c| c.client.clone());
        if let Some(client) = client {
            self.router.record_task(task_id, client);
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        let router = self.router.clone();
        let (id, token) = (self.id, self.upstream_token.take());
        if let Some(call) = router.lock().calls.get_mut(&id) {
            call.done = true;
        }
        let forget = move || {
            let mut inner = router.lock();
            inner.calls.remove(&id);
            if let Some(token) = &token {
                inner.progress.remove(token);
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
        inner.last_client = Some(client.clone());
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
        }
    }

    /// Where an upstream progress notification goes: the client and its own token.
    pub fn progress_target(
        self: &Arc<Self>,
        upstream_token: &ProgressToken,
    ) -> Option<(Peer<RoleServer>, ProgressToken, Forwarding)> {
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

    /// Where a server-initiated request goes: the most recent call in flight, either as
    /// the client itself (session era) or as its input channel (2026-07-28).
    pub fn requester(&self) -> Option<Requester> {
        let inner = self.lock();
        let call = inner
            .calls
            .values()
            .rev()
            .find(|c| !c.done && !c.client.peer.is_transport_closed())?;
        Some(match &call.input {
            Some(input) => Requester::Input(input.clone()),
            None => Requester::Client(call.client.peer.clone(), call.client.request.clone()),
        })
    }

    /// The client of the most recent call (still in flight, or just answered), else the
    /// most recently active client still connected.
    pub fn latest_or_last_client(self: &Arc<Self>) -> Option<(Client, Option<Forwarding>)> {
        let mut inner = self.lock();
        let latest = inner
            .calls
            .iter_mut()
            .rev()
            .find(|(_, c)| !c.client.peer.is_transport_closed());
        match latest {
            Some((id, call)) => {
                call.forwarding += 1;
                let forwarding = Forwarding {
                    router: self.clone(),
                    id: *id,
                };
                Some((call.client.clone(), Some(forwarding)))
            }
            None => inner
                .last_client
                .clone()
                .filter(|c| !c.peer.is_transport_closed())
                .map(|c| (c, None)),
        }
    }

    /// Records the log level `session` asked for; returns the level the upstream should
    /// use: the most verbose one any connected session asked for (each session then gets
    /// only messages at or above its own level, see [`Self::wants_log`]).
    pub fn set_log_level(&self, client: Client, level: LoggingLevel) -> LoggingLevel {
        let mut inner = self.lock();
        inner
            .levels
            .retain(|_, (_, peer)| !peer.is_transport_closed());
        inner.levels.insert(client.session, (level, client.peer));
        let most_verbose = inner
            .levels
            .values()
            .map(|(l, _)| *l)
            .min_by_key(|l| *l as u8);
        most_verbose.unwrap_or(level)
    }

    /// Whether `session` wants a log message of `level`.
    pub fn wants_log(&self, session: u64, level: LoggingLevel) -> bool {
        match self.lock().levels.get(&session) {
            Some((wanted, _)) => level as u8 >= *wanted as u8,
            None => true,
        }
    }

    /// Marks `client` as the most recently active one (it just connected or changed roots).
    pub fn touch(&self, client: Client) {
        self.lock().last_client = Some(client);
    }

    /// Remembers that `client` subscribed to `uri` through this upstream.
    pub fn subscribe(&self, uri: &str, client: Client) {
        let mut inner = self.lock();
        let subscribers = inner.subscriptions.entry(uri.to_owned()).or_default();
        subscribers.retain(|c| !c.peer.is_transport_closed() && c.session != client.session);
        subscribers.push(client);
    }

    /// Forgets the subscription of `session` to `uri`; returns whether other sessions still
    /// want it, in which case the upstream subscription stays.
    pub fn unsubscribe(&self, uri: &str, session: u64) -> bool {
        let mut inner = self.lock();
        let Some(subscribers) = inner.subscriptions.get_mut(uri) else {
            return false;
        };
        subscribers.retain(|c| !c.peer.is_transport_closed() && c.session != session);
        let others = !subscribers.is_empty();
        if !others {
            inner.subscriptions.remove(uri);
        }
        others
    }

    /// Remembers that `client`'s call created the upstream task `task_id`.
    pub fn record_task(&self, task_id: &str, client: Client) {
        let mut inner = self.lock();
        inner.tasks.retain(|_, c| !c.peer.is_transport_closed());
        inner.tasks.insert(task_id.to_owned(), client);
    }

    /// Whether this upstream created the task `task_id` for a client of the gateway.
    pub fn owns_task(&self, task_id: &str) -> bool {
        self.lock().tasks.contains_key(task_id)
    }

    /// The client that owns task `task_id`.
    pub fn task_client(&self, task_id: &str) -> Option<Peer<RoleServer>> {
        self.lock().tasks.get(task_id).map(|c| c.peer.clone())
    }

    /// Forgets a session that ended: its log level and subscriptions. Returns the URIs
    /// nobody follows any more, to unsubscribe upstream.
    pub fn forget_session(&self, session: u64) -> Vec<String> {
        let mut inner = self.lock();
        inner.levels.remove(&session);
        let mut unused = Vec::new();
        inner.subscriptions.retain(|uri, subscribers| {
            subscribers.retain(|c| c.session != session && !c.peer.is_transport_closed());
            if subscribers.is_empty() {
                unused.push(uri.clone());
            }
            !subscribers.is_empty()
        });
        unused
    }

    /// The sessions subscribed to `uri`.
    pub fn subscribers(&self, uri: &str) -> Vec<Peer<RoleServer>> {
        let mut inner = self.lock();
        let Some(subscribers) = inner.subscriptions.get_mut(uri) else {
            return Vec::new();
        };
        subscribers.retain(|c| !c.peer.is_transport_closed());
        subscribers.iter().map(|c| c.peer.clone()).collect()
    }
}
