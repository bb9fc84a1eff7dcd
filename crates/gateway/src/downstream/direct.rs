//! The direct lane of an MCP endpoint, the relay's fast path: `tools/call`, `prompts/get`
//! and `resources/read` requests for streamable HTTP upstreams (and plain ones for stdio
//! upstreams) are relayed as raw JSON (see [`crate::upstream::lane`]), without rmcp's
//! typed framing and client machinery, which cost several times what the relay itself
//! does. The endpoint also opens every session here (`initialize`).
//!
//! A request qualifies when its headers and body are plain (see [`request`]) and the
//! server it is routed to (as the relay routes it) is healthy and reachable through its
//! lane. A client that can be asked nothing shares the lane's own upstream session; a
//! session-era client that can be asked something (sampling, elicitation, roots, a log
//! level) sends on its own upstream session (see [`super::owned`]), and the upstream's
//! requests on the request's stream are relayed to it there ([`asks`]). Progress and log
//! messages the upstream sends on the request's stream are relayed as they come: the
//! answer turns into an event stream at the first of them. Everything else — and every
//! request the lane cannot take after all — takes the general path unchanged (rmcp's
//! framing, then the session's [`Relay`](super::relay::Relay)), before anything has been
//! sent upstream.

mod answer;
mod asks;
mod pages;
pub(crate) mod request;
pub mod sessions;

use std::sync::Arc;

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderValue, StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::{
    answer::{
        Eras, FinalMessage, cancelled, event, event_stream, final_message, json_response,
        lane_lost, rejection, unreadable,
    },
    asks::{CallAsks, PendingAsks},
    pages::serialise_tool_pages,
    request::Caller,
    sessions::TrackedSessions,
};
use super::{
    error,
    owned::{ClientSession, OwnedUpstream},
    relay::Relay,
    view::Scope,
};
use crate::{
    access::{Access, Admission, Identity},
    gateway::Gateway,
    protocol::header,
    registry::ServerEntry,
    upstream::{
        lane::{HttpLane, Lane, LaneError, LaneRequest, Method, Outcome},
        seen_session::SessionHeaders,
    },
};

/// What the direct lane did with a POST.
pub enum Handled {
    /// Answered here.
    Answered(Response),
    /// Not for the lane: the general path takes it (body intact).
    Pass(Request),
}

/// Notifications of one call held while the client reads slowly.
const NOTIFICATION_BUFFER: usize = 16;

/// The direct lane of one endpoint.
pub struct DirectLane {
    gateway: Arc<Gateway>,
    scope: Scope,
    /// The endpoint's relay: its server information and its routing (a session's own
    /// relay routes the same way).
    relay: Relay,
    sessions: Arc<TrackedSessions>,
    /// Upstream requests relayed to clients during their calls, until answered.
    asks: Arc<PendingAsks>,
}

impl DirectLane {
    pub fn new(gateway: Arc<Gateway>, scope: Scope, sessions: Arc<TrackedSessions>) -> Self {
        Self {
            relay: Relay::new(gateway.clone(), scope.clone()),
            gateway,
            scope,
            sessions,
            asks: Arc::default(),
        }
    }

