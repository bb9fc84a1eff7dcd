//! The HTTP lane: a second, light session with a streamable HTTP upstream. It declares no
//! client capabilities, so the upstream cannot ask anything back; calls go out and come
//! back as raw JSON on their own POSTs, progress and log messages on the call's stream.
//!
//! The session is opened on first use with `initialize` and re-opened when the upstream
//! forgets it (404). An upstream that refuses the handshake (one that only speaks the
//! stateless 2026-07-28 revision, say) is left to the rmcp session for a while.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http::{
    HeaderMap, HeaderValue, Response, StatusCode,
    header::{ACCEPT, CONTENT_TYPE},
};
use rmcp::model::ErrorCode;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::{
    LaneError, LaneRequest, Message, Outcome,
    wire::{Body, Events, Poster, read_all},
};
use crate::model::{ServerRecord, TransportKind};
use crate::protocol::{self, header};
use crate::upstream::{
    UpstreamError,
    body::{error_text, has_content_type, printable},
    headers::upstream_headers,
    seen_session::SessionHeaders,
};

/// How long the handshake may take, and how long a refused lane stays closed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// The direct lane to one streamable HTTP upstream.
pub struct HttpLane {
    poster: Poster,
    /// The record's auth and extra headers.
    headers: HeaderMap,
    session: ArcSwapOption<SessionHeaders>,
    /// The headers of a 2026-07-28 request (no session), but for `Mcp-Method` and
    /// `Mcp-Name`; and the protocol metadata of its `_meta`: a client that declares no
    /// capabilities.
    stateless_headers: HeaderMap,
    stateless_meta: String,
    /// One handshake at a time.
    opening: tokio::sync::Mutex<()>,
    /// When a refused lane may be tried again.
    closed_until: Mutex<Option<Instant>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for HttpLane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers carry credentials; the URL's path and query may too.
        f.debug_struct("HttpLane")
            .field("origin", &self.poster.origin())
            .finish_non_exhaustive()
    }
}

impl HttpLane {
    /// The lane for a streamable HTTP record, or `None` for other transports.
    pub fn for_record(record: &ServerRecord) -> Option<Arc<Self>> {
        if record.transport_kind() != TransportKind::StreamableHttp {
            return None;
        }
        let poster = Poster::new(record.url.as_deref()?).ok()?;
        let headers = upstream_headers(record).ok()?;
        let mut stateless_headers = with_media_types(headers.clone());
        let version = protocol::STATELESS_VERSION.as_str();
        stateless_headers.insert(header::PROTOCOL_VERSION, HeaderValue::from_static(version));
        Some(Arc::new(Self {
            poster,
            headers,
            session: ArcSwapOption::empty(),
            stateless_headers,
            stateless_meta: protocol::meta::gateway_client(version),
            opening: tokio::sync::Mutex::new(()),
            closed_until: Mutex::new(None),
            next_id: AtomicU64::new(1),
        }))
    }

