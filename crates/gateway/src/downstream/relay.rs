//! The one relay: what every downstream session's requests go through, whichever face
//! took them in (`/mcp`, one server's endpoint, `/sse`) and whatever their era. It serves
//! the scope's view of the registry and relays requests to the upstream that owns each
//! name or URI, on the upstream session the rules below choose; what the upstream sends
//! back while serving a request goes to that request's client (see [`crate::client_peer`]).
//! One [`Relay`] per downstream session; a request arrives as a [`Call`].

// Logging and legacy subscriptions are deprecated by SEP-2577 but still part of every
// protocol revision the gateway relays.
#![allow(deprecated)]

mod call;
mod dispatch;
mod ops;
mod subscriptions;
mod tools;
mod upstream_session;

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use rmcp::{
    ErrorData as McpError,
    model::{PaginatedRequestParams, RequestMetaObject, UnsubscribeRequestParams},
};
use tokio::sync::mpsc;

pub use self::call::{Call, access_of};
use self::upstream_session::Upstream;
use super::{error, owned::ClientSession, view::Scope};
use crate::{
    access::{Access, Admission, Called},
    client_peer::ClientPeer,
    gateway::Gateway,
    metrics::UpstreamClock,
    protocol::{self, can_be_asked},
    registry::{ServerEntry, Snapshot},
    upstream::{CallGuard, CallRouter, Client, InputAsk, UpstreamError, UpstreamPeer},
};

/// The relay of one downstream session of an MCP face (`/mcp`, one server's endpoint,
/// `/sse`): `session` numbers the session.
#[derive(Clone)]
pub struct Relay {
    gateway: Arc<Gateway>,
    scope: Scope,
    session: u64,
    /// Dropped with the last clone, when the session ends.
    end: Arc<SessionEnd>,
}

/// What a session holds on upstreams — resource subscriptions, upstream sessions of its
/// own — released when the session ends.
struct SessionEnd {
    gateway: Arc<Gateway>,
    session: u64,
    /// What the session holds of its own (upstream sessions among it): the endpoint's
    /// session table entry's, or one of this session's alone (`/sse`, stdio), found on
    /// the session's first request.
    client: std::sync::OnceLock<Arc<ClientSession>>,
    /// Set once the session subscribed; most sessions never do, and their end costs
    /// nothing.
    holds_state: std::sync::atomic::AtomicBool,
    /// Set once the session is watched for list changes (session-based clients only).
    watched: std::sync::atomic::AtomicBool,
}

impl Drop for SessionEnd {
    fn drop(&mut self) {
        if self.watched.load(Ordering::Relaxed) {
            self.gateway.session_watch.remove(self.session);
        }
        if !self.holds_state.load(Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let snapshot = self.gateway.registry.snapshot();
        for entry in snapshot.servers.values() {
            let unused = entry.runtime.calls.forget_session(self.session);
            let Some(peer) = entry.runtime.peer() else {
                continue;
            };
            for uri in unused {
                let peer = peer.clone();
                runtime.spawn(async move {
                    let _ = peer.unsubscribe(UnsubscribeRequestParams::new(uri)).await;
                });
            }
        }
    }
}

impl Relay {
    pub fn new(gateway: Arc<Gateway>, scope: Scope) -> Self {
        static SESSIONS: AtomicU64 = AtomicU64::new(0);
        let session = SESSIONS.fetch_add(1, Ordering::Relaxed) + 1;
        let end = Arc::new(SessionEnd {
            gateway: gateway.clone(),
            session,
            client: std::sync::OnceLock::new(),
            holds_state: Default::default(),
            watched: Default::default(),
        });
        Self {
            gateway,
            scope,
            session,
            end,
        }
    }

    /// The relay of a session whose client is known already (a streamable HTTP session
    /// the gateway serves itself).
    pub(crate) fn for_client(
        gateway: Arc<Gateway>,
        scope: Scope,
        client: Arc<ClientSession>,
    ) -> Self {
        let relay = Self::new(gateway, scope);
        let _ = relay.end.client.set(client);
        relay
    }

    /// What this session holds of its own, found on its first request where the relay
    /// was not given it (a session rmcp's server serves).
    fn client(&self, call: &Call) -> &Arc<ClientSession> {
        self.client_of(&call.peer)
    }

