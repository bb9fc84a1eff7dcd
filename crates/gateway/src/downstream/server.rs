//! rmcp's server face of the relay: where rmcp's server takes a session in (the `/sse`
//! face, 2026-07-28 requests, the streamable HTTP requests the direct lane leaves), each
//! request becomes a [`Call`] of the session's [`Relay`] — the same operations every face
//! goes through.

// Logging and legacy subscriptions are deprecated by SEP-2577 but still part of every
// protocol revision the gateway relays.
#![allow(deprecated)]

use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CancelTaskParams, CompleteRequestParams,
        CompleteResult, GetPromptRequestParams, GetPromptResponse, GetTaskParams, GetTaskResult,
        ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerConfig,
        SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter,
        UnsubscribeRequestParams, UpdateTaskParams,
    },
    service::{NotificationContext, RequestContext, SubscriptionContext},
};

use super::{
    changes,
    relay::{Call, Relay},
};
use crate::protocol::header;

/// One downstream session as rmcp's server serves it (rmcp builds one per session).
#[derive(Clone)]
pub struct GatewayServer {
    relay: Relay,
}

impl GatewayServer {
    pub fn new(gateway: std::sync::Arc<crate::gateway::Gateway>, scope: super::Scope) -> Self {
        Self {
            relay: Relay::new(gateway, scope),
        }
    }

    /// A server for a streamable HTTP endpoint with a direct lane.
    pub(super) fn with_sessions(
        self,
        sessions: std::sync::Arc<super::direct::sessions::TrackedSessions>,
    ) -> Self {
        Self {
            relay: self.relay.with_sessions(sessions),
        }
    }

    /// The session's relay.
    pub(super) fn relay(&self) -> &Relay {
        &self.relay
    }
}

/// The MCP session id of the request a notification came with.
fn session_of(context: &NotificationContext<RoleServer>) -> Option<std::sync::Arc<str>> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.headers.get(header::SESSION_ID))
        .and_then(|id| id.to_str().ok())
        .map(std::sync::Arc::from)
}

impl ServerHandler for GatewayServer {
    fn get_info(&self) -> ServerConfig {
        self.relay.info()
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        self.relay
            .list_tools(request, &Call::from_rmcp(&context))
            .await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.relay
            .call_tool(request, &Call::from_rmcp(&context))
            .await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        self.relay
            .list_prompts(request, &Call::from_rmcp(&context))
            .await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        self.relay
            .get_prompt(request, &Call::from_rmcp(&context))
            .await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        self.relay
            .list_resources(request, &Call::from_rmcp(&context))
            .await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        self.relay
            .list_resource_templates(request, &Call::from_rmcp(&context))
            .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.relay
            .read_resource(request, &Call::from_rmcp(&context))
            .await
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.relay
            .subscribe(request, &Call::from_rmcp(&context))
            .await
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.relay
            .unsubscribe(request, &Call::from_rmcp(&context))
            .await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        self.relay
            .complete(request, &Call::from_rmcp(&context))
            .await
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        self.relay
            .get_task(request, &Call::from_rmcp(&context))
            .await
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.relay
            .update_task(request, &Call::from_rmcp(&context))
            .await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.relay
            .cancel_task(request, &Call::from_rmcp(&context))
            .await
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.relay
            .set_level(request, &Call::from_rmcp(&context))
            .await
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        // rmcp serves the session from now on (also when it took a light one over: the
        // handshake is replayed with the request's headers).
        let session = session_of(&context);
        self.relay.initialized(session, context.peer.into());
    }

    async fn on_roots_list_changed(&self, context: NotificationContext<RoleServer>) {
        let session = session_of(&context);
        let peer = context.peer.into();
        self.relay.roots_changed(session.as_deref(), &peer).await;
    }
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.intersection(&changes::offered_filter()))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        self.relay.listen(context).await;
        Ok(())
    }
}
