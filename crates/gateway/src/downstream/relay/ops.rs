//! The relay's operations, one per MCP method: lists come from the registry's snapshot,
//! everything else goes to the upstream that owns the name or URI.

// Logging (logging/setLevel) is deprecated by SEP-2577 but still part of every protocol
// revision the gateway relays.
#![allow(deprecated)]

use rmcp::{
    ErrorData as McpError,
    model::{
        CancelTaskParams, CompleteRequestParams, CompleteResult, GetPromptRequestParams,
        GetPromptResponse, GetTaskParams, GetTaskResult, Implementation, ListPromptsResult,
        ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
        ReadResourceRequestParams, ReadResourceResponse, Reference, ServerCapabilities,
        ServerConfig, SetLevelRequestParams, UpdateTaskParams,
    },
};

use super::{Call, Relay, upstream_session::until_cancelled};
use crate::{
    access::Called,
    downstream::{
        error,
        view::{Scope, page_where, template_item},
    },
    metrics::UpstreamClock,
    protocol::mark_complete,
    registry::{Route, TemplateRoute},
};

/// The method completions are audited under.
const COMPLETE: &str = "completion/complete";

impl Relay {
    /// What the face tells a client in `initialize` (and 2026-07-28 discovery).
    pub fn info(&self) -> ServerConfig {
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

    pub async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        call: &Call,
    ) -> Result<ListToolsResult, McpError> {
        // A client is shown what the upstream would show it: some tools are listed only to
        // clients that can be asked something.
        let asks = self.asks(call);
        if asks {
            self.discover_asking_tools().await;
        }
        let snapshot = self.catalog().await;
        let view = self.scope.view(&snapshot);
        let access = &call.access;
        let shown = |r: &crate::registry::Route<rmcp::model::Tool>| {
            (asks || !snapshot.asking_only(r))
                && access.allows_tool(&snapshot, &r.server_id, &r.upstream_name)
        };
        let (tools, next) = page_where(&view.tools, Self::cursor(&request), shown, |r| {
            (*r.item).clone()
        })
        .map_err(error::bad_cursor)?;
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        Ok(result)
    }

