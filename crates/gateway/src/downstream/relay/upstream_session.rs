//! The upstream session a relayed request goes on, and running one request on it.

use std::{future::Future, sync::Arc};

use rmcp::{
    ErrorData as McpError,
    model::{
        CallToolRequest, CallToolRequestParams, CallToolResponse, ClientCapabilities,
        ClientRequest, ServerResult,
    },
};
use tokio_util::sync::CancellationToken;

use super::{Call, Relay};
use crate::{
    downstream::owned::OwnedUpstream,
    metrics::UpstreamClock,
    protocol::{can_be_asked, mark_complete},
    registry::ServerEntry,
    upstream::{CallGuard, CallRouter, Owner, Pending, UpstreamPeer},
};

/// The upstream session a relayed request goes on, with the router of what it sends back.
pub(super) struct Upstream {
    pub entry: Arc<ServerEntry>,
    pub peer: Arc<UpstreamPeer>,
    pub calls: Arc<CallRouter>,
    /// Kept open while the request runs (a session for one call closes after it).
    owned: Option<Arc<OwnedUpstream>>,
}

impl Upstream {
    /// The server's shared session.
    pub(super) fn shared(entry: Arc<ServerEntry>) -> Result<Self, McpError> {
        let peer = Relay::peer_of(&entry)?;
        let calls = entry.runtime.calls.clone();
        Ok(Self {
            entry,
            peer,
            calls,
            owned: None,
        })
    }

    /// Whether this is a session of the client's own.
    pub(super) fn is_owned(&self) -> bool {
        self.owned.is_some()
    }

    /// A session owned by one client (or one call).
    pub(super) fn owned(entry: Arc<ServerEntry>, owned: Arc<OwnedUpstream>) -> Self {
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
    pub(super) async fn for_stateless_call(
        entry: Arc<ServerEntry>,
        call: &Call,
        limit: usize,
    ) -> Result<Self, McpError> {
        let capabilities = call.capabilities.clone();
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
pub(super) async fn relay_call_with(
    upstream: &Upstream,
    capabilities: &ClientCapabilities,
    call: &mut CallGuard,
    params: CallToolRequestParams,
    clock: &UpstreamClock,
) -> Result<CallToolResponse, McpError> {
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
    let result = Relay::relay(&upstream.entry, clock, async {
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
pub(super) async fn relay_call(
    upstream: Upstream,
    capabilities: ClientCapabilities,
    mut call: CallGuard,
    params: CallToolRequestParams,
    clock: UpstreamClock,
) -> Result<CallToolResponse, McpError> {
    relay_call_with(&upstream, &capabilities, &mut call, params, &clock).await
}

/// A final result has a `resultType` even when a session-era upstream left it out
/// (rmcp strips it again for session-era clients).
pub(super) fn completed(mut response: CallToolResponse) -> CallToolResponse {
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

/// Runs a relayed request until the client cancels it (`notifications/cancelled`); the
/// relay is then dropped, which cancels the upstream request too.
pub(super) async fn until_cancelled<T>(
    cancelled: &CancellationToken,
    relay: impl Future<Output = Result<T, McpError>>,
) -> Result<T, McpError> {
    tokio::select! {
        result = relay => result,
        () = cancelled.cancelled() => Err(McpError::internal_error("request cancelled by the client", None)),
    }
}
