//! Era bridging for `tools/call`.
//!
//! * A 2026-07-28 client cannot receive server-initiated requests. When a session-era
//!   upstream asks for sampling, elicitation or roots during such a client's call, the call
//!   is parked and the client gets an `input_required` result carrying those requests and
//!   an opaque `requestState`; its retry (with `inputResponses`) answers the upstream, and
//!   the same upstream call runs on to its result.
//! * A session-era client in front of a 2026-07-28 upstream that answers `input_required`
//!   gets the requests as ordinary server-initiated requests; the gateway retries the
//!   upstream call with the client's answers.

// Sampling, elicitation and roots are deprecated by SEP-2577 but still relayed.
#![allow(deprecated)]

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use rmcp::{
    ErrorData as McpError,
    model::{
        CallToolResponse, ClientResult, InputRequest, InputRequests, InputRequiredResult,
        InputResponses, ProgressToken, RequestId, ServerRequest,
    },
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    client_peer::ClientPeer,
    upstream::{CallTarget, Client, InputAsk},
};

/// How long a parked call waits for the client's retry.
const PARK_TTL: Duration = Duration::from_secs(300);
/// Requests an upstream sends together are gathered for this long into one round.
const GATHER: Duration = Duration::from_millis(20);
/// Most `input_required` rounds driven for a session-era client.
pub const MAX_ROUNDS: usize = 8;

/// A relayed call running in its own task, so that it can outlive the request that
/// started it. Dropping it (the client cancelled, or never came back) aborts the call,
/// which cancels the upstream request.
pub struct Running {
    done: oneshot::Receiver<Result<CallToolResponse, McpError>>,
    asks: mpsc::Receiver<InputAsk>,
    task: tokio::task::AbortHandle,
    /// Where the call's notifications go: moved to each retry's request.
    target: CallTarget,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts `call`; `asks` receives the upstream's requests meant for the client.
pub fn spawn(
    call: impl Future<Output = Result<CallToolResponse, McpError>> + Send + 'static,
    asks: mpsc::Receiver<InputAsk>,
    target: CallTarget,
) -> Running {
    let (tx, done) = oneshot::channel();
    let task = tokio::spawn(async move {
        let _ = tx.send(call.await);
    })
    .abort_handle();
    Running {
        done,
        asks,
        task,
        target,
    }
}

/// A call waiting for its client's input.
struct Parked {
    run: Running,
    replies: HashMap<String, oneshot::Sender<Result<serde_json::Value, McpError>>>,
}

fn parked() -> &'static Mutex<HashMap<String, Parked>> {
    static PARKED: OnceLock<Mutex<HashMap<String, Parked>>> = OnceLock::new();
    PARKED.get_or_init(Default::default)
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<String, Parked>> {
    // Each critical section is one map operation; a poisoned lock is still consistent.
    parked().lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits until the call finishes or needs the client's input; in the latter case the call
/// is parked and an `input_required` result is returned.
pub async fn drive(mut run: Running) -> Result<CallToolResponse, McpError> {
    let first = tokio::select! {
        done = &mut run.done => {
            return done.unwrap_or_else(|_| Err(McpError::internal_error("mcp-gateway: the upstream call was lost", None)));
        }
        Some(ask) = run.asks.recv() => ask,
    };
    let mut asks = vec![first];
    while let Ok(Some(ask)) = tokio::time::timeout(GATHER, run.asks.recv()).await {
        asks.push(ask);
    }
    let mut requests = InputRequests::new();
    let mut replies = HashMap::new();
    for (i, ask) in asks.into_iter().enumerate() {
        let key = format!("mcpgw-{i}");
        requests.insert(key.clone(), ask.request);
        replies.insert(key, ask.reply);
    }
    let state = format!("mcpgw:{}", uuid::Uuid::new_v4().simple());
    lock().insert(state.clone(), Parked { run, replies });
    let expiring = state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(PARK_TTL).await;
        // Dropping it fails the upstream's pending requests and abandons the call.
        lock().remove(&expiring);
    });
    Ok(CallToolResponse::InputRequired(InputRequiredResult::new(
        Some(requests),
        Some(state),
    )))
}

/// Whether `state` names a call parked here (rather than an upstream's own state).
pub fn is_parked(state: &str) -> bool {
    lock().contains_key(state)
}

/// Resumes a parked call with the client's answers, carried by the retry of `client`
/// (which gets the call's notifications from now on, under `progress_token`). `None` if
/// no call is parked under `state` (unknown or expired).
pub async fn resume(
    state: &str,
    responses: InputResponses,
    client: Client,
    progress_token: Option<ProgressToken>,
) -> Option<Result<CallToolResponse, McpError>> {
    let parked = lock().remove(state)?;
    parked.run.target.retarget(client, progress_token);
    for (key, reply) in parked.replies {
        let answer = responses.get(&key).cloned().ok_or_else(|| {
            McpError::invalid_params(format!("inputResponses has no entry for {key:?}"), None)
        });
        let _ = reply.send(answer);
    }
    Some(drive(parked.run).await)
}

/// Answers an upstream's `input_required` by asking a session-era client directly, on the
/// response stream of its request `origin`.
pub async fn fulfil(
    client: &ClientPeer,
    origin: &RequestId,
    requests: InputRequests,
) -> Result<InputResponses, McpError> {
    let mut responses = InputResponses::new();
    for (key, request) in requests {
        let request = match request {
            InputRequest::CreateMessage(r) => ServerRequest::CreateMessageRequest(r),
            InputRequest::Elicitation(r) => ServerRequest::ElicitRequest(r),
            InputRequest::ListRoots(r) => ServerRequest::ListRootsRequest(r),
            _ => {
                return Err(McpError::invalid_params(
                    format!("mcp-gateway cannot relay input request {key:?} of an unknown kind"),
                    None,
                ));
            }
        };
        let expected = match &request {
            ServerRequest::CreateMessageRequest(_) => "sampling/createMessage",
            ServerRequest::ElicitRequest(_) => "elicitation/create",
            _ => "roots/list",
        };
        let value = match client.ask(request, Some(origin.clone())).await? {
            ClientResult::CreateMessageResult(r) if expected == "sampling/createMessage" => {
                serde_json::to_value(r)
            }
            ClientResult::ElicitResult(r) if expected == "elicitation/create" => {
                serde_json::to_value(r)
            }
            ClientResult::ListRootsResult(r) if expected == "roots/list" => serde_json::to_value(r),
            _ => {
                return Err(McpError::internal_error(
                    format!("mcp-gateway: the client answered {expected} with another result"),
                    None,
                ));
            }
        };
        let value = value.map_err(|e| McpError::internal_error(e.to_string(), None))?;
        responses.insert(key, value);
    }
    Ok(responses)
}