    /// Answers a POST on the direct lane, or gives it back for the general path.
    pub async fn try_answer(self: &Arc<Self>, request: Request) -> Handled {
        // rmcp's framing answers what the transport refuses (406, 415).
        if !request::acceptable_media(request.headers()) {
            return Handled::Pass(request);
        }
        // A request on a session with unusual headers takes the relay's general path
        // (through rmcp's framing); every `initialize` opens its session here.
        let opens = !request.headers().contains_key(header::SESSION_ID);
        if !opens && !request::plain_post(request.headers()) {
            return Handled::Pass(request);
        }
        let (parts, body) = request.into_parts();
        let limit = self.gateway.settings.max_body_bytes;
        let body = match axum::body::to_bytes(body, limit).await {
            Ok(body) => body,
            Err(e) => return Handled::Answered(unreadable(e, limit)),
        };
        let rebuilt = |body: Bytes| Request::from_parts(parts.clone(), Body::from(body));
        // For the general path, unless the body is no JSON-RPC message at all (answered here).
        let to_rmcp = |body: Bytes| match rejection(&body) {
            None => Handled::Pass(rebuilt(body)),
            Some(answer) => Handled::Answered(answer),
        };
        // Who is calling (the front door authenticated the request): it owns the session
        // it opens, and reaches only what it may.
        let who = parts.extensions.get::<Identity>();
        let access = who.map_or(Access::NOTHING, Identity::access);
        let principal = who.map_or("", Identity::principal);
        if let Some(answer) = self.open_session(&parts.headers, &body, principal) {
            return Handled::Answered(answer);
        }
        if !request::plain_post(&parts.headers) {
            return to_rmcp(body);
        }
        let Some(caller) = request::caller(&parts.headers) else {
            return to_rmcp(body);
        };
        let Some(envelope) = request::envelope(&body) else {
            // A client's answer to an upstream's request relayed on one of its calls.
            if let Caller::Session(session) = caller
                && let Some(reply) = request::reply(&body)
                && let Some(answered) = Box::pin(self.asks.answer(session, &reply)).await
            {
                return Handled::Answered(answered);
            }
            return to_rmcp(body);
        };
        // A client that can be asked something: its calls go on upstream sessions of its
        // own (see `downstream::owned`).
        let mut asking = None;
        let mut session_info = None;
        if let Caller::Session(session) = caller {
            let Some(info) = self.sessions.touch(session) else {
                return to_rmcp(body);
            };
            // A notification (initialized, cancelled, roots changed) is the relay's, as
            // on the general path.
            if request::is_notification(&envelope) {
                use rmcp::model::ClientJsonRpcMessage;
                let Ok(ClientJsonRpcMessage::Notification(notification)) =
                    serde_json::from_slice(&body)
                else {
                    return to_rmcp(body);
                };
                let relay = info.relay();
                Box::pin(relay.notified(notification.notification, info.outbox())).await;
                return Handled::Answered(StatusCode::ACCEPTED.into_response());
            }
            if info.client().asks() {
                asking = Some((session, info.client().clone()));
            }
            session_info = Some(info);
        }
        // Lists and calls see the catalog once the start-up servers have settled, as the
        // relay's do.
        self.gateway.startup.settled().await;
        // A list page comes from the snapshot, for a client that cannot be asked anything.
        if asking.is_none()
            && access.is_everything()
            && let Some(list) = request::tools_list(&envelope, &caller, &parts.headers)
            && let Some(answer) = self.tools_page(&list, caller == Caller::Stateless)
        {
            return Handled::Answered(answer);
        }
        let Some(call) = request::lane_call(&envelope, &caller, &parts.headers) else {
            return to_rmcp(body);
        };
        let stateless = caller == Caller::Stateless;
        let mut route = match self.route(call.method, &call.target, asking.is_some(), &access) {
            Ok(Some(route)) => route,
            Ok(None) => return Handled::Pass(rebuilt(body)),
            // Refused by a limit: answered here, as the general path would (which would
            // count the refusal a second time).
            Err(refused) => {
                let eras = Eras {
                    client_stateless: stateless,
                    upstream_stateless: false,
                    relay_stateless: false,
                    method: call.method,
                };
                return Handled::Answered(json_response(final_message(
                    call.id,
                    Err(refused),
                    eras,
                )));
            }
        };
        if route.admitted.is_audited()
            && self.gateway.settings.audit_call_arguments
            && let Some(arguments) = call.arguments
        {
            let arguments = serde_json::from_str(arguments.get()).unwrap_or_default();
            route.admitted.record_arguments(&arguments);
        }
        // A session's request is cancelled by its `notifications/cancelled`, or when the
        // session ends.
        // By the id's value, whichever path a cancel for it takes (the same string
        // escaped two ways is one id).
        let in_flight = session_info.and_then(|info| {
            let id = serde_json::from_str(call.id.get()).ok()?;
            Some(info.outbox().begin(id))
        });
        let cancel = match &in_flight {
            Some(in_flight) => in_flight.cancelled().clone(),
            None => CancellationToken::new(),
        };
        let id: Box<RawValue> = call.id.to_owned();
        let request = LaneRequest {
            method: call.method,
            target: route.target,
            arguments: call.arguments.map(ToOwned::to_owned),
            progress_token: call.progress_token.map(ToOwned::to_owned),
            meta: call.meta,
        };
        let session = match asking {
            // A 2026-07-28 client's request goes as one where the upstream speaks that
            // revision (the relay's session with it does), so that the answer has the
            // revision's shape, as the upstream gives it.
            None if stateless && route.relay_stateless => match &route.lane {
                Lane::Http(lane) => UpstreamSession::Stateless(lane.clone()),
                Lane::Stdio(_) => UpstreamSession::Shared(route.lane),
            },
            None => UpstreamSession::Shared(route.lane),
            Some((session, client)) => {
                match Box::pin(self.own_session(&route.entry, route.lane, session, client)).await {
                    Some(own) => own,
                    None => {
                        // The general path makes the request, with an admission of its own.
                        route.admitted.withdraw();
                        return Handled::Pass(rebuilt(body));
                    }
                }
            }
        };
        let eras = Eras {
            client_stateless: stateless,
            upstream_stateless: session.stateless(),
            // A client's own session is a session-era one (else the general path serves it).
            relay_stateless: route.relay_stateless && !session.is_own(),
            method: call.method,
        };
        let (notify, mut notifications) = mpsc::channel(NOTIFICATION_BUFFER);
        let call = session.request(request, notify);
        let tool_call = eras.method == Method::CallTool;
        let mut relay = Box::pin(relay(route.entry, route.admitted, tool_call, call));
        // Wait for the answer, or for a first notification: then the answer becomes an
        // event stream, and the rest of the call runs in its own task.
        let first = tokio::select! {
            biased;
            outcome = &mut relay => {
                let outcome = match outcome {
                    Ok(None) => return Handled::Pass(rebuilt(body)),
                    Ok(Some(outcome)) => Ok(outcome),
                    Err(e) => Err(e),
                };
                let mut early = Vec::new();
                while let Ok(notification) = notifications.try_recv() {
                    early.push(event(notification.get().as_bytes()));
                }
                let message = final_message(&id, outcome, eras);
                return Handled::Answered(if early.is_empty() {
                    json_response(message)
                } else {
                    early.push(event(&message.body));
                    event_stream(futures::stream::iter(early))
                });
            }
            Some(notification) = notifications.recv() => notification,
            () = cancel.cancelled() => {
                return Handled::Answered(json_response(final_message(&id, Err(cancelled()), eras)));
            }
        };
        let (events, body) = mpsc::channel::<Bytes>(NOTIFICATION_BUFFER);
        let _ = events.try_send(event(first.get().as_bytes()));
        tokio::spawn(async move {
            let _in_flight = in_flight;
            let outcome = loop {
                tokio::select! {
                    biased;
                    Some(notification) = notifications.recv() => {
                        if events.send(event(notification.get().as_bytes())).await.is_err() {
                            return; // the client went away: dropping the relay cancels upstream
                        }
                    }
                    outcome = &mut relay => break outcome.and_then(|o| o.ok_or_else(lane_lost)),
                    () = cancel.cancelled() => break Err(cancelled()),
                    () = events.closed() => return,
                }
            };
            while let Ok(notification) = notifications.try_recv() {
                let _ = events.send(event(notification.get().as_bytes())).await;
            }
            let message = final_message(&id, outcome, eras);
            let _ = events.send(event(&message.body)).await;
        });
        let body = futures::stream::unfold(body, |mut body| async move {
            body.recv().await.map(|event| (event, body))
        });
        Handled::Answered(event_stream(body))
    }

