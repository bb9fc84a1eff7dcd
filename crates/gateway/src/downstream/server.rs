//! The MCP server every downstream session talks to: it serves the scope's view of the
//! registry and relays requests to the upstream that owns each name or URI.

// Logging (logging/setLevel, notifications/message) is deprecated by SEP-2577 but still
// part of every protocol revision the gateway relays.
#![allow(deprecated)]

use tokio::sync::mpsc;

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler,
    model::{
        CallToolRequest, CallToolRequestParams, CallToolResponse, CancelTaskParams,
        ClientCapabilities, ClientRequest, CompleteRequestParams, CompleteResult,
        GetPromptRequestParams, GetPromptResponse, GetTaskParams, GetTaskResult, Implementation,
        ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, Reference,
        RequestMetaObject, ServerCapabilities, ServerConfig, ServerResult, SetLevelRequestParams,
        SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams, UpdateTaskParams,
    },
    service::{NotificationContext, RequestContext, SubscriptionContext},
};

use super::{
    bridge, changes,
    direct::sessions::TrackedSessions,
    error,
    owned::{ClientSession, OwnedUpstream},
    view::{Scope, page, page_where, template_item},
};
use crate::protocol::{self, can_be_asked, header, mark_complete};
use crate::{
    gateway::Gateway,
    registry::{ServerEntry, Snapshot},
    upstream::{
        CallGuard, CallRouter, Client, InputAsk, Owner, Pending, UpstreamError, UpstreamPeer,
    },
};

