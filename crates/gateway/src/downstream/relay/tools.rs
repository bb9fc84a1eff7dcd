//! `tools/call` and the `tasks/*` requests about the tasks such calls create.

use std::sync::Arc;

use rmcp::{
    ErrorData as McpError,
    model::{CallToolRequestParams, CallToolResponse},
};
use tokio::sync::mpsc;

use super::{
    Call, Relay,
    upstream_session::{Upstream, completed, relay_call, relay_call_with, until_cancelled},
};
use crate::{
    downstream::{bridge, error},
    metrics::{Outcome, UpstreamClock},
    registry::ServerEntry,
    upstream::{Client, UpstreamPeer},
};

impl Relay {
    /// The upstream session on which a task of this client was created: its own
    /// session with a server, or a server's shared one.
    pub(super) async fn task_owner(
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

    /// `tools/call`, relayed to the tool's server (until the client cancels it).
    pub async fn call_tool(
        &self,
        request: CallToolRequestParams,
        call: &Call,
    ) -> Result<CallToolResponse, McpError> {
        until_cancelled(&call.cancelled, self.call_tool_relayed(request, call)).await
    }

    async fn call_tool_relayed(
        &self,
        request: CallToolRequestParams,
        context: &Call,
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
        let asks = self.asks(context);
        let mut snapshot = self.catalog().await;
        if asks && self.scope.tool(&snapshot, &request.name, asks).is_none() {
            // Perhaps a tool listed only to clients that can be asked, not looked for yet.
            self.discover_asking_tools().await;
            snapshot = self.snapshot();
        }
        let (entry, upstream_name, mut admitted) =
            self.tool_owner(&snapshot, &request.name, asks, &context.access)?;
        if admitted.is_audited() && self.gateway.settings.audit_call_arguments {
            admitted.record_arguments(&serde_json::json!(request.arguments));
        }
        let mut params = request.clone();
        params.name = upstream_name.to_string().into();
        let called = self
            .call_tool_on(entry, params, context, admitted.clock())
            .await;
        if let Ok(CallToolResponse::Complete(result)) = &called
            && result.is_error == Some(true)
        {
            admitted.answered_with(Outcome::ToolError);
        }
        admitted.track(called)
    }

    /// Calls the tool `params` names (the upstream's name) on `entry`'s server.
    async fn call_tool_on(
        &self,
        entry: Arc<ServerEntry>,
        mut params: CallToolRequestParams,
        context: &Call,
        clock: UpstreamClock,
    ) -> Result<CallToolResponse, McpError> {
        let modern = context.stateless;

        if modern {
            let limit = self.gateway.settings.max_client_processes_per_server;
            let upstream = match self.caller_upstream(&entry, context).await? {
                Some(mine) => Upstream::owned(entry, mine),
                None => Upstream::for_stateless_call(entry, context, limit).await?,
            };
            let (input, asks) = mpsc::channel(8);
            let (call, meta) = self.begin(&upstream.calls, context, Some(input));
            params.meta = meta;
            let target = call.target();
            let capabilities = context.capabilities.clone();
            let relayed = relay_call(upstream, capabilities, call, params, clock);
            let run = bridge::spawn(relayed, asks, target);
            return bridge::drive(run).await.map(completed);
        }

        let upstream = self.upstream(entry, context).await?;
        let (mut call, meta) = self.begin(&upstream.calls, context, None);
        params.meta = meta;
        let capabilities = context.capabilities.clone();
        for _ in 0..bridge::MAX_ROUNDS {
            // A 2026-07-28 upstream may answer `input_required`: this session-era client
            // takes the requests directly, and the upstream call is retried.
            match relay_call_with(&upstream, &capabilities, &mut call, params.clone(), &clock)
                .await?
            {
                CallToolResponse::InputRequired(needed) => {
                    let requests = needed.input_requests.unwrap_or_default();
                    let responses = bridge::fulfil(&context.peer, &context.id, requests).await?;
                    params.input_responses = Some(responses);
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
