//! The client-side handler of an upstream session. It tells the supervisor when the
//! upstream's lists change, and relays what the upstream sends outside responses to the
//! downstream client it belongs to: progress (by token), the upstream's own requests for
//! sampling, elicitation and roots (by the stream they came on, or by whose session it
//! is — see [`Owner`]), log messages, `resources/updated` and task status.

// Sampling, elicitation, roots and logging are deprecated by SEP-2577 but still part of
// every protocol revision the gateway relays.
#![allow(deprecated)]

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use rmcp::{
    ClientHandler, ErrorData as McpError,
    model::{
        ClientCapabilities, ClientConfig, CreateMessageRequest, CreateMessageRequestParams,
        CreateMessageResult, ElicitRequest, ElicitRequestParams, ElicitResult, Implementation,
        InputRequest, ListRootsRequest, ListRootsResult, LoggingMessageNotificationParam,
        ProgressNotificationParam, ResourceUpdatedNotificationParam, ServerNotification,
        TaskStatusNotification, TaskStatusNotificationParams,
    },
    service::{NotificationContext, RequestContext, RoleClient},
};
use rmcp::{
    model::{ClientResult, ServerRequest},
    service::InboundStreamOrigin,
};
use tokio::sync::mpsc;

use super::calls::{CallRouter, InputAsk, Requester};
use crate::client_peer::ClientPeer;

/// What an upstream told us that the supervisor acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamEvent {
    /// tools, resources or prompts changed: discover again.
    ListChanged,
}

/// Whose upstream session this is. It decides where the upstream's own requests and log
/// messages go, which no message of theirs says.
#[derive(Debug, Clone)]
pub enum Owner {
    /// The server's shared session: discovery, and the calls of clients that cannot be
    /// asked anything. Its requests are refused and its log messages reach nobody: no
    /// client can be told apart on it.
    Shared,
    /// The session of one session-era client, declaring that client's capabilities.
    Client {
        link: Arc<ClientLink>,
        capabilities: ClientCapabilities,
    },
    /// A session for one call of a 2026-07-28 client, declaring the capabilities its
    /// request declared; the upstream's requests become the call's `input_required`.
    Call { capabilities: ClientCapabilities },
    /// A short-lived session of the supervisor that declares every capability, to learn
    /// which tools the upstream lists only to clients that can be asked something. It
    /// asks nobody: its requests are refused.
    Discovery,
}

impl Owner {
    /// The capabilities of the client that answers this session's requests.
    fn capabilities(&self) -> Option<&ClientCapabilities> {
        match self {
            Owner::Shared | Owner::Discovery => None,
            Owner::Client { capabilities, .. } | Owner::Call { capabilities } => Some(capabilities),
        }
    }

    /// What the session declares upstream: what its client declared, and no more.
    fn declared(&self) -> ClientCapabilities {
        match self {
            Owner::Shared => ClientCapabilities::default(),
            Owner::Discovery => ClientCapabilities::builder()
                .enable_roots()
                .enable_sampling()
                .enable_elicitation()
                .build(),
            Owner::Client { capabilities, .. } | Owner::Call { capabilities } => {
                crate::protocol::relayable(capabilities)
            }
        }
    }
}

/// How a session of one client's own reaches that client outside its calls (its GET
/// stream), once something serves such a stream for it. A session the direct lane alone
/// answers has none: such messages reach nobody.
#[derive(Debug, Default)]
pub struct ClientLink(ArcSwapOption<ClientPeer>);

impl ClientLink {
    /// `peer` reaches the client from now on.
    pub fn attach(&self, peer: &ClientPeer) {
        if self.0.load().is_none() {
            self.0.store(Some(Arc::new(peer.clone())));
        }
    }

    fn peer(&self) -> Option<ClientPeer> {
        self.0.load().as_deref().cloned()
    }
}

/// What an upstream may ask a client, by the capability it needs.
#[derive(Debug, Clone, Copy)]
enum Ask {
    Sampling,
    Elicitation,
    Roots,
}