    /// Sends a request on the lane's own session. Notifications the upstream sends on
    /// its stream (progress, log messages) go to `notify` as they come. Dropping the
    /// future before the answer cancels the request upstream.
    pub async fn request(
        self: Arc<Self>,
        call: LaneRequest,
        notify: mpsc::Sender<Box<RawValue>>,
    ) -> Result<Outcome, LaneError> {
        let mut session = self.session().await?;
        for attempt in 0..2 {
            match self.clone().send(&session, &call, &notify, None).await {
                // The upstream forgot the session (restart, expiry): it did not run the
                // call, so open a new session and send it once more.
                Err(Sent::Forgotten) if attempt == 0 => {
                    self.forget(&session);
                    session = self.session().await.map_err(|_| {
                        LaneError::Failed(UpstreamError::Transport(
                            "the upstream ended the session and refused a new one".into(),
                        ))
                    })?;
                }
                other => return other.map_err(Sent::into_lane_error),
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// Sends a request as a 2026-07-28 client that declares no capabilities (no session:
    /// protocol metadata in `_meta`, `Mcp-Method` and `Mcp-Name` headers), for a client of
    /// that revision and an upstream that speaks it: the answer keeps the revision's
    /// shape, as the upstream gives it to such a client. Dropping the future before the
    /// answer closes the request's connection, which is how the revision cancels.
    pub async fn request_stateless(
        self: Arc<Self>,
        call: LaneRequest,
        notify: mpsc::Sender<Box<RawValue>>,
    ) -> Result<Outcome, LaneError> {
        let mut headers = self.stateless_headers.clone();
        headers.insert(header::METHOD, HeaderValue::from_static(call.method.name()));
        headers.insert(header::NAME, header::encode_value(&call.target));
        let request = SessionHeaders { headers };
        let id = self.next_id();
        let token = call.progress_token.as_deref().map(RawValue::get);
        let body = call.body(&id, Some(&self.stateless_meta), token);
        let response = self
            .post(&request, Bytes::from(body))
            .await
            .map_err(|e| LaneError::Failed(UpstreamError::Transport(e)))?;
        let outcome = self
            .read_reply(&request, response, &id, Some(&notify), None)
            .await
            .map_err(LaneError::Failed)?;
        // The tool wants arguments mirrored in `Mcp-Param-*` headers, which only rmcp's
        // client writes (from the tool's schema): the upstream refused the request
        // before running it, so rmcp may send it.
        if outcome.error_code() == Some(ErrorCode::HEADER_MISMATCH) {
            return Err(LaneError::Unusable);
        }
        Ok(outcome)
    }

    /// The JSON text of a new request id of the lane's (strings: rmcp's ids on the
    /// sessions it shares with the lane are numbers).
    fn next_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!(r#""gw-lane-{n}""#)
    }

    /// Sends a request on an upstream session of one client's own (opened by rmcp, see
    /// [`crate::upstream::seen_session`]), as [`Self::request`] does; the upstream's
    /// requests on its stream go to the client through `asks`.
    pub async fn request_on(
        self: Arc<Self>,
        session: Arc<SessionHeaders>,
        call: LaneRequest,
        notify: mpsc::Sender<Box<RawValue>>,
        asks: &dyn Asks,
    ) -> Result<Outcome, LaneError> {
        self.send(&session, &call, &notify, Some(asks))
            .await
            .map_err(Sent::into_lane_error)
    }

    /// Sends a call on a session and reads its answer.
    async fn send(
        self: Arc<Self>,
        session: &Arc<SessionHeaders>,
        call: &LaneRequest,
        notify: &mpsc::Sender<Box<RawValue>>,
        asks: Option<&dyn Asks>,
    ) -> Result<Outcome, Sent> {
        let id = self.next_id();
        let mut cancel = CancelOnDrop {
            lane: self.clone(),
            session: session.clone(),
            id: Some(id.clone()),
        };
        let token = call.progress_token.as_deref().map(RawValue::get);
        // The client's progress token goes as it is: the progress comes back on the
        // call's own stream.
        let body = Bytes::from(call.body(&id, None, token));
        let response = self
            .post(session, body)
            .await
            .map_err(|e| Sent::Failed(UpstreamError::Transport(e)))?;
        if response.status() == StatusCode::NOT_FOUND {
            cancel.id = None;
            return Err(Sent::Forgotten);
        }
        let reply = self
            .read_reply(session, response, &id, Some(notify), asks)
            .await;
        cancel.id = None;
        reply.map_err(Sent::Failed)
    }

    /// Sends the client's answer to a request the upstream sent on `session` (relayed
    /// through [`Asks`]): `member` is `result` or `error`, `value` as the client sent it.
    pub async fn answer_upstream(
        &self,
        session: &SessionHeaders,
        id: &RawValue,
        member: &str,
        value: &RawValue,
    ) -> Result<(), String> {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{},"{member}":{}}}"#,
            id.get(),
            value.get()
        );
        let response = self.post(session, Bytes::from(body)).await?;
        let status = response.status();
        response.into_body().release();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the upstream answered HTTP {status}"))
        }
    }

    /// The open session, opening one if needed.
    async fn session(&self) -> Result<Arc<SessionHeaders>, LaneError> {
        if let Some(session) = self.session.load_full() {
            return Ok(session);
        }
        let _opening = self.opening.lock().await;
        if let Some(session) = self.session.load_full() {
            return Ok(session);
        }
        if self
            .lock_closed()
            .is_some_and(|until| Instant::now() < until)
        {
            return Err(LaneError::Unusable);
        }
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.handshake()).await {
            Ok(Ok(session)) => {
                let session = Arc::new(session);
                self.session.store(Some(session.clone()));
                Ok(session)
            }
            outcome => {
                let reason = match outcome {
                    Ok(Err(e)) => e,
                    _ => format!("no answer within {HANDSHAKE_TIMEOUT:?}"),
                };
                tracing::info!(upstream = %self.poster.origin(), %reason, "direct call lane unavailable; calls use the MCP session");
                *self.lock_closed() = Some(Instant::now() + RETRY_AFTER);
                Err(LaneError::Unusable)
            }
        }
    }

    fn lock_closed(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.closed_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops a session the upstream no longer knows (unless another call already did).
    fn forget(&self, session: &Arc<SessionHeaders>) {
        self.session
            .compare_and_swap(session, None::<Arc<SessionHeaders>>);
    }

    /// `initialize` with no capabilities, then `notifications/initialized`.
    async fn handshake(&self) -> Result<SessionHeaders, String> {
        let headers = with_media_types(self.headers.clone());
        let mut opening = SessionHeaders { headers };
        // The newest session-era revision; older session-era answers are accepted.
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{}","capabilities":{{}},"clientInfo":{}}}}}"#,
            protocol::SESSION_VERSION.as_str(),
            protocol::CLIENT_INFO_JSON,
        );
        let response = self.post(&opening, Bytes::from(body)).await?;
        let session_id = response.headers().get(header::SESSION_ID).cloned();
        let reply = self
            .read_reply(&opening, response, "0", None, None)
            .await
            .map_err(|e| e.to_string())?;
        let result = match reply {
            Outcome::Result(result) => result,
            Outcome::Error(error) => return Err(format!("initialize failed: {error}")),
        };
        #[derive(Deserialize)]
        struct Initialized {
            #[serde(rename = "protocolVersion")]
            protocol_version: String,
        }
        let version = serde_json::from_str::<Initialized>(result.get())
            .map_err(|e| format!("unexpected initialize result: {e}"))?
            .protocol_version;
        if !protocol::is_session_version(&version) {
            return Err(format!(
                "the upstream answered protocol version {version:?}"
            ));
        }
        let version = HeaderValue::try_from(version).map_err(|e| e.to_string())?;
        opening.headers.insert(header::PROTOCOL_VERSION, version);
        if let Some(id) = session_id {
            opening.headers.insert(header::SESSION_ID, id);
        }
        let initialized =
            Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        let response = self.post(&opening, initialized).await?;
        if !response.status().is_success() {
            return Err(format!(
                "notifications/initialized answered {}",
                response.status()
            ));
        }
        Ok(opening)
    }

    async fn post(&self, session: &SessionHeaders, body: Bytes) -> Result<Response<Body>, String> {
        self.poster.post(&session.headers, body).await
    }

    /// Reads the answer to request `id` from a JSON body or from the request's SSE stream.
    async fn read_reply(
        &self,
        session: &SessionHeaders,
        response: Response<Body>,
        id: &str,
        notify: Option<&mpsc::Sender<Box<RawValue>>>,
        asks: Option<&dyn Asks>,
    ) -> Result<Outcome, UpstreamError> {
        let status = response.status();
        let (parts, body) = response.into_parts();
        let json = has_content_type(&parts.headers, "application/json");
        if status.is_client_error() && json {
            // A 2026-07-28 server answers some errors with a 4xx status and the JSON-RPC
            // error in the body (an unknown method: 404): the error is the call's answer.
            let bytes = read_all(body).await?;
            if let Ok(message) = parse(&bytes)
                && let Some(outcome @ Outcome::Error(_)) = answer(message, id)
            {
                return Ok(outcome);
            }
            let text = printable(&bytes);
            return Err(UpstreamError::Transport(format!("HTTP {status}: {text}")));
        }
        if status != StatusCode::OK {
            let text = error_text(body).await;
            let text = if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            };
            return Err(UpstreamError::Transport(format!("HTTP {status}{text}")));
        }
        if json {
            let message = parse(&read_all(body).await?)?;
            return answer(message, id)
                .ok_or_else(|| unexpected("the JSON answer is not the call's response"));
        }
        if !has_content_type(&parts.headers, "text/event-stream") {
            return Err(unexpected("the answer is neither JSON nor an event stream"));
        }
        let mut events = Events::new(body);
        while let Some(data) = events.next_data().await? {
            let message = parse(data)?;
            match (&message.method, &message.id) {
                (Some(_), None) => {
                    // A client that went away is noticed by the caller, which drops us.
                    if let Some(notify) = notify {
                        let _ = notify.send(raw(data)?).await;
                    }
                }
                (Some(method), Some(request)) => {
                    let forwarded = match (asks, notify) {
                        (Some(asks), Some(notify)) if method != "ping" => Some(
                            asks.forward(method, request, message.params.as_deref())
                                .map(|forward| (notify, forward)),
                        ),
                        _ => None,
                    };
                    match forwarded {
                        Some(Ok((notify, forward))) => {
                            let _ = notify.send(forward).await;
                        }
                        Some(Err(why)) => self.refuse(session, method, request, Some(&why)),
                        None => self.refuse(session, method, request, None),
                    }
                }
                (None, _) => {
                    if let Some(outcome) = answer(message, id) {
                        events.release();
                        return Ok(outcome);
                    }
                }
            }
        }
        Err(UpstreamError::Transport(
            "the upstream closed the stream before answering".into(),
        ))
    }

    /// Answers a request the upstream sent on a call's stream that goes to no client:
    /// `ping` is answered, anything else refused (`why`, else: the lane's own session
    /// declared no capabilities, so nothing else should come).
    fn refuse(&self, session: &SessionHeaders, method: &str, id: &RawValue, why: Option<&str>) {
        let body = if method == "ping" {
            format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, id.get())
        } else {
            let why = why.unwrap_or("it is not available on this connection");
            let message = format!("mcp-gateway: {method} refused: {why}");
            let error =
                serde_json::json!({"code": ErrorCode::METHOD_NOT_FOUND.0, "message": message});
            format!(r#"{{"jsonrpc":"2.0","id":{},"error":{error}}}"#, id.get())
        };
        let lane_headers = session.headers.clone();
        let poster = self.poster.clone();
        tokio::spawn(async move {
            let _ = poster.post(&lane_headers, Bytes::from(body)).await;
        });
    }
}

