//! What the direct lane writes back to a client: the final JSON-RPC message in the shape
//! the client's revision expects (as rmcp's server would give it), JSON or an event
//! stream, and the answers to bodies the lane cannot read.

use axum::{
    body::Body,
    http::{
        HeaderValue, StatusCode,
        header::{CACHE_CONTROL, CONTENT_TYPE},
    },
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use rmcp::model::ErrorCode;
use serde_json::value::RawValue;

use super::request;
use crate::{
    protocol::{
        stateless_error_status, with_result_type, without_result_type, without_result_type_for_call,
    },
    upstream::lane::{Method, Outcome, error_code},
};

pub(super) fn cancelled() -> rmcp::ErrorData {
    rmcp::ErrorData::internal_error("request cancelled by the client", None)
}

/// The lane refused a call after it had started streaming; cannot happen (the lane is
/// refused before anything is sent), but is an error rather than a panic.
pub(super) fn lane_lost() -> rmcp::ErrorData {
    rmcp::ErrorData::internal_error("mcp-gateway: the direct lane was lost mid-call", None)
}

/// The JSON-RPC answer to the client, with the HTTP status rmcp would give it.
pub(super) struct FinalMessage {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

/// The protocol revisions on either side of a request: a 2026-07-28 result carries a
/// `resultType`, a session-era one does not.
#[derive(Debug, Clone, Copy)]
pub(super) struct Eras {
    pub client_stateless: bool,
    /// The lane's session with the upstream.
    pub upstream_stateless: bool,
    /// The relay's session with the upstream (the HTTP lane's is session-era even where
    /// the relay's is not).
    pub relay_stateless: bool,
    pub method: Method,
}

impl Eras {
    /// Whether the relay would answer in the 2026-07-28 revision on either side: rmcp's
    /// server (for a 2026-07-28 client) or the upstream (for the relay's 2026-07-28
    /// session) then gives a read result cache hints, and a missing resource is invalid
    /// params.
    fn modern_answer(self) -> bool {
        self.client_stateless || self.relay_stateless
    }
}

pub(super) fn final_message(
    id: &RawValue,
    outcome: Result<Outcome, rmcp::ErrorData>,
    eras: Eras,
) -> FinalMessage {
    let stateless = eras.client_stateless;
    let mut body = Vec::with_capacity(64);
    body.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    body.extend_from_slice(id.get().as_bytes());
    let mut status = StatusCode::OK;
    match outcome {
        Ok(Outcome::Result(result)) => {
            body.extend_from_slice(br#","result":"#);
            let start = body.len();
            match (eras.client_stateless, eras.upstream_stateless) {
                (true, false) => with_result_type(&result, &mut body),
                (false, true) if eras.method == Method::CallTool => {
                    without_result_type_for_call(&result, &mut body);
                }
                (false, true) => without_result_type(&result, &mut body),
                _ => body.extend_from_slice(result.get().as_bytes()),
            }
            if eras.method == Method::ReadResource
                && eras.modern_answer()
                && let Some(hinted) = with_cache_hints(&body[start..])
            {
                body.truncate(start);
                body.extend_from_slice(&hinted);
            }
        }
        Ok(Outcome::Error(error)) => {
            body.extend_from_slice(br#","error":"#);
            match error_code(&error) {
                Some(ErrorCode::RESOURCE_NOT_FOUND) if eras.modern_answer() => {
                    with_code(&error, ErrorCode::INVALID_PARAMS, &mut body);
                }
                code => {
                    body.extend_from_slice(error.get().as_bytes());
                    if stateless && let Some(code) = code {
                        status = stateless_error_status(code);
                    }
                }
            }
        }
        Err(error) => {
            body.extend_from_slice(br#","error":"#);
            let encoded = serde_json::to_vec(&error).unwrap_or_else(|_| {
                let code = ErrorCode::INTERNAL_ERROR.0;
                format!(
                    r#"{{"code":{code},"message":"mcp-gateway: the error could not be encoded"}}"#
                )
                .into_bytes()
            });
            body.extend_from_slice(&encoded);
        }
    }
    body.push(b'}');
    FinalMessage { status, body }
}

/// A `resources/read` result with the cache hints rmcp fills in when they are missing (the
/// typed step the relay and the `tools/list` pages take); `None` leaves the result as it
/// is (not a read result).
fn with_cache_hints(result: &[u8]) -> Option<Vec<u8>> {
    let result = serde_json::from_slice(result).ok()?;
    let mut result = rmcp::model::ServerResult::ReadResourceResult(result);
    result.fill_missing_cache_hints();
    serde_json::to_vec(&result).ok()
}

/// `error` written to `out` with another code.
fn with_code(error: &RawValue, code: ErrorCode, out: &mut Vec<u8>) {
    type Members = indexmap::IndexMap<String, Box<RawValue>>;
    let recoded = serde_json::from_str::<Members>(error.get()).and_then(|mut members| {
        members.insert("code".into(), serde_json::value::to_raw_value(&code)?);
        serde_json::to_vec(&members)
    });
    match recoded {
        Ok(recoded) => out.extend_from_slice(&recoded),
        Err(_) => out.extend_from_slice(error.get().as_bytes()),
    }
}

pub(super) fn json_response(message: FinalMessage) -> Response {
    let content_type = [(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
    (message.status, content_type, message.body).into_response()
}

/// One SSE event carrying a JSON-RPC message.
pub(super) fn event(message: &[u8]) -> Bytes {
    let mut event = Vec::with_capacity(message.len() + 8);
    event.extend_from_slice(b"data: ");
    event.extend_from_slice(message);
    event.extend_from_slice(b"\n\n");
    event.into()
}

pub(super) fn event_stream(
    events: impl futures::Stream<Item = Bytes> + Send + 'static,
) -> Response {
    use futures::StreamExt;
    let content_type = [
        (CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    let body = Body::from_stream(events.map(Ok::<_, std::convert::Infallible>));
    (StatusCode::OK, content_type, body).into_response()
}

/// A body that could not be read: over the limit (413, as rmcp answers), or cut off.
pub(super) fn unreadable(error: axum::Error, limit: usize) -> Response {
    let too_large = std::error::Error::source(&error)
        .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
    if too_large {
        let text = format!("Payload Too Large: request body exceeds {limit} bytes");
        return (StatusCode::PAYLOAD_TOO_LARGE, text).into_response();
    }
    let text = format!("Bad Request: the request body could not be read: {error}");
    (StatusCode::BAD_REQUEST, text).into_response()
}

/// The answer to a body that is not one JSON-RPC message a client may send: 400 with a
/// JSON-RPC error (parse error or invalid request) and a null id, as the
/// streamable HTTP transport expects (rmcp would answer 415). `None` for a good body.
pub(super) fn rejection(body: &[u8]) -> Option<Response> {
    let (code, reason) = request::invalid_message(body)?;
    let error = request::unreadable_message(code, &reason);
    let content_type = [(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
    Some((StatusCode::BAD_REQUEST, content_type, error).into_response())
}