impl Ask {
    fn method(self) -> &'static str {
        match self {
            Ask::Sampling => "sampling/createMessage",
            Ask::Elicitation => "elicitation/create",
            Ask::Roots => "roots/list",
        }
    }

    fn from_method(method: &str) -> Option<Self> {
        [Ask::Sampling, Ask::Elicitation, Ask::Roots]
            .into_iter()
            .find(|ask| ask.method() == method)
    }

    fn declared(self, capabilities: &ClientCapabilities) -> bool {
        match self {
            Ask::Sampling => capabilities.sampling.is_some(),
            Ask::Elicitation => capabilities.elicitation.is_some(),
            Ask::Roots => capabilities.roots.is_some(),
        }
    }
}

/// Whether an upstream may send a client that declared `capabilities` a request of
/// `method` (sampling, elicitation or roots, each with its capability).
pub fn may_ask(capabilities: &ClientCapabilities, method: &str) -> bool {
    Ask::from_method(method).is_some_and(|ask| ask.declared(capabilities))
}

/// Handler for one upstream session.
#[derive(Clone)]
pub struct UpstreamHandler {
    server_id: String,
    /// The supervisor's, for the shared session; owned sessions leave discovery to it.
    events: Option<mpsc::Sender<UpstreamEvent>>,
    calls: Arc<CallRouter>,
    owner: Owner,
}

impl UpstreamHandler {
    /// The handler of a server's shared session.
    pub fn new(
        server_id: impl Into<String>,
        events: mpsc::Sender<UpstreamEvent>,
        calls: Arc<CallRouter>,
    ) -> Self {
        Self {
            server_id: server_id.into(),
            events: Some(events),
            calls,
            owner: Owner::Shared,
        }
    }

    /// The handler of an upstream session owned by one client (or one call).
    pub fn owned(server_id: impl Into<String>, calls: Arc<CallRouter>, owner: Owner) -> Self {
        Self {
            server_id: server_id.into(),
            events: None,
            calls,
            owner,
        }
    }

    fn list_changed(&self, what: &'static str) {
        tracing::debug!(upstream = %self.server_id, what, "upstream list changed");
        // A full channel already holds a pending rediscovery, which covers this one.
        if let Some(events) = &self.events {
            let _ = events.try_send(UpstreamEvent::ListChanged);
        }
    }

    /// Who answers the upstream's request, or the error the upstream gets. A request that
    /// came on the response stream of a relayed request belongs to that request's call;
    /// otherwise, on a session owned by one client, to the one call in flight or to the
    /// client itself. Nothing is ever sent to a client that did not declare the capability.
    fn requester(
        &self,
        ask: Ask,
        context: &RequestContext<RoleClient>,
    ) -> Result<Requester, McpError> {
        let refused = |why: String| {
            McpError::invalid_request(
                format!("mcp-gateway: {} refused: {why}", ask.method()),
                None,
            )
        };
        let Some(capabilities) = self.owner.capabilities() else {
            return Err(refused(format!(
                "this session with {:?} declared no client capabilities",
                self.server_id
            )));
        };
        if !ask.declared(capabilities) {
            return Err(refused("the client declared no such capability".to_owned()));
        }
        let on_stream = match context.extensions.get::<InboundStreamOrigin>() {
            Some(InboundStreamOrigin::OutboundRequest(id)) => self.calls.requester_of(id),
            _ => None,
        };
        if let Some(requester) = on_stream.or_else(|| self.calls.sole_call()) {
            return Ok(requester);
        }
        match &self.owner {
            Owner::Client { link, .. } => link
                .peer()
                .map(|peer| Requester::Client(peer, None))
                .ok_or_else(|| refused("the client has no stream open for it".to_owned())),
            _ => Err(refused("the call it belongs to has ended".to_owned())),
        }
    }
}

/// Hands an upstream request to the call of a 2026-07-28 client (which answers it through
/// `input_required` and the client's retry) and waits for the reply.
async fn ask<T: serde::de::DeserializeOwned>(
    input: &mpsc::Sender<InputAsk>,
    request: InputRequest,
) -> Result<T, McpError> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let gone = || {
        McpError::internal_error(
            "mcp-gateway: the client's call ended before it answered",
            None,
        )
    };
    input
        .send(InputAsk { request, reply })
        .await
        .map_err(|_| gone())?;
    let value = answer.await.map_err(|_| gone())??;
    serde_json::from_value(value).map_err(|e| {
        McpError::invalid_params(
            format!("mcp-gateway: the client's input response is malformed: {e}"),
            None,
        )
    })
}