    /// Answers a client's `initialize` with a new session (see [`sessions`]), as rmcp's
    /// server would answer it. Every `initialize` opens its session here; `None` for any
    /// other message, and for an `initialize` whose protocol headers contradict its body,
    /// which rmcp refuses with the transport's error before it could open a session.
    fn open_session(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        owner: &str,
    ) -> Option<Response> {
        use rmcp::model::{ClientJsonRpcMessage, ClientRequest, ProtocolVersion};
        if headers.contains_key(header::SESSION_ID) {
            return None;
        }
        let Ok(ClientJsonRpcMessage::Request(request)) = serde_json::from_slice(body) else {
            return None;
        };
        let ClientRequest::InitializeRequest(initialize) = &request.request else {
            return None;
        };
        let params = &initialize.params;
        if let Some(version) = headers.get(header::PROTOCOL_VERSION) {
            let version = version.to_str().ok()?;
            let known = ProtocolVersion::KNOWN_VERSIONS
                .iter()
                .any(|v| v.as_str() == version);
            if !known || version != params.protocol_version.as_str() {
                return None;
            }
            // From the revision that has them, an `Mcp-Method` header must agree.
            if version >= ProtocolVersion::STANDARD_HEADERS.as_str() {
                let mut methods = headers.get_all(header::METHOD).iter();
                match (methods.next(), methods.next()) {
                    (None, _) => {}
                    (Some(method), None) if method == "initialize" => {}
                    _ => return None,
                }
            }
        }
        let answer = match self.relay.negotiate(params) {
            Ok(result) => {
                let session = self.sessions.open(params, &result.protocol_version, owner);
                let message =
                    serde_json::json!({"jsonrpc": "2.0", "id": request.id, "result": result});
                (HeaderValue::from_str(&session).ok(), message)
            }
            Err(error) => {
                let message =
                    serde_json::json!({"jsonrpc": "2.0", "id": request.id, "error": error});
                (None, message)
            }
        };
        let (session, message) = answer;
        let mut response = (
            StatusCode::OK,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            message.to_string(),
        )
            .into_response();
        if let Some(session) = session {
            response
                .headers_mut()
                .insert(http::HeaderName::from_static(header::SESSION_ID), session);
        }
        Some(response)
    }

