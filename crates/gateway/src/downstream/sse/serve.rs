//! One legacy SSE session, served by the relay: the client's `initialize` is answered here,
//! then each posted message goes to the session's [`Relay`], and every message for the
//! client — answers, notifications, the upstreams' questions — is written to the session's
//! one stream (its [`Outbox`]).

use std::sync::Arc;

use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, ErrorData as McpError, JsonRpcRequest, ProtocolVersion,
    ServerJsonRpcMessage, ServerResult,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Limits, session::Session};
use crate::{
    client_peer::{ClientPeer, Outbox},
    downstream::{
        owned::ClientSession,
        relay::{Call, Relay},
        view::Scope,
    },
    gateway::Gateway,
};

/// A session after its `initialize`: its relay, its streams, the negotiated revision.
type Opened = (
    Relay,
    Arc<Outbox>,
    mpsc::Receiver<ServerJsonRpcMessage>,
    ProtocolVersion,
);

/// What one session needs while it runs.
pub(super) struct Served {
    pub gateway: Arc<Gateway>,
    pub id: String,
    pub session: Arc<Session>,
    pub inbound: mpsc::Receiver<ClientJsonRpcMessage>,
    /// The stream's side: JSON-encoded messages.
    pub outbound: mpsc::Sender<String>,
    pub limits: Limits,
    /// Cancelled to end the session (the stream dropped, the gateway stopping).
    pub ct: CancellationToken,
}

impl Served {
    /// Serves the session until the client leaves, stalls or idles, or the gateway stops.
    pub async fn run(mut self) {
        let Some(request) = self.initialize_request().await else {
            return;
        };
        let Some((relay, outbox, mut stream, revision)) = self.open(request).await else {
            return;
        };
        loop {
            tokio::select! {
                message = self.inbound.recv() => match message {
                    Some(message) => self.take(&relay, &outbox, &revision, message).await,
                    None => break,
                },
                message = stream.recv() => match message {
                    Some(message) => if !self.write(&message).await { break },
                    None => break,
                },
                () = self.ct.cancelled() => break,
                () = self.session.activity.idle(self.limits.idle_timeout) => {
                    tracing::info!(session = %self.id, timeout = ?self.limits.idle_timeout, "closing an idle legacy SSE session");
                    break;
                }
            }
        }
        outbox.end();
    }

    /// Waits for the client's `initialize` (answering pings meanwhile, as the protocol
    /// allows before initialization); `None` if the session ends first.
    async fn initialize_request(&mut self) -> Option<JsonRpcRequest<ClientRequest>> {
        let deadline = tokio::time::Instant::now() + self.limits.init_timeout;
        loop {
            let message = tokio::select! {
                message = tokio::time::timeout_at(deadline, self.inbound.recv()) => message,
                () = self.ct.cancelled() => return None,
            };
            match message {
                Err(_) => {
                    tracing::info!(session = %self.id, timeout = ?self.limits.init_timeout, "closing a legacy SSE session that sent no initialize");
                    return None;
                }
                Ok(None) => return None,
                Ok(Some(ClientJsonRpcMessage::Request(request))) => {
                    if !matches!(request.request, ClientRequest::PingRequest(_)) {
                        return Some(request);
                    }
                    let pong = ServerJsonRpcMessage::response(ServerResult::empty(()), request.id);
                    if !self.write(&pong).await {
                        return None;
                    }
                }
                // Nothing to act on before the handshake.
                Ok(Some(_)) => {}
            }
        }
    }

    /// Answers the session's first request, which must be `initialize`: the session's
    /// relay and streams from then on.
    async fn open(&self, request: JsonRpcRequest<ClientRequest>) -> Option<Opened> {
        let ClientRequest::InitializeRequest(initialize) = &request.request else {
            tracing::debug!(session = %self.id, "legacy SSE session ended: its first request was not initialize");
            let refusal = McpError::invalid_request("send initialize first", None);
            let _ = self
                .write(&ServerJsonRpcMessage::error(refusal, Some(request.id)))
                .await;
            return None;
        };
        let params = &initialize.params;
        let client = Arc::new(ClientSession::new(params.capabilities.clone()));
        let outbox = Outbox::new(params.capabilities.clone());
        let stream = outbox.open_stream();
        client.attach(&ClientPeer::Session(outbox.clone()));
        let relay = Relay::for_client(self.gateway.clone(), Scope::All, client);
        let (answer, revision) = match relay.negotiate(params) {
            Ok(result) => {
                let revision = result.protocol_version.clone();
                let result = ServerResult::InitializeResult(result);
                (ServerJsonRpcMessage::response(result, request.id), revision)
            }
            Err(error) => {
                let _ = self
                    .write(&ServerJsonRpcMessage::error(error, Some(request.id)))
                    .await;
                return None;
            }
        };
        self.write(&answer)
            .await
            .then_some((relay, outbox, stream, revision))
    }

    /// One posted message.
    async fn take(
        &self,
        relay: &Relay,
        outbox: &Arc<Outbox>,
        revision: &ProtocolVersion,
        message: ClientJsonRpcMessage,
    ) {
        match message {
            ClientJsonRpcMessage::Request(request) => {
                let peer = ClientPeer::Session(outbox.clone());
                let (call, in_flight) = Call::in_session(outbox, &request, peer);
                let (relay, outbox, revision) = (relay.clone(), outbox.clone(), revision.clone());
                tokio::spawn(async move {
                    let _in_flight = in_flight;
                    let id = request.id;
                    let served = relay.serve(request.request, &call, &revision).await;
                    let answer = match served {
                        Ok(result) => ServerJsonRpcMessage::response(result, id),
                        Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
                    };
                    let _ = outbox.deliver(answer).await;
                });
            }
            ClientJsonRpcMessage::Notification(notification) => {
                relay.notified(notification.notification, outbox).await;
            }
            ClientJsonRpcMessage::Response(response) => {
                outbox.answer(&response.id, Ok(response.result));
            }
            ClientJsonRpcMessage::Error(error) => {
                if let Some(asked) = &error.id {
                    outbox.answer(asked, Err(error.error));
                }
            }
        }
    }

    /// Writes a message to the stream; false once the session must end (the client left,
    /// or stopped reading for the stall timeout).
    async fn write(&self, message: &ServerJsonRpcMessage) -> bool {
        let json = match serde_json::to_string(message) {
            Ok(json) => json,
            Err(e) => {
                tracing::warn!(session = %self.id, error = %e, "a server message could not be encoded");
                return true;
            }
        };
        let stall = self.limits.stall_timeout;
        match tokio::time::timeout(stall, self.outbound.send(json)).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                tracing::warn!(session = %self.id, timeout = ?stall, "closing a legacy SSE session whose client stopped reading");
                false
            }
        }
    }
}