fn unexpected(what: &str) -> McpError {
    McpError::internal_error(
        format!("mcp-gateway: the client answered {what} with another result"),
        None,
    )
}

impl ClientHandler for UpstreamHandler {
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        match self.requester(Ask::Sampling, &context)? {
            Requester::Client(client, origin) => {
                let request =
                    ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
                match client.ask(request, origin).await? {
                    ClientResult::CreateMessageResult(result) => Ok(*result),
                    _ => Err(unexpected("sampling/createMessage")),
                }
            }
            Requester::Input(input) => {
                ask(
                    &input,
                    InputRequest::CreateMessage(CreateMessageRequest::new(params)),
                )
                .await
            }
        }
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        match self.requester(Ask::Elicitation, &context)? {
            Requester::Client(client, origin) => {
                let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
                match client.ask(request, origin).await? {
                    ClientResult::ElicitResult(result) => Ok(result),
                    _ => Err(unexpected("elicitation/create")),
                }
            }
            Requester::Input(input) => {
                ask(
                    &input,
                    InputRequest::Elicitation(ElicitRequest::new(params)),
                )
                .await
            }
        }
    }

    async fn list_roots(
        &self,
        context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, McpError> {
        match self.requester(Ask::Roots, &context)? {
            Requester::Client(client, origin) => {
                let request = ServerRequest::ListRootsRequest(ListRootsRequest::default());
                match client.ask(request, origin).await? {
                    ClientResult::ListRootsResult(result) => Ok(result),
                    _ => Err(unexpected("roots/list")),
                }
            }
            Requester::Input(input) => {
                ask(&input, InputRequest::ListRoots(ListRootsRequest::default())).await
            }
        }
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        // The call registers rmcp's token right after queuing the request; a very fast
        // upstream can beat it by microseconds, so look again briefly before giving up.
        for _ in 0..20 {
            if let Some((client, token, _forwarding)) =
                self.calls.progress_target(&params.progress_token)
            {
                let mut params = params;
                params.progress_token = token;
                let _ = client.notify_progress(params).await;
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        tracing::debug!(upstream = %self.server_id, "progress for no known call");
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        // A log message names no call: it goes to the client whose session this is (the
        // upstream logs at that client's level), and on a shared session to nobody.
        let (client, _forwarding) = match (&self.owner, self.calls.sole_client()) {
            (Owner::Shared | Owner::Discovery, _) => {
                tracing::debug!(upstream = %self.server_id, level = ?params.level, "log message on a shared upstream session dropped");
                return;
            }
            (_, Some((client, forwarding))) => (client.peer, Some(forwarding)),
            (Owner::Client { link, .. }, None) => match link.peer() {
                Some(peer) => (peer, None),
                None => return,
            },
            (Owner::Call { .. }, None) => return,
        };
        let mut params = params;
        params.logger.get_or_insert_with(|| self.server_id.clone());
        let _ = client.notify_log(params).await;
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        // A client's own session: its subscriptions are the client's. The shared one:
        // the sessions that subscribed to this URI through it.
        if let Owner::Client { link, .. } = &self.owner {
            if let Some(peer) = link.peer() {
                let _ = peer.notify_resource_updated(params).await;
            }
            return;
        }
        for client in self.calls.subscribers(&params.uri) {
            let _ = client.notify_resource_updated(params.clone()).await;
        }
    }

    async fn on_task_status(
        &self,
        params: TaskStatusNotificationParams,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(client) = self.calls.task_client(&params.task.task.task_id) {
            let notification =
                ServerNotification::TaskStatusNotification(TaskStatusNotification::new(params));
            let _ = client.notify(notification).await;
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed("tools");
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed("resources");
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed("prompts");
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            self.owner.declared(),
            Implementation::new("mcp-gateway", env!("CARGO_PKG_VERSION")),
        )
    }
}
