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

/// The relay as rmcp's server serves it: for the 2026-07-28 requests rmcp frames (it builds
/// one per request).
/// Each operation's future is boxed: rmcp's dispatch would otherwise hold all of their
/// states inline, which overflows a thread's stack in unoptimised builds.
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
        let call = Call::from_rmcp(&context);
        Box::pin(self.relay.list_tools(request, &call)).await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let call = Call::from_rmcp(&context);
        Box::pin(self.relay.call_tool(request, &call)).await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let call = Call::from_rmcp(&context);
        Box::pin(self.relay.list_prompts(request, &call)).await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let call = Call::from_rmcp(&context);
        Box::pin(self.relay.get_prompt(request, &call)).await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let call = Call::from_rmcp(&context);
        Box::pin(self.relay.list_resources(request, &call)).await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let call = Call::from_rmcp(&context);
        Box::pin(self.relay.list_resource_templates(request, &call)).await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let call = Call::from_rmcp(&context);
        Box::pin(self.relay.read_resource(request, &call)).await
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let call = Call::from_rmcp(&context);
        Box::pin(self.relay.subscribe(request, &call)).await
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let call = Call::from_rmcp(&context);
        Box::pin(self.relay.unsubscribe(request, &call)).await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let call = Call::from_rmcp(&context);
        Box::pin(self.relay.complete(request, &call)).await
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        let call = Call::from_rmcp(&context);
        Box::pin(self.relay.get_task(request, &call)).await
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let call = Call::from_rmcp(&context);
        Box::pin(self.relay.update_task(request, &call)).await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let call = Call::from_rmcp(&context);
        Box::pin(self.relay.cancel_task(request, &call)).await
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let call = Call::from_rmcp(&context);
        Box::pin(self.relay.set_level(request, &call)).await
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.relay.initialized(context.peer.into());
    }

    async fn on_roots_list_changed(&self, context: NotificationContext<RoleServer>) {
        self.relay.roots_changed(&context.peer.into()).await;
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