/// `headers` with the media types of a POST of the streamable HTTP transport.
fn with_media_types(mut headers: HeaderMap) -> HeaderMap {
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers
}

/// Where the upstream's requests on a call's stream go (sampling, elicitation, roots)
/// when the call is one client's on a session of its own (see `downstream::direct`).
pub trait Asks: Send + Sync {
    /// The message to relay to the client for the upstream's request `method` with id
    /// `id` (the gateway's id in place of the upstream's), or why it is refused.
    fn forward(
        &self,
        method: &str,
        id: &RawValue,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, String>;
}

/// How sending a call went wrong.
enum Sent {
    /// 404: the upstream no longer knows the session; the call did not run.
    Forgotten,
    Failed(UpstreamError),
}

impl Sent {
    fn into_lane_error(self) -> LaneError {
        LaneError::Failed(match self {
            Sent::Forgotten => UpstreamError::Transport("the upstream ended the session".into()),
            Sent::Failed(e) => e,
        })
    }
}

/// The outcome in `message` if it answers request `id`.
fn answer(message: Message, id: &str) -> Option<Outcome> {
    if message.id.as_deref().map(RawValue::get) != Some(id) {
        return None;
    }
    message.into_outcome()
}

fn parse(bytes: &[u8]) -> Result<Message, UpstreamError> {
    serde_json::from_slice(bytes).map_err(|e| unexpected(&format!("invalid JSON-RPC: {e}")))
}

fn raw(data: &[u8]) -> Result<Box<RawValue>, UpstreamError> {
    let text = std::str::from_utf8(data).map_err(|e| unexpected(&format!("not UTF-8: {e}")))?;
    RawValue::from_string(text.to_owned())
        .map_err(|e| unexpected(&format!("invalid JSON-RPC: {e}")))
}

fn unexpected(what: &str) -> UpstreamError {
    UpstreamError::Transport(format!("unexpected answer: {what}"))
}

/// Sends `notifications/cancelled` upstream when a call is abandoned before its answer
/// (timeout, or the client went away).
struct CancelOnDrop {
    lane: Arc<HttpLane>,
    session: Arc<SessionHeaders>,
    /// The call's upstream id (JSON text), until it is answered.
    id: Option<String>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (lane, session) = (self.lane.clone(), self.session.clone());
        let body = protocol::cancelled_notification(&id);
        runtime.spawn(async move {
            let _ = lane.post(&session, Bytes::from(body)).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_match_only_their_own_id() {
        let m: Message =
            serde_json::from_str(r#"{"jsonrpc":"2.0","id":3,"result":{"a":1}}"#).unwrap();
        assert!(answer(m, "4").is_none());
        let m: Message =
            serde_json::from_str(r#"{"jsonrpc":"2.0","id":3,"result":{"a":1}}"#).unwrap();
        let outcome = answer(m, "3").unwrap();
        assert!(matches!(outcome, Outcome::Result(r) if r.get() == r#"{"a":1}"#));
        let m: Message =
            serde_json::from_str(r#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"x"}}"#)
                .unwrap();
        assert!(matches!(answer(m, "3").unwrap(), Outcome::Error(_)));
    }
}