    pub async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        call: &Call,
    ) -> Result<ListPromptsResult, McpError> {
        let snapshot = self.catalog().await;
        let view = self.scope.view(&snapshot);
        let reached = |r: &Route<_>| call.access.allows_server(&r.server_id);
        let (prompts, next) = page_where(&view.prompts, Self::cursor(&request), reached, |r| {
            (*r.item).clone()
        })
        .map_err(error::bad_cursor)?;
        let mut result = ListPromptsResult::with_all_items(prompts);
        result.next_cursor = next;
        Ok(result)
    }

    pub async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        call: &Call,
    ) -> Result<GetPromptResponse, McpError> {
        let snapshot = self.catalog().await;
        let (entry, upstream_name, mut admitted) =
            self.prompt_owner(&snapshot, &request.name, "prompts/get", &call.access)?;
        let upstream = self.upstream(entry, call).await?;
        let (_call, meta) = self.begin(&upstream.calls, call, None);
        let mut params = request.clone();
        params.name = upstream_name.to_string();
        params.meta = meta;
        let mut response = admitted.track(
            until_cancelled(
                &call.cancelled,
                Self::relay(
                    &upstream.entry,
                    &admitted.clock(),
                    upstream.peer.get_prompt_once(params),
                ),
            )
            .await,
        )?;
        if let GetPromptResponse::Complete(result) = &mut response {
            mark_complete(&mut result.result_type);
        }
        Ok(response)
    }

    pub async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        call: &Call,
    ) -> Result<ListResourcesResult, McpError> {
        let snapshot = self.catalog().await;
        let view = self.scope.view(&snapshot);
        let reached = |r: &Route<_>| call.access.allows_server(&r.server_id);
        let (resources, next) = page_where(&view.resources, Self::cursor(&request), reached, |r| {
            (*r.item).clone()
        })
        .map_err(error::bad_cursor)?;
        let mut result = ListResourcesResult::with_all_items(resources);
        result.next_cursor = next;
        Ok(result)
    }

    pub async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        call: &Call,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let snapshot = self.catalog().await;
        let view = self.scope.view(&snapshot);
        let reached = |t: &TemplateRoute| call.access.allows_server(&t.server_id);
        let (templates, next) = page_where(
            &view.templates,
            Self::cursor(&request),
            reached,
            template_item,
        )
        .map_err(error::bad_cursor)?;
        let mut result = ListResourceTemplatesResult::with_all_items(templates);
        result.next_cursor = next;
        Ok(result)
    }

    pub async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        call: &Call,
    ) -> Result<ReadResourceResponse, McpError> {
        let snapshot = self.catalog().await;
        let (entry, mut admitted) =
            self.resource_owner(&snapshot, &request.uri, "resources/read", &call.access)?;
        let upstream = self.upstream(entry, call).await?;
        let (_call, meta) = self.begin(&upstream.calls, call, None);
        let mut request = request;
        request.meta = meta;
        let mut response = admitted.track(
            until_cancelled(
                &call.cancelled,
                Self::relay(
                    &upstream.entry,
                    &admitted.clock(),
                    upstream.peer.read_resource_once(request),
                ),
            )
            .await,
        )?;
        if let ReadResourceResponse::Complete(result) = &mut response {
            mark_complete(&mut result.result_type);
        }
        Ok(response)
    }

    pub async fn complete(
        &self,
        request: CompleteRequestParams,
        call: &Call,
    ) -> Result<CompleteResult, McpError> {
        let snapshot = self.catalog().await;
        let mut upstream = request.clone();
        let (entry, mut admitted) = match &request.r#ref {
            Reference::Prompt(prompt) => {
                let (entry, upstream_name, admitted) =
                    self.prompt_owner(&snapshot, &prompt.name, COMPLETE, &call.access)?;
                if let Reference::Prompt(p) = &mut upstream.r#ref {
                    p.name = upstream_name.to_string();
                }
                (entry, admitted)
            }
            Reference::Resource(resource) => {
                let view = self.scope.view(&snapshot);
                let owner = view
                    .templates
                    .values()
                    .find(|t| t.template.uri_template == resource.uri)
                    .map(|t| t.server_id.clone())
                    .filter(|id| call.access.allows_server(id));
                match owner {
                    // A template's own URI: its server, within the caller's limits.
                    Some(id) => {
                        let entry = Self::entry(&snapshot, &id)?;
                        let called = Called {
                            method: COMPLETE,
                            name: &resource.uri,
                        };
                        let admitted = self.admit(&call.access, &entry, called)?;
                        (entry, admitted)
                    }
                    None => {
                        self.resource_owner(&snapshot, &resource.uri, COMPLETE, &call.access)?
                    }
                }
            }
            _ => {
                return Err(McpError::invalid_params(
                    "unsupported completion reference",
                    None,
                ));
            }
        };
        let session = self.upstream(entry, call).await?;
        let (_call, meta) = self.begin(&session.calls, call, None);
        upstream.meta = meta;
        // A legacy upstream's results have no resultType; 2026-07-28 clients need one
        // (rmcp strips it again for older clients).
        let mut result = admitted.track(
            until_cancelled(
                &call.cancelled,
                Self::relay(
                    &session.entry,
                    &admitted.clock(),
                    session.peer.complete(upstream),
                ),
            )
            .await,
        )?;
        mark_complete(&mut result.result_type);
        Ok(result)
    }

    pub async fn get_task(
        &self,
        request: GetTaskParams,
        call: &Call,
    ) -> Result<GetTaskResult, McpError> {
        let (entry, peer) = self.task_owner(&request.task_id).await?;
        until_cancelled(
            &call.cancelled,
            Self::relay(&entry, &UpstreamClock::UNMETERED, peer.get_task(request)),
        )
        .await
    }

    pub async fn update_task(
        &self,
        request: UpdateTaskParams,
        call: &Call,
    ) -> Result<(), McpError> {
        let (entry, peer) = self.task_owner(&request.task_id).await?;
        until_cancelled(
            &call.cancelled,
            Self::relay(&entry, &UpstreamClock::UNMETERED, peer.update_task(request)),
        )
        .await
    }

    pub async fn cancel_task(
        &self,
        request: CancelTaskParams,
        call: &Call,
    ) -> Result<(), McpError> {
        let (entry, peer) = self.task_owner(&request.task_id).await?;
        until_cancelled(
            &call.cancelled,
            Self::relay(&entry, &UpstreamClock::UNMETERED, peer.cancel_task(request)),
        )
        .await
    }

    pub async fn set_level(
        &self,
        request: SetLevelRequestParams,
        call: &Call,
    ) -> Result<(), McpError> {
        // The level is this client's own: its calls go on upstream sessions of its own
        // from now on (the direct lane's too), each told this level (those opened later
        // when they open).
        self.client(call)
            .tell_level(request.level, |id| self.in_scope(id))
            .await;
        Ok(())
    }
}