    /// [`Self::client`], for a session reached through `peer`.
    pub(crate) fn client_of(&self, peer: &ClientPeer) -> &Arc<ClientSession> {
        self.end.client.get_or_init(|| {
            let peer = peer.session();
            let client = Arc::new(ClientSession::new(peer.capabilities().unwrap_or_default()));
            client.attach(&peer);
            client
        })
    }

    /// The session now holds upstream state to release when it ends.
    fn holds_state(&self) {
        self.end.holds_state.store(true, Ordering::Relaxed);
    }

    /// Registers a request relayed to `entry` on behalf of this session, and gives the
    /// `_meta` to send upstream: the client's own minus the protocol keys and progress
    /// token (the upstream session sets its own; see [`CallGuard::route_progress`]).
    fn begin(
        &self,
        calls: &Arc<CallRouter>,
        call: &Call,
        input: Option<mpsc::Sender<InputAsk>>,
    ) -> (CallGuard, Option<RequestMetaObject>) {
        let client = Client {
            session: self.session,
            peer: call.peer.clone(),
            request: Some(call.id.clone()),
        };
        let guard = calls.begin(client, call.meta.get_progress_token(), input);
        let mut meta = RequestMetaObject::default();
        for (key, value) in call.meta.0.0.iter() {
            if key != protocol::meta::PROGRESS_TOKEN && !protocol::meta::is_protocol_key(key) {
                meta.0.0.insert(key.clone(), value.clone());
            }
        }
        let meta = (!meta.0.0.is_empty()).then_some(meta);
        (guard, meta)
    }

    /// Whether `id` is a server this face serves.
    fn in_scope(&self, id: &str) -> bool {
        match &self.scope {
            Scope::All => true,
            Scope::Server(only) => **only == *id,
        }
    }

    /// Whether this client can be asked something: it declared sampling, elicitation or
    /// roots, or set a log level.
    fn asks(&self, call: &Call) -> bool {
        can_be_asked(&call.capabilities) || self.client(call).asks()
    }

    /// Waits (boundedly) until every connected server in scope has looked for the tools it
    /// lists only to clients that can be asked something, asking those that have not.
    async fn discover_asking_tools(&self) {
        let pending = |snapshot: &Snapshot| -> Vec<Arc<ServerEntry>> {
            snapshot
                .servers
                .values()
                .filter(|e| self.in_scope(&e.record.server_id))
                .filter(|e| !e.catalog.asking_discovered && e.runtime.peer().is_some())
                .cloned()
                .collect()
        };
        let mut changes = self.gateway.registry.subscribe();
        let waiting = pending(&self.snapshot());
        if waiting.is_empty() {
            return;
        }
        for entry in &waiting {
            entry.runtime.want_asking_tools();
        }
        let deadline = tokio::time::Instant::now() + ASKING_DISCOVERY_WAIT;
        while !pending(&self.snapshot()).is_empty() {
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return, // listed without them rather than not at all
            }
        }
    }

    /// The upstream session a request of this client to `entry` goes on: one of its own
    /// when the client can be asked something (it declared sampling, elicitation or roots,
    /// or set a log level), else the server's shared session.
    async fn upstream(&self, entry: Arc<ServerEntry>, call: &Call) -> Result<Upstream, McpError> {
        if let Some(mine) = self.caller_upstream(&entry, call).await? {
            return Ok(Upstream::owned(entry, mine));
        }
        // A 2026-07-28 request has no session to own anything: only its `tools/call` can
        // be asked something, through a session for that call (`for_stateless_call`).
        if call.stateless || !self.asks(call) {
            return Upstream::shared(entry);
        }
        let limit = self.gateway.settings.max_client_processes_per_server;
        let owned = self.client(call).upstream(&entry, limit).await?;
        Ok(Upstream::owned(entry, owned))
    }