/// One MCP server face of the gateway: `/mcp` (all servers) or one server's endpoint.
/// rmcp builds one per downstream session, so `session` numbers the session.
#[derive(Clone)]
pub struct GatewayServer {
    gateway: Arc<Gateway>,
    scope: Scope,
    session: u64,
    /// Dropped with the last clone, when the session ends.
    end: Arc<SessionEnd>,
    /// The endpoint's session table, for sessions that must leave the direct lane.
    sessions: Option<Arc<TrackedSessions>>,
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

impl GatewayServer {
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
            sessions: None,
        }
    }

    /// A server for a streamable HTTP endpoint with a direct lane.
    pub(super) fn with_sessions(mut self, sessions: Arc<TrackedSessions>) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// What this session holds of its own: its entry in the endpoint's session table
    /// (shared with the direct lane), else its own. From now on rmcp serves the session,
    /// so messages outside its calls reach it through this request's peer.
    fn client(&self, context: &RequestContext<RoleServer>) -> &Arc<ClientSession> {
        self.client_of(&context.extensions, &context.peer)
    }

    /// [`Self::client`], from a request's or a notification's context.
    fn client_of(
        &self,
        extensions: &rmcp::model::Extensions,
        peer: &rmcp::Peer<RoleServer>,
    ) -> &Arc<ClientSession> {
        self.end.client.get_or_init(|| {
            let session = extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.headers.get(header::SESSION_ID))
                .and_then(|id| id.to_str().ok());
            let listed = match (&self.sessions, session) {
                (Some(sessions), Some(session)) => sessions.touch(session),
                _ => None,
            };
            let client = match listed {
                Some(info) => info.client().clone(),
                None => Arc::new(ClientSession::new(
                    peer.peer_info()
                        .map(|info| info.capabilities.clone())
                        .unwrap_or_default(),
                )),
            };
            client.attach(peer);
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
        context: &RequestContext<RoleServer>,
        input: Option<mpsc::Sender<InputAsk>>,
    ) -> (CallGuard, Option<RequestMetaObject>) {
        let client = Client {
            session: self.session,
            peer: context.peer.clone(),
            request: Some(context.id.clone()),
        };
        let guard = calls.begin(client, context.meta.get_progress_token(), input);
        let mut meta = RequestMetaObject::default();
        for (key, value) in context.meta.0.0.iter() {
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
    fn asks(&self, context: &RequestContext<RoleServer>) -> bool {
        let capabilities = context.client_capabilities().unwrap_or_default();
        can_be_asked(&capabilities) || self.client(context).asks()
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
    async fn upstream(
        &self,
        entry: Arc<ServerEntry>,
        context: &RequestContext<RoleServer>,
    ) -> Result<Upstream, McpError> {
        // A 2026-07-28 request has no session to own anything: only its `tools/call` can
        // be asked something, through a session for that call (`for_stateless_call`).
        if stateless(context) || !self.asks(context) {
            return Upstream::shared(entry);
        }
        let limit = self.gateway.settings.max_client_processes_per_server;
        let owned = self.client(context).upstream(&entry, limit).await?;
        Ok(Upstream::owned(entry, owned))
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.gateway.registry.snapshot()
    }

    /// The connected upstream of a server, or the error a client should see.
    pub(super) fn peer_of(entry: &ServerEntry) -> Result<Arc<UpstreamPeer>, McpError> {
        entry
            .runtime
            .peer()
            .ok_or_else(|| error::upstream(&entry.record.server_id, UpstreamError::Unavailable))
    }

    /// Runs one upstream request (see [`ServerEntry::call_upstream`]); dropping it makes
    /// rmcp send `notifications/cancelled` upstream.
    async fn relay<T>(
        entry: &ServerEntry,
        call: impl Future<Output = Result<T, rmcp::ServiceError>>,
    ) -> Result<T, McpError> {
        let call = async { call.await.map_err(UpstreamError::from) };
        entry
            .call_upstream(call)
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

    /// The server that should answer for a resource URI in this scope (the URI goes to
    /// it unchanged).
    pub(super) fn resource_owner(
        &self,
        snapshot: &Snapshot,
        uri: &str,
    ) -> Result<Arc<ServerEntry>, McpError> {
        match self.scope.resource_server(snapshot, uri) {
            Some(id) => Self::entry(snapshot, &id),
            None => Err(error::unknown("resource", uri)),
        }
    }

    /// The server that answers for a prompt name in this scope, and its name there.
    pub(super) fn prompt_owner(
        &self,
        snapshot: &Snapshot,
        name: &str,
    ) -> Result<(Arc<ServerEntry>, Arc<str>), McpError> {
        let route = self
            .scope
            .prompt(snapshot, name)
            .ok_or_else(|| error::unknown("prompt", name))?;
        Ok((
            Self::entry(snapshot, &route.server_id)?,
            route.upstream_name,
        ))
    }
}

/// How long a list or call of a client that can be asked waits for the discovery of the
/// tools listed only to such clients (once per server; then they are known).
const ASKING_DISCOVERY_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Whether a request is of the stateless 2026-07-28 revision (no session).
fn stateless(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|v| !v.has_initialize())
}

/// The upstream session a relayed request goes on, with the router of what it sends back.
struct Upstream {
    entry: Arc<ServerEntry>,
    peer: Arc<UpstreamPeer>,
    calls: Arc<CallRouter>,
    /// Kept open while the request runs (a session for one call closes after it).
    owned: Option<Arc<OwnedUpstream>>,
}

impl Upstream {
    /// The server's shared session.
    fn shared(entry: Arc<ServerEntry>) -> Result<Self, McpError> {
        let peer = GatewayServer::peer_of(&entry)?;
        let calls = entry.runtime.calls.clone();
        Ok(Self {
            entry,
            peer,
            calls,
            owned: None,
        })
    }

    /// Whether this is a session of the client's own.
    fn is_owned(&self) -> bool {
        self.owned.is_some()
    }

    /// A session owned by one client (or one call).
    fn owned(entry: Arc<ServerEntry>, owned: Arc<OwnedUpstream>) -> Self {
        Self {
            entry,
            peer: owned.peer.clone(),
            calls: owned.calls.clone(),
            owned: Some(owned),
        }
    }

    /// The session a call of a 2026-07-28 client goes on: one for this call alone when the
    /// client can be asked something and the upstream asks through requests of its own
    /// (a session-era upstream: its asks become the call's `input_required`), else the
    /// shared one (a 2026-07-28 upstream asks with `input_required`, relayed as it is, and
    /// its retry must reach the same upstream).
    async fn for_stateless_call(
        entry: Arc<ServerEntry>,
        context: &RequestContext<RoleServer>,
        limit: usize,
    ) -> Result<Self, McpError> {
        let capabilities = context.client_capabilities().unwrap_or_default();
        let shared = Self::shared(entry)?;
        if !can_be_asked(&capabilities) || crate::upstream::is_stateless(&shared.peer) {
            return Ok(shared);
        }
        let entry = shared.entry;
        let owner = Owner::Call { capabilities };
        let owned = OwnedUpstream::open(&entry, owner, None, limit).await?;
        Ok(Self::owned(entry, Arc::new(owned)))
    }
}

/// Sends one `tools/call` upstream, routing its progress to the caller, within the
/// server's timeout.
async fn relay_call_with(
    upstream: &Upstream,
    capabilities: &ClientCapabilities,
    call: &mut CallGuard,
    params: CallToolRequestParams,
) -> Result<CallToolResponse, McpError> {
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
    let result = GatewayServer::relay(&upstream.entry, async {
        let pending = Pending::send(&upstream.peer, request, capabilities).await?;
        call.route(pending.id(), pending.progress_token());
        pending.response().await
    })
    .await?;
    call.settle().await;
    let response = call_tool_response(result)?;
    if let CallToolResponse::Task(created) = &response {
        call.record_task(&created.task.task_id);
    }
    Ok(response)
}

/// [`relay_call_with`], owning what it needs (it runs in its own task for bridged calls).
async fn relay_call(
    upstream: Upstream,
    capabilities: ClientCapabilities,
    mut call: CallGuard,
    params: CallToolRequestParams,
) -> Result<CallToolResponse, McpError> {
    relay_call_with(&upstream, &capabilities, &mut call, params).await
}

/// A final result has a `resultType` even when a session-era upstream left it out
/// (rmcp strips it again for session-era clients).
fn completed(mut response: CallToolResponse) -> CallToolResponse {
    if let CallToolResponse::Complete(result) = &mut response {
        mark_complete(&mut result.result_type);
    }
    response
}

/// A `tools/call` answer as the variants rmcp's server side sends back.
fn call_tool_response(result: ServerResult) -> Result<CallToolResponse, McpError> {
    match result {
        ServerResult::CallToolResult(result) => Ok(CallToolResponse::Complete(result)),
        ServerResult::InputRequiredResult(result) => Ok(CallToolResponse::InputRequired(result)),
        ServerResult::CreateTaskResult(result) => Ok(CallToolResponse::Task(result)),
        // A bare `{}` answer: a result with no content.
        ServerResult::EmptyResult(_) => Ok(CallToolResponse::Complete(Default::default())),
        _ => Err(McpError::internal_error(
            "mcp-gateway: the upstream answered tools/call with an unexpected result",
            None,
        )),
    }
}

impl GatewayServer {
    /// The upstream session on which a task of this client was created: its own
    /// session with a server, or a server's shared one.
    async fn task_owner(
        &self,
        task_id: &str,
    ) -> Result<(Arc<ServerEntry>, Arc<UpstreamPeer>), McpError> {
        let snapshot = self.snapshot();
        let in_scope = |id: &str| self.in_scope(id);
        let owned = match self.end.client.get() {
            Some(client) => client.owned().open(in_scope).await,
            None => Vec::new(),
        };
        for owned in owned {
            if owned.calls.task_of(task_id, self.session)
                && let Some(entry) = snapshot
                    .servers
                    .values()
                    .find(|e| owned.serves_runtime(&e.runtime))
            {
                return Ok((entry.clone(), owned.peer.clone()));
            }
        }
        let entry = snapshot
            .servers
            .values()
            .filter(|e| self.in_scope(&e.record.server_id))
            .find(|e| e.runtime.calls.owns_task(task_id))
            .cloned()
            .ok_or_else(|| error::unknown("task", task_id))?;
        let peer = Self::peer_of(&entry)?;
        Ok((entry, peer))
    }

    async fn call_tool_relayed(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // The retry of a call parked for this (2026-07-28) client's input.
        if let Some(state) = request
            .request_state
            .as_deref()
            .filter(|s| bridge::is_parked(s))
        {
            let responses = request.input_responses.clone().unwrap_or_default();
            let retry = Client {
                session: self.session,
                peer: context.peer.clone(),
                request: Some(context.id.clone()),
            };
            let token = context.meta.get_progress_token();
            let resumed = bridge::resume(state, responses, retry, token).await;
            return resumed
                .unwrap_or_else(|| Err(McpError::invalid_params("requestState expired", None)))
                .map(completed);
        }
        let asks = self.asks(&context);
        let mut snapshot = self.snapshot();
        if asks && self.scope.tool(&snapshot, &request.name, asks).is_none() {
            // Perhaps a tool listed only to clients that can be asked, not looked for yet.
            self.discover_asking_tools().await;
            snapshot = self.snapshot();
        }
        let route = self
            .scope
            .tool(&snapshot, &request.name, asks)
            .ok_or_else(|| error::unknown("tool", &request.name))?;
        let entry = Self::entry(&snapshot, &route.server_id)?;
        let modern = stateless(&context);
        let mut params = request.clone();
        params.name = route.upstream_name.to_string().into();

        if modern {
            let limit = self.gateway.settings.max_client_processes_per_server;
            let upstream = Upstream::for_stateless_call(entry, &context, limit).await?;
            let (input, asks) = mpsc::channel(8);
            let (call, meta) = self.begin(&upstream.calls, &context, Some(input));
            params.meta = meta;
            let target = call.target();
            let capabilities = context.client_capabilities().unwrap_or_default();
            let relayed = relay_call(upstream, capabilities, call, params);
            let run = bridge::spawn(relayed, asks, target);
            return bridge::drive(run).await.map(completed);
        }

        let upstream = self.upstream(entry, &context).await?;
        let (mut call, meta) = self.begin(&upstream.calls, &context, None);
        params.meta = meta;
        let capabilities = context.client_capabilities().unwrap_or_default();
        for _ in 0..bridge::MAX_ROUNDS {
            // A 2026-07-28 upstream may answer `input_required`: this session-era client
            // takes the requests directly, and the upstream call is retried.
            match relay_call_with(&upstream, &capabilities, &mut call, params.clone()).await? {
                CallToolResponse::InputRequired(needed) => {
                    let requests = needed.input_requests.unwrap_or_default();
                    params.input_responses = Some(bridge::fulfil(&context.peer, requests).await?);
                    params.request_state = needed.request_state;
                }
                other => return Ok(completed(other)),
            }
        }
        Err(McpError::internal_error(
            format!(
                "mcp-gateway: the upstream still wanted input after {} rounds",
                bridge::MAX_ROUNDS
            ),
            None,
        ))
    }
}

/// Runs a relayed request until the client cancels it (`notifications/cancelled`); the
/// relay is then dropped, which cancels the upstream request too.
async fn until_cancelled<T>(
    cancelled: &tokio_util::sync::CancellationToken,
    relay: impl Future<Output = Result<T, McpError>>,
) -> Result<T, McpError> {
    tokio::select! {
        result = relay => result,
        () = cancelled.cancelled() => Err(McpError::internal_error("request cancelled by the client", None)),
    }
}

impl GatewayServer {
    /// `resources/subscribe` relayed upstream.
    async fn subscribe_upstream(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        // A client with upstream sessions of its own subscribes on its own session, where
        // whatever else it does with that server happens (server-everything, say, starts
        // sending updates when that session calls a tool); the updates come to it alone.
        let upstream = self.subscription_upstream(&request.uri, &context).await?;
        if upstream.is_owned() {
            let (_call, _) = self.begin(&upstream.calls, &context, None);
            return Self::relay(&upstream.entry, upstream.peer.subscribe(request)).await;
        }
        let Upstream { entry, peer, .. } = upstream;
        let uri = request.uri.clone();
        self.holds_state();
        // One upstream subscription per URI, however many sessions follow it.
        if entry.runtime.calls.subscribers(&uri).is_empty() {
            let (_call, _) = self.begin(&entry.runtime.calls, &context, None);
            Self::relay(&entry, peer.subscribe(request)).await?;
        }
        let client = Client {
            session: self.session,
            peer: context.peer,
            request: None,
        };
        entry.runtime.calls.subscribe(&uri, client);
        Ok(())
    }

    /// The upstream session a subscription of this client to `uri` goes on: that of its
    /// other requests to the resource's server, except that a plain client's goes on a
    /// session of its own when the shared one speaks 2026-07-28, which has no
    /// `resources/subscribe` (the client's own session is a session-era one where the
    /// upstream offers one, as it would be directly).
    async fn subscription_upstream(
        &self,
        uri: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<Upstream, McpError> {
        let entry = self.resource_owner(&self.snapshot(), uri)?;
        let upstream = self.upstream(entry.clone(), context).await?;
        let session_era = !crate::upstream::is_stateless(&upstream.peer);
        if upstream.is_owned() || session_era || stateless(context) {
            return Ok(upstream);
        }
        let limit = self.gateway.settings.max_client_processes_per_server;
        let owned = self.client(context).upstream(&entry, limit).await?;
        Ok(Upstream::owned(entry, owned))
    }

    /// Follows again the resources a session rebuilt from its record had subscribed to
    /// (another replica served it, or this process lost it): `resources/updated` for
    /// them comes here now. A resource that can no longer be subscribed to (its server
    /// is gone) is dropped from the record.
    async fn resubscribe(
        &self,
        client: &ClientSession,
        followed: Vec<String>,
        context: NotificationContext<RoleServer>,
    ) {
        for (n, uri) in followed.into_iter().enumerate() {
            let id = rmcp::model::RequestId::String(format!("gw-resubscribe-{n}").into());
            let mut request = RequestContext::new(id, context.peer.clone());
            request.extensions = context.extensions.clone();
            let params = SubscribeRequestParams::new(uri.clone());
            if let Err(e) = self.subscribe_upstream(params, request).await {
                tracing::info!(%uri, error = %e.message, "a recorded subscription could not be taken up again");
                client.note_subscription(&uri, false);
            }
        }
    }

    /// `resources/unsubscribe` relayed upstream.
    async fn unsubscribe_upstream(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let upstream = self.subscription_upstream(&request.uri, &context).await?;
        if upstream.is_owned() {
            let (_call, _) = self.begin(&upstream.calls, &context, None);
            return Self::relay(&upstream.entry, upstream.peer.unsubscribe(request)).await;
        }
        let Upstream { entry, peer, .. } = upstream;
        if entry.runtime.calls.unsubscribe(&request.uri, self.session) {
            return Ok(()); // other sessions still follow this resource
        }
        let (_call, _) = self.begin(&entry.runtime.calls, &context, None);
        Self::relay(&entry, peer.unsubscribe(request)).await
    }
}

impl ServerHandler for GatewayServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_resources_subscribe()
            .enable_logging()
            .enable_completions()
            .enable_tasks()
            .build();
        let info = ServerConfig::new(capabilities).with_server_info(Implementation::new(
            "mcp-gateway",
            env!("CARGO_PKG_VERSION"),
        ));
        match &self.scope {
            Scope::All => info.with_instructions(
                "mcp-gateway: the tools, resources and prompts of several MCP servers. \
                 Names are prefixed with the id of the server that provides them.",
            ),
            Scope::Server(id) => {
                let upstream = self
                    .snapshot()
                    .servers
                    .get(&**id)
                    .and_then(|e| e.runtime.peer());
                match upstream
                    .and_then(|p| p.peer_info())
                    .and_then(|i| i.instructions.clone())
                {
                    Some(instructions) => info.with_instructions(instructions),
                    None => info,
                }
            }
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        // A client is shown what the upstream would show it: some tools are listed only to
        // clients that can be asked something.
        let asks = self.asks(&context);
        if asks {
            self.discover_asking_tools().await;
        }
        let snapshot = self.snapshot();
        let view = self.scope.view(&snapshot);
        let shown =
            |r: &crate::registry::Route<rmcp::model::Tool>| asks || !snapshot.asking_only(r);
        let (tools, next) = page_where(&view.tools, Self::cursor(&request), shown, |r| {
            (*r.item).clone()
        })
        .map_err(error::bad_cursor)?;
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let cancelled = context.ct.clone();
        until_cancelled(&cancelled, self.call_tool_relayed(request, context)).await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let snapshot = self.snapshot();
        let view = self.scope.view(&snapshot);
        let (prompts, next) = page(&view.prompts, Self::cursor(&request), |r| (*r.item).clone())
            .map_err(error::bad_cursor)?;
        let mut result = ListPromptsResult::with_all_items(prompts);
        result.next_cursor = next;
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let snapshot = self.snapshot();
        let (entry, upstream_name) = self.prompt_owner(&snapshot, &request.name)?;
        let upstream = self.upstream(entry, &context).await?;
        let (_call, meta) = self.begin(&upstream.calls, &context, None);
        let mut params = request.clone();
        params.name = upstream_name.to_string();
        params.meta = meta;
        let mut response = until_cancelled(
            &context.ct,
            Self::relay(&upstream.entry, upstream.peer.get_prompt_once(params)),
        )
        .await?;
        if let GetPromptResponse::Complete(result) = &mut response {
            mark_complete(&mut result.result_type);
        }
        Ok(response)
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let snapshot = self.snapshot();
        let view = self.scope.view(&snapshot);
        let (resources, next) = page(&view.resources, Self::cursor(&request), |r| {
            (*r.item).clone()
        })
        .map_err(error::bad_cursor)?;
        let mut result = ListResourcesResult::with_all_items(resources);
        result.next_cursor = next;
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let snapshot = self.snapshot();
        let view = self.scope.view(&snapshot);
        let (templates, next) = page(&view.templates, Self::cursor(&request), template_item)
            .map_err(error::bad_cursor)?;
        let mut result = ListResourceTemplatesResult::with_all_items(templates);
        result.next_cursor = next;
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let snapshot = self.snapshot();
        let entry = self.resource_owner(&snapshot, &request.uri)?;
        let upstream = self.upstream(entry, &context).await?;
        let (_call, meta) = self.begin(&upstream.calls, &context, None);
        let mut request = request;
        request.meta = meta;
        let mut response = until_cancelled(
            &context.ct,
            Self::relay(&upstream.entry, upstream.peer.read_resource_once(request)),
        )
        .await?;
        if let ReadResourceResponse::Complete(result) = &mut response {
            mark_complete(&mut result.result_type);
        }
        Ok(response)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let uri = request.uri.clone();
        let client = self.client(&context).clone();
        self.subscribe_upstream(request, context).await?;
        client.note_subscription(&uri, true);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let uri = request.uri.clone();
        let client = self.client(&context).clone();
        self.unsubscribe_upstream(request, context).await?;
        client.note_subscription(&uri, false);
        Ok(())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let snapshot = self.snapshot();
        let mut upstream = request.clone();
        let entry = match &request.r#ref {
            Reference::Prompt(prompt) => {
                let (entry, upstream_name) = self.prompt_owner(&snapshot, &prompt.name)?;
                if let Reference::Prompt(p) = &mut upstream.r#ref {
                    p.name = upstream_name.to_string();
                }
                entry
            }
            Reference::Resource(resource) => {
                let view = self.scope.view(&snapshot);
                let owner = view
                    .templates
                    .values()
                    .find(|t| t.template.uri_template == resource.uri)
                    .map(|t| t.server_id.clone());
                match owner {
                    Some(id) => Self::entry(&snapshot, &id)?,
                    None => self.resource_owner(&snapshot, &resource.uri)?,
                }
            }
            _ => {
                return Err(McpError::invalid_params(
                    "unsupported completion reference",
                    None,
                ));
            }
        };
        let session = self.upstream(entry, &context).await?;
        let (_call, meta) = self.begin(&session.calls, &context, None);
        upstream.meta = meta;
        // A legacy upstream's results have no resultType; 2026-07-28 clients need one
        // (rmcp strips it again for older clients).
        let mut result = until_cancelled(
            &context.ct,
            Self::relay(&session.entry, session.peer.complete(upstream)),
        )
        .await?;
        mark_complete(&mut result.result_type);
        Ok(result)
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        let (entry, peer) = self.task_owner(&request.task_id).await?;
        until_cancelled(&context.ct, Self::relay(&entry, peer.get_task(request))).await
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let (entry, peer) = self.task_owner(&request.task_id).await?;
        until_cancelled(&context.ct, Self::relay(&entry, peer.update_task(request))).await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let (entry, peer) = self.task_owner(&request.task_id).await?;
        until_cancelled(&context.ct, Self::relay(&entry, peer.cancel_task(request))).await
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        // The level is this client's own: its calls go on upstream sessions of its own
        // from now on (the direct lane's too), each told this level (those opened later
        // when they open).
        self.client(&context)
            .tell_level(request.level, |id| self.in_scope(id))
            .await;
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        // rmcp serves the session from now on (also when it took a light one over: the
        // handshake is replayed with the request's headers): its own upstream sessions
        // reach it through this peer.
        let client = self.client_of(&context.extensions, &context.peer).clone();
        self.end.watched.store(true, Ordering::Relaxed);
        self.gateway.session_watch.add(
            &self.gateway.registry,
            self.scope.clone(),
            self.session,
            context.peer.clone(),
        );
        let followed = client.subscriptions();
        if !followed.is_empty() {
            let server = self.clone();
            tokio::spawn(async move { server.resubscribe(&client, followed, context).await });
        }
    }

    async fn on_roots_list_changed(&self, context: NotificationContext<RoleServer>) {
        // Only this client's own upstream sessions know its roots.
        let client = self.client_of(&context.extensions, &context.peer);
        for owned in client.owned().open(|id| self.in_scope(id)).await {
            let _ = owned.peer.notify_roots_list_changed().await;
        }
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.intersection(&changes::offered_filter()))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        changes::serve_subscription(self.gateway.registry.clone(), self.scope.clone(), context)
            .await;
        Ok(())
    }
}
