//! The client-side handler of an upstream session. It tells the supervisor when the
//! upstream's lists change, and relays what the upstream sends outside responses to the
//! downstream client concerned (see [`CallRouter`]): progress, log messages,
//! `resources/updated`, and the upstream's own requests for sampling, elicitation and roots.

// Sampling, elicitation, roots and logging are deprecated by SEP-2577 but still part of
// every protocol revision the gateway relays.
#![allow(deprecated)]

use std::sync::Arc;

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
    model::{ClientResult, GetExtensions, ServerRequest},
    service::OriginatingRequestId,
};
use tokio::sync::mpsc;

use super::calls::{CallRouter, InputAsk, Requester};

/// What an upstream told us that the supervisor acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamEvent {
    /// tools, resources or prompts changed: discover again.
    ListChanged,
}

/// Handler for one upstream session.
#[derive(Clone)]
pub struct UpstreamHandler {
    server_id: String,
    events: mpsc::Sender<UpstreamEvent>,
    calls: Arc<CallRouter>,
}

impl UpstreamHandler {
    pub fn new(
        server_id: impl Into<String>,
        events: mpsc::Sender<UpstreamEvent>,
        calls: Arc<CallRouter>,
    ) -> Self {
        Self {
            server_id: server_id.into(),
            events,
            calls,
        }
    }

    fn list_changed(&self, what: &'static str) {
        tracing::debug!(upstream = %self.server_id, what, "upstream list changed");
        // A full channel already holds a pending rediscovery, which covers this one.
        let _ = self.events.try_send(UpstreamEvent::ListChanged);
    }

    /// Who answers a server-initiated request, or the error the upstream gets.
    fn requester(&self, what: &str) -> Result<Requester, McpError> {
        self.calls.requester().ok_or_else(|| {
            McpError::internal_error(
                format!(
                    "mcp-gateway: no client request is in flight on {:?} to answer {what}",
                    self.server_id
                ),
                None,
            )
        })
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

/// Sends an upstream's request to a session-era client, on the response stream of the
/// client request being relayed when there is one. rmcp picks that stream from a marker it
/// would otherwise fill with the upstream session's own request id (a task-local of this
/// handler), so the send runs in a task of its own, outside that context.
async fn ask_client(
    client: rmcp::Peer<rmcp::RoleServer>,
    origin: Option<rmcp::model::RequestId>,
    mut request: ServerRequest,
) -> Result<ClientResult, McpError> {
    if let Some(origin) = origin {
        request
            .extensions_mut()
            .insert(OriginatingRequestId(origin));
    }
    tokio::spawn(async move { client.send_request(request).await })
        .await
        .map_err(|e| McpError::internal_error(format!("mcp-gateway: {e}"), None))?
        .map_err(from_client)
}

fn unexpected(what: &str) -> McpError {
    McpError::internal_error(
        format!("mcp-gateway: the client answered {what} with another result"),
        None,
    )
}

/// A downstream client's failure, reported to the upstream.
fn from_client(error: rmcp::ServiceError) -> McpError {
    match error {
        rmcp::ServiceError::McpError(e) => e,
        other => McpError::internal_error(
            format!("mcp-gateway: the client did not answer: {other}"),
            None,
        ),
    }
}

impl ClientHandler for UpstreamHandler {
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        match self.requester("sampling/createMessage")? {
            Requester::Client(client, origin) => {
                let request =
                    ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
                match ask_client(client, origin, request).await? {
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
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        match self.requester("elicitation/create")? {
            Requester::Client(client, origin) => {
                let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
                match ask_client(client, origin, request).await? {
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
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, McpError> {
        if let Some(Requester::Input(input)) = self.calls.requester() {
            return ask(&input, InputRequest::ListRoots(ListRootsRequest::default())).await;
        }
        match self.calls.latest_or_last_client().map(|(c, _)| c.peer) {
            Some(client)
                if client
                    .peer_info()
                    .is_some_and(|i| i.capabilities.roots.is_some()) =>
            {
                client.list_roots().await.map_err(from_client)
            }
            // No client in flight, or one without roots: the gateway exposes none.
            _ => Ok(ListRootsResult::default()),
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
        // Log messages may come at any time (not only during a call): they go to the
        // client of the latest call.
        let Some((client, _forwarding)) = self.calls.latest_or_last_client() else {
            tracing::debug!(upstream = %self.server_id, level = ?params.level, "upstream log message with no client in flight");
            return;
        };
        // The upstream logs at the most verbose level any session asked for; this one
        // may have asked for less.
        if !self.calls.wants_log(client.session, params.level) {
            return;
        }
        let mut params = params;
        params.logger.get_or_insert_with(|| self.server_id.clone());
        let _ = client.peer.notify_logging_message(params).await;
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
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
            let _ = client.send_notification(notification).await;
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
        // Offered so that upstreams may ask; each request is answered by the downstream
        // client concerned, or refused when it cannot.
        let capabilities = ClientCapabilities::builder()
            .enable_roots()
            .enable_sampling()
            .enable_elicitation()
            .build();
        ClientConfig::new(
            capabilities,
            Implementation::new("mcp-gateway", env!("CARGO_PKG_VERSION")),
        )
    }
}
