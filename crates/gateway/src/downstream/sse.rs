//! The legacy HTTP+SSE transport (protocol revision 2024-11-05) in front of the aggregate,
//! for clients that predate streamable HTTP:
//! * `GET /sse` opens an event stream whose first event, `endpoint`, carries the relative URI
//!   `/messages?sessionId=<id>`;
//! * the client `POST`s each JSON-RPC message there and gets `202 Accepted` with no body;
//! * every server message (responses, notifications, server→client requests) comes back on
//!   the stream as a `message` event.
//!
//! Each stream is one session of the relay (scope: every server) over a pair of channels
//! ([`session`], [`super::stream_session`]). It ends when the client drops the stream, when it sends
//! no `initialize` in time or stays idle, and at gateway shutdown. The Host and Origin
//! rule and the master key are the front door's, as for every route (`crate::front`).

mod session;
#[cfg(test)]
mod tests;

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, RawQuery, State, rejection::BytesRejection},
    http::{HeaderValue, StatusCode},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::{get, post},
};
use futures::{Stream, StreamExt, stream};
use rmcp::model::ClientJsonRpcMessage;
use serde_json::Value;

use self::session::{Outbound, Sessions};
use crate::{access::Identity, front::ApiError, gateway::Gateway};

/// Where clients post their messages; the `endpoint` event names it with the session id.
const MESSAGES_PATH: &str = "/messages";

/// Timings and sizes of the SSE sessions; the defaults suit production, tests shrink them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Concurrent sessions; beyond it `GET /sse` answers `503 too_many_sessions`.
    pub max_sessions: usize,
    /// How often a comment is sent on a quiet stream (keeps proxies from closing it, and
    /// notices a vanished client).
    pub keep_alive: Duration,
    /// How long a new session may go without completing `initialize`.
    pub init_timeout: Duration,
    /// How long a session may go without a message in either direction.
    pub idle_timeout: Duration,
    /// How long the stream may refuse a server message (a client that stopped reading)
    /// before the session is closed.
    pub stall_timeout: Duration,
    /// Posted messages waiting for the session; a client that floods it gets `429`.
    pub inbound_queue: usize,
    /// Server messages waiting for the stream.
    pub outbound_queue: usize,
}

impl Limits {
    pub fn new(max_sessions: usize) -> Self {
        Self {
            max_sessions,
            keep_alive: Duration::from_secs(15),
            init_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30 * 60),
            stall_timeout: Duration::from_secs(60),
            inbound_queue: 64,
            outbound_queue: 64,
        }
    }
}

#[derive(Clone)]
struct SseState {
    gateway: Arc<Gateway>,
    sessions: Arc<Sessions>,
    limits: Limits,
}

/// `GET /sse` and `POST /messages`, for merging into the MCP routes.
pub(crate) fn routes(gateway: &Arc<Gateway>) -> Router<Arc<Gateway>> {
    let limits = Limits::new(gateway.settings.max_sse_sessions);
    router(gateway.clone(), Arc::default(), limits)
}

fn router(gateway: Arc<Gateway>, sessions: Arc<Sessions>, limits: Limits) -> Router<Arc<Gateway>> {
    let max_body = gateway.settings.max_body_bytes;
    Router::new()
        .route("/sse", get(open))
        .route(MESSAGES_PATH, post(message))
        .route_layer(DefaultBodyLimit::max(max_body))
        .with_state(SseState {
            gateway,
            sessions,
            limits,
        })
}

/// `GET /sse`: a new session and its event stream.
async fn open(State(state): State<SseState>, who: Identity) -> Result<Response, ApiError> {
    let outbound = state
        .sessions
        .open(&state.gateway, &state.limits, who.principal().to_owned())
        .ok_or_else(|| {
            tracing::warn!(
                max = state.limits.max_sessions,
                "refusing a legacy SSE session: too many open"
            );
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_sessions",
                format!(
                    "the gateway already serves {} SSE sessions; try again later",
                    state.limits.max_sessions
                ),
            )
        })?;
    let mut response = Sse::new(events(outbound))
        .keep_alive(KeepAlive::new().interval(state.limits.keep_alive))
        .into_response();
    // Reverse proxies (nginx) would otherwise buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The `endpoint` event, then one `message` event per server message. Dropping the stream
/// (the client went away) ends the session.
fn events(outbound: Outbound) -> impl Stream<Item = Result<Event, Infallible>> {
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("{MESSAGES_PATH}?sessionId={}", outbound.id()));
    let messages = stream::unfold(outbound, |mut outbound| async move {
        let json = outbound.next().await?;
        Some((Ok(Event::default().event("message").data(json)), outbound))
    });
    stream::once(async { Ok(endpoint) }).chain(messages)
}

/// `POST /messages?sessionId=<id>`: one JSON-RPC message for a session.
async fn message(
    State(state): State<SseState>,
    who: Identity,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let id = session_id(query.as_deref()).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_session_id",
            "POST /messages needs the ?sessionId= that GET /sse announced",
        )
    })?;
    let session = state.sessions.get(&id, who.principal()).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "session_not_found",
            "no such SSE session (it may have ended); open a new one with GET /sse",
        )
    })?;
    let message = parse(&body.map_err(crate::admin::body_error)?)?;
    session.deliver(message)?;
    Ok(StatusCode::ACCEPTED)
}

fn session_id(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == "sessionId")
        .map(|(_, id)| id.into_owned())
}

/// A posted body as a client message: `400 invalid_json` if it is not JSON, `400
/// invalid_message` (with the reason) if it is JSON but not one JSON-RPC message.
fn parse(body: &[u8]) -> Result<ClientJsonRpcMessage, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let invalid = |reason: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_message",
            format!("not a JSON-RPC message: {reason}"),
        )
    };
    match &value {
        Value::Array(_) => {
            return Err(invalid(
                "batches are not part of the 2024-11-05 transport; post one message at a time"
                    .into(),
            ));
        }
        Value::Object(object) => {
            if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
                return Err(invalid(r#""jsonrpc" must be "2.0""#.into()));
            }
        }
        _ => return Err(invalid("expected a JSON object".into())),
    }
    serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
}

impl From<session::Rejected> for ApiError {
    fn from(rejected: session::Rejected) -> Self {
        match rejected {
            session::Rejected::Busy => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_messages",
                "the session has too many unprocessed messages; slow down",
            ),
            session::Rejected::Ended => ApiError::new(
                StatusCode::NOT_FOUND,
                "session_not_found",
                "the SSE session has ended; open a new one with GET /sse",
            ),
        }
    }
}
