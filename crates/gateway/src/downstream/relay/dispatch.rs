//! A request of a session the gateway serves itself, dispatched by method to the relay's
//! operations. The rules are those of rmcp's server for a session opened with
//! `initialize` (its `Service` dispatch), so that a client sees the same answers whichever
//! front end served it: which methods a revision has, the tasks capability, and the
//! result's shape for the client's revision.

// Logging and legacy subscriptions are deprecated by SEP-2577 but still part of every
// protocol revision the gateway relays.
#![allow(deprecated)]

use rmcp::{
    ErrorData as McpError,
    model::{
        CallToolResponse, CancelTaskMethod, ClientCapabilities, ClientRequest, ErrorCode,
        GetTaskMethod, PingRequestMethod, ProtocolVersion, ServerResult, SubscribeRequestMethod,
        SubscriptionsListenRequestMethod, UnsubscribeRequestMethod, UpdateTaskMethod,
    },
};

use super::{Call, Relay};

impl Relay {
    /// Serves one request of a session that negotiated `version` with `initialize`.
    pub async fn serve(
        &self,
        request: ClientRequest,
        call: &Call,
        version: &ProtocolVersion,
    ) -> Result<ServerResult, McpError> {
        let requested = call.meta.protocol_version();
        let initialize = matches!(request, ClientRequest::InitializeRequest(_));
        if !initialize && let Some(requested) = &requested {
            let supported = ProtocolVersion::KNOWN_VERSIONS;
            if !supported.contains(requested) {
                return Err(McpError::unsupported_protocol_version(
                    requested.clone(),
                    supported,
                ));
            }
        }
        // A request that declares 2026-07-28 or later in its own `_meta` must carry all
        // of that revision's request metadata, and has that revision's methods.
        let stateless = !initialize
            && (matches!(request, ClientRequest::DiscoverRequest(_))
                || requested.as_ref().is_some_and(|v| !v.has_initialize()));
        if stateless {
            let missing = call
                .meta
                .missing_required_keys(&ProtocolVersion::V_2026_07_28);
            if !missing.is_empty() {
                return Err(McpError::invalid_params(
                    format!(
                        "request _meta is missing or has malformed required fields: {}",
                        missing.join(", ")
                    ),
                    None,
                ));
            }
        }
        let effective = requested.unwrap_or_else(|| version.clone());
        let modern = !effective.has_initialize();
        let session_era = !stateless && !modern;
        let result = self.dispatch(request, call, session_era).await;
        let result = result.and_then(|mut result| {
            if matches!(result, ServerResult::InputRequiredResult(_)) && !modern {
                return Err(McpError::invalid_request(
                    "InputRequiredResult requires negotiated protocol version 2026-07-28 or newer",
                    None,
                ));
            }
            if modern {
                result.fill_missing_cache_hints();
            } else {
                result.strip_result_type_for_legacy_peer();
                result.strip_non_object_output_for_legacy_peer();
            }
            Ok(result)
        });
        result.map_err(|mut error| {
            if modern && error.code == ErrorCode::RESOURCE_NOT_FOUND {
                error.code = ErrorCode::INVALID_PARAMS;
            }
            error
        })
    }