    /// The caller's own session with a per-user server (see
    /// [`Gateway::caller_upstream`](crate::gateway::Gateway::caller_upstream)); `None`:
    /// not one.
    async fn caller_upstream(
        &self,
        entry: &ServerEntry,
        call: &Call,
    ) -> Result<Option<Arc<crate::downstream::owned::OwnedUpstream>>, McpError> {
        use crate::gateway::CredentialError;
        if !entry.record.per_caller() || !call.access.is_identity() {
            return Ok(None);
        }
        // On the heap: the opening of a session is a large future, and most requests
        // never wait for one (see `ServerEntry::call_upstream` on stack sizes).
        match Box::pin(self.gateway.caller_upstream(entry, &call.access)).await {
            Ok(mine) => Ok(mine),
            Err(CredentialError::Upstream(e)) => Err(e),
            Err(refused) => Err(error::credential_refused(&entry.record.server_id, &refused)),
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.gateway.registry.snapshot()
    }

    /// The catalog for a request that lists or uses it: at start-up, once the config
    /// file's servers have connected or failed (see [`crate::gateway::StartupWait`]).
    async fn catalog(&self) -> Arc<Snapshot> {
        self.gateway.startup.settled().await;
        self.snapshot()
    }

    /// The connected upstream of a server, or the error a client should see.
    pub(crate) fn peer_of(entry: &ServerEntry) -> Result<Arc<UpstreamPeer>, McpError> {
        entry
            .runtime
            .peer()
            .ok_or_else(|| error::upstream(&entry.record.server_id, UpstreamError::Unavailable))
    }

    /// Runs one upstream request (see [`ServerEntry::call_upstream`]); dropping it makes
    /// rmcp send `notifications/cancelled` upstream.
    async fn relay<T>(
        entry: &ServerEntry,
        clock: &UpstreamClock,
        call: impl Future<Output = Result<T, rmcp::ServiceError>>,
    ) -> Result<T, McpError> {
        let call = async { call.await.map_err(UpstreamError::from) };
        entry
            .call_upstream(clock, call)
            .await
            .map_err(|e| error::upstream(&entry.record.server_id, e))
    }

    fn cursor(request: &Option<PaginatedRequestParams>) -> Option<&str> {
        request.as_ref().and_then(|r| r.cursor.as_deref())
    }

    fn entry(snapshot: &Snapshot, server_id: &str) -> Result<Arc<ServerEntry>, McpError> {
        snapshot
            .servers
            .get(server_id)
            .cloned()
            .ok_or_else(|| error::upstream(server_id, UpstreamError::Unavailable))
    }

    // Routing: every path to an upstream (the relay's operations, the direct lane) asks
    // these three, so what a caller may reach, and how much it may ask, is decided here.

    /// The server that answers for a tool name in this scope, and its name there (`asks`:
    /// whether the caller can be asked something, which decides the tools it is shown).
    /// A tool `access` does not allow is unknown, as one that does not exist; one it does
    /// is let through the caller's limits (held by the [`Admission`] while it runs).
    pub(crate) fn tool_owner(
        &self,
        snapshot: &Snapshot,
        name: &str,
        asks: bool,
        access: &Access,
    ) -> Result<(Arc<ServerEntry>, Arc<str>, Admission), McpError> {
        let route = self
            .scope
            .tool(snapshot, name, asks)
            .filter(|route| access.allows_tool(snapshot, &route.server_id, &route.upstream_name));
        let Some(route) = route else {
            // Listed from a registration's allowlist while its server is down: the server
            // is the news, as on the REST API.
            if matches!(self.scope, Scope::All)
                && let Some(entry) = snapshot.down_server_of_listed_tool(name, access)
            {
                let id = &entry.record.server_id;
                return Err(error::upstream(
                    id,
                    crate::upstream::UpstreamError::Unavailable,
                ));
            }
            // Held for approval: the change is the news.
            if let Some((entry, tool, held)) = snapshot.held_tool(name) {
                let id = &entry.record.server_id;
                if self.in_scope(id) && access.allows_tool(snapshot, id, tool) {
                    return Err(error::held(id, tool, &held.change));
                }
            }
            return Err(error::unknown("tool", name));
        };
        let entry = Self::entry(snapshot, &route.server_id)?;
        let called = Called {
            method: "tools/call",
            name: &route.upstream_name,
        };
        let admitted = self.admit(access, &entry, called)?;
        Ok((entry, route.upstream_name, admitted))
    }

    /// The server that should answer for a resource URI in this scope (the URI goes to
    /// it unchanged), for `method` (`resources/read`, `resources/subscribe`, …).
    pub(crate) fn resource_owner(
        &self,
        snapshot: &Snapshot,
        uri: &str,
        method: &'static str,
        access: &Access,
    ) -> Result<(Arc<ServerEntry>, Admission), McpError> {
        let server = self.scope.resource_server(snapshot, uri);
        let entry = match server.filter(|id| access.allows_server(id)) {
            Some(id) => Self::entry(snapshot, &id)?,
            None => return Err(error::unknown("resource", uri)),
        };
        let admitted = self.admit(access, &entry, Called { method, name: uri })?;
        Ok((entry, admitted))
    }

    /// The server that answers for a prompt name in this scope, and its name there, for
    /// `method` (`prompts/get`, `completion/complete`).
    pub(crate) fn prompt_owner(
        &self,
        snapshot: &Snapshot,
        name: &str,
        method: &'static str,
        access: &Access,
    ) -> Result<(Arc<ServerEntry>, Arc<str>, Admission), McpError> {
        let route = self
            .scope
            .prompt(snapshot, name)
            .filter(|route| access.allows_server(&route.server_id))
            .ok_or_else(|| error::unknown("prompt", name))?;
        let entry = Self::entry(snapshot, &route.server_id)?;
        let called = Called {
            method,
            name: &route.upstream_name,
        };
        let admitted = self.admit(access, &entry, called)?;
        Ok((entry, route.upstream_name, admitted))
    }

    /// [`Gateway::admit`](crate::gateway::Gateway::admit), as the client sees a refusal.
    pub(crate) fn admit(
        &self,
        access: &Access,
        entry: &ServerEntry,
        called: Called<'_>,
    ) -> Result<Admission, McpError> {
        self.gateway
            .admit(access, entry, called)
            .map_err(error::rate_limited)
    }
}

/// How long a list or call of a client that can be asked waits for the discovery of the
/// tools listed only to such clients (once per server; then they are known).
const ASKING_DISCOVERY_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

impl Relay {
    /// The client completed its handshake: from now on this relay serves the session, and
    /// list changes, and updates of resources it had subscribed to (a session rebuilt from
    /// its record), reach it through `peer`.
    pub(crate) fn initialized(&self, peer: ClientPeer) {
        let client = self.client_of(&peer).clone();
        self.end.watched.store(true, Ordering::Relaxed);
        self.gateway.session_watch.add(
            &self.gateway.registry,
            self.scope.clone(),
            self.session,
            peer.clone(),
        );
        let followed = client.subscriptions();
        if !followed.is_empty() {
            let relay = self.clone();
            tokio::spawn(async move {
                relay.resubscribe(&client, followed, peer).await;
            });
        }
    }