    /// A `tools/list` page of the aggregate from the snapshot's serialised pages (built
    /// once per registry change by the same paging as rmcp's relay); `None` for a
    /// per-server endpoint or a cursor that is not a page boundary of this snapshot,
    /// which the relay answers.
    fn tools_page(&self, list: &request::ToolsList<'_>, stateless: bool) -> Option<Response> {
        if !matches!(self.scope, Scope::All) {
            return None;
        }
        let snapshot = self.gateway.registry.snapshot();
        // The pages hold what clients that cannot be asked anything are shown; a stateless
        // request's capabilities are its own, and the relay reads them.
        if stateless && snapshot.has_asking_only_tools() {
            return None;
        }
        let pages = snapshot
            .rest
            .mcp_tool_pages
            .get_or_init(|| serialise_tool_pages(&snapshot));
        let (session_era, stateless_form) = pages.pages.get(*pages.by_cursor.get(&list.cursor)?)?;
        let page = if stateless {
            stateless_form
        } else {
            session_era
        };
        let mut body = Vec::with_capacity(page.len() + 64);
        body.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
        body.extend_from_slice(list.id.get().as_bytes());
        body.extend_from_slice(br#","result":"#);
        body.extend_from_slice(page);
        body.push(b'}');
        Some(json_response(FinalMessage {
            status: StatusCode::OK,
            body,
        }))
    }

    /// Where a request goes, routed as the relay routes it, when the lane can take it; an
    /// unknown name is left to the relay, which explains (`asks`: whether the caller can
    /// be asked something, which decides the tools it may call). `Err`: refused by a
    /// limit of the caller's or the tool's.
    fn route(
        &self,
        method: Method,
        target: &str,
        asks: bool,
        access: &Access,
    ) -> Result<Option<Route>, rmcp::ErrorData> {
        let snapshot = self.gateway.registry.snapshot();
        let relay = &self.relay;
        let routed = match method {
            Method::CallTool => relay.tool_owner(&snapshot, target, asks, access),
            Method::GetPrompt => relay.prompt_owner(&snapshot, target, "prompts/get", access),
            Method::ReadResource => relay
                .resource_owner(&snapshot, target, "resources/read", access)
                .map(|(entry, admitted)| (entry, Arc::from(target), admitted)),
        };
        let (entry, upstream_target, admitted) = match routed {
            Ok(routed) => routed,
            Err(refused) if refused.code == crate::protocol::RATE_LIMITED => return Err(refused),
            Err(_) => return Ok(None),
        };
        // A caller's requests to a per-user or token-exchange server go on its own
        // session: the general path's.
        let lane = entry.runtime.peer().and_then(|peer| {
            let relay_stateless = crate::upstream::is_stateless(&peer);
            Some((relay_stateless, entry.runtime.lane(&entry.record)?))
        });
        let Some((relay_stateless, lane)) =
            lane.filter(|_| !(entry.record.per_caller() && access.is_identity()))
        else {
            // The general path makes the request, with an admission of its own.
            admitted.withdraw();
            return Ok(None);
        };
        Ok(Some(Route {
            entry,
            lane,
            target: upstream_target,
            relay_stateless,
            admitted,
        }))
    }

    /// The upstream session of a client's own with `entry`'s server, for the lane: a
    /// streamable HTTP one (the lane sends on the session rmcp opened for the client, so
    /// the upstream sees one session whichever path a request takes). `None` leaves the
    /// call to the general path: another transport, an upstream without sessions, or one
    /// that could not be opened (the relay then reports why).
    async fn own_session(
        self: &Arc<Self>,
        entry: &ServerEntry,
        lane: Lane,
        session: &str,
        client: Arc<ClientSession>,
    ) -> Option<UpstreamSession> {
        let Lane::Http(lane) = lane else {
            return None;
        };
        let limit = self.gateway.settings.max_client_processes_per_server;
        let owned = client.upstream(entry, limit).await.ok()?;
        let headers = owned.http_session()?;
        let asks = CallAsks::new(
            self.asks.clone(),
            session,
            client,
            lane.clone(),
            headers.clone(),
        );
        Some(UpstreamSession::Own {
            lane,
            headers,
            asks,
            _owned: owned,
        })
    }
}

/// Where the lane sends a request.
struct Route {
    entry: Arc<ServerEntry>,
    lane: Lane,
    /// The upstream's tool or prompt name, or the resource's URI.
    target: Arc<str>,
    /// The relay's session with the server speaks 2026-07-28 (whatever the lane's does).
    relay_stateless: bool,
    /// The call's place within the caller's limits, held until it ends.
    admitted: Admission,
}

/// The upstream session a direct call goes on.
enum UpstreamSession {
    /// The lane's own, shared by clients that cannot be asked anything.
    Shared(Lane),
    /// None: a 2026-07-28 request of a client that cannot be asked anything.
    Stateless(Arc<HttpLane>),
    /// The calling client's own (see [`DirectLane::own_session`]).
    Own {
        lane: Arc<HttpLane>,
        headers: Arc<SessionHeaders>,
        asks: CallAsks,
        /// Kept open for the call.
        _owned: Arc<OwnedUpstream>,
    },
}

impl UpstreamSession {
    /// Whether the upstream answers in the 2026-07-28 revision (`resultType` on results).
    fn stateless(&self) -> bool {
        match self {
            UpstreamSession::Shared(lane) => lane.stateless(),
            UpstreamSession::Stateless(_) => true,
            UpstreamSession::Own { .. } => false,
        }
    }