    async fn dispatch(
        &self,
        request: ClientRequest,
        call: &Call,
        session_era: bool,
    ) -> Result<ServerResult, McpError> {
        let info = || self.info();
        let tasks = |method_not_found: fn() -> McpError| {
            if !info().capabilities.supports_tasks() {
                return Err(method_not_found());
            }
            if call.capabilities.supports_tasks() {
                Ok(())
            } else {
                Err(McpError::missing_required_client_capability(
                    ClientCapabilities::builder().enable_tasks().build(),
                ))
            }
        };
        match request {
            ClientRequest::InitializeRequest(request) => self
                .negotiate(&request.params)
                .map(ServerResult::InitializeResult),
            ClientRequest::DiscoverRequest(_) => Ok(ServerResult::DiscoverResult(
                rmcp::model::DiscoverResult::from_server_info(
                    ProtocolVersion::KNOWN_VERSIONS.to_vec(),
                    info(),
                ),
            )),
            ClientRequest::PingRequest(_) if session_era => Ok(ServerResult::empty(())),
            ClientRequest::PingRequest(_) => Err(McpError::method_not_found::<PingRequestMethod>()),
            ClientRequest::CompleteRequest(request) => {
                Box::pin(self.complete(request.params, call))
                    .await
                    .map(ServerResult::CompleteResult)
            }
            ClientRequest::SetLevelRequest(request) => {
                Box::pin(self.set_level(request.params, call))
                    .await
                    .map(ServerResult::empty)
            }
            ClientRequest::GetPromptRequest(request) => {
                Box::pin(self.get_prompt(request.params, call))
                    .await
                    .map(ServerResult::from)
            }
            ClientRequest::ListPromptsRequest(request) => {
                Box::pin(self.list_prompts(request.params, call))
                    .await
                    .map(ServerResult::ListPromptsResult)
            }
            ClientRequest::ListResourcesRequest(request) => {
                Box::pin(self.list_resources(request.params, call))
                    .await
                    .map(ServerResult::ListResourcesResult)
            }
            ClientRequest::ListResourceTemplatesRequest(request) => {
                Box::pin(self.list_resource_templates(request.params, call))
                    .await
                    .map(ServerResult::ListResourceTemplatesResult)
            }
            ClientRequest::ReadResourceRequest(request) => {
                Box::pin(self.read_resource(request.params, call))
                    .await
                    .map(ServerResult::from)
            }
            // A listen stream belongs to the 2026-07-28 revision, which has no sessions:
            // such clients are served by rmcp's stateless face.
            ClientRequest::SubscriptionsListenRequest(_) => {
                Err(McpError::method_not_found::<SubscriptionsListenRequestMethod>())
            }
            ClientRequest::SubscribeRequest(request) if session_era => {
                Box::pin(self.subscribe(request.params, call))
                    .await
                    .map(ServerResult::empty)
            }
            ClientRequest::SubscribeRequest(_) => {
                Err(McpError::method_not_found::<SubscribeRequestMethod>())
            }
            ClientRequest::UnsubscribeRequest(request) if session_era => {
                Box::pin(self.unsubscribe(request.params, call))
                    .await
                    .map(ServerResult::empty)
            }
            ClientRequest::UnsubscribeRequest(_) => {
                Err(McpError::method_not_found::<UnsubscribeRequestMethod>())
            }
            ClientRequest::CallToolRequest(request) => {
                let response = Box::pin(self.call_tool(request.params, call)).await?;
                // SEP-2663: a task handle only for a client that declared tasks.
                if matches!(response, CallToolResponse::Task(_))
                    && !call.capabilities.supports_tasks()
                {
                    return Err(McpError::missing_required_client_capability(
                        ClientCapabilities::builder().enable_tasks().build(),
                    ));
                }
                Ok(ServerResult::from(response))
            }
            ClientRequest::ListToolsRequest(request) => {
                Box::pin(self.list_tools(request.params, call))
                    .await
                    .map(ServerResult::ListToolsResult)
            }
            ClientRequest::GetTaskRequest(request) => {
                tasks(McpError::method_not_found::<GetTaskMethod>)?;
                Box::pin(self.get_task(request.params, call))
                    .await
                    .map(ServerResult::GetTaskResult)
            }
            ClientRequest::UpdateTaskRequest(request) => {
                tasks(McpError::method_not_found::<UpdateTaskMethod>)?;
                Box::pin(self.update_task(request.params, call))
                    .await
                    .map(ServerResult::task_ack)
            }
            ClientRequest::CancelTaskRequest(request) => {
                tasks(McpError::method_not_found::<CancelTaskMethod>)?;
                Box::pin(self.cancel_task(request.params, call))
                    .await
                    .map(ServerResult::task_ack)
            }
            ClientRequest::CustomRequest(request) => Err(McpError::new(
                ErrorCode::METHOD_NOT_FOUND,
                request.method,
                None,
            )),
            // The gateway declares no skills (SEP-2640): unimplemented, as rmcp answers.
            other => Err(McpError::new(
                ErrorCode::METHOD_NOT_FOUND,
                other.method().to_owned(),
                None,
            )),
        }
    }
}

impl Relay {
    /// The answer to `initialize`: the relay's server information, with the protocol
    /// revision negotiated by rmcp's rule.
    pub fn negotiate(
        &self,
        params: &rmcp::model::InitializeRequestParams,
    ) -> Result<rmcp::model::InitializeResult, McpError> {
        rmcp::ServerHandler::negotiate_initialize(&Negotiator(self.clone()), params)
    }
}

/// rmcp's version negotiation, over the relay's server information.
struct Negotiator(Relay);

impl rmcp::ServerHandler for Negotiator {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        self.0.info()
    }
}