    /// A notification from the client of a session the gateway serves itself, whose
    /// streams are `outbox`.
    pub(crate) async fn notified(
        &self,
        notification: rmcp::model::ClientNotification,
        outbox: &Arc<crate::client_peer::Outbox>,
    ) {
        use rmcp::model::ClientNotification;
        let peer = ClientPeer::Session(outbox.clone());
        match notification {
            ClientNotification::InitializedNotification(_) => self.initialized(peer),
            ClientNotification::CancelledNotification(cancelled) => {
                if let Some(request) = &cancelled.params.request_id {
                    outbox.cancel(request);
                }
            }
            ClientNotification::RootsListChangedNotification(_) => self.roots_changed(&peer).await,
            // Progress of the client's own work, or nothing the gateway acts on.
            _ => {}
        }
    }

    /// The client's roots changed: only its own upstream sessions know them.
    pub(crate) async fn roots_changed(&self, peer: &ClientPeer) {
        let client = self.client_of(peer);
        for owned in client.owned().open(|id| self.in_scope(id)).await {
            let _ = owned.peer.notify_roots_list_changed().await;
        }
    }
}

impl Relay {
    /// A 2026-07-28 `subscriptions/listen` stream, served until the client ends it.
    pub(crate) async fn listen(&self, context: rmcp::service::SubscriptionContext) {
        super::changes::serve_subscription(
            self.gateway.registry.clone(),
            self.scope.clone(),
            context,
            &self.gateway.metrics,
        )
        .await;
    }
}