    fn is_own(&self) -> bool {
        matches!(self, UpstreamSession::Own { .. })
    }

    async fn request(
        self,
        request: LaneRequest,
        notify: mpsc::Sender<Box<RawValue>>,
    ) -> Result<Outcome, LaneError> {
        match self {
            UpstreamSession::Shared(lane) => lane.request(request, notify).await,
            UpstreamSession::Stateless(lane) => lane.request_stateless(request, notify).await,
            UpstreamSession::Own {
                lane,
                headers,
                asks,
                _owned,
            } => lane.request_on(headers, request, notify, &asks).await,
        }
    }
}

/// Runs a call on the lane (see [`ServerEntry::call_upstream`]). `Ok(None)`: the lane
/// could not be used and nothing was sent.
async fn relay(
    entry: Arc<ServerEntry>,
    mut admitted: Admission,
    tool_call: bool,
    call: impl Future<Output = Result<Outcome, LaneError>>,
) -> Result<Option<Outcome>, rmcp::ErrorData> {
    let call = async {
        match call.await {
            Ok(outcome) => Ok(Some(outcome)),
            Err(LaneError::Unusable) => Ok(None),
            Err(LaneError::Failed(e)) => Err(e),
        }
    };
    let outcome = entry
        .call_upstream(&admitted.clock(), call)
        .await
        .map_err(|e| error::upstream(&entry.record.server_id, e));
    match outcome {
        // Nothing was sent: the general path serves the request, with an admission of
        // its own.
        Ok(None) => {
            admitted.withdraw();
            Ok(None)
        }
        outcome => {
            if admitted.is_metered()
                && let Ok(Some(answer)) = &outcome
            {
                admitted.answered_with(answer.metered_as(tool_call));
            }
            admitted.track(outcome)
        }
    }
}
