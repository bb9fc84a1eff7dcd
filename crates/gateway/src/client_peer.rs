//! The gateway's handle on one downstream client: where what is not an answer goes
//! (progress, log messages, list changes, `resources/updated`, task status) and where an
//! upstream's requests for that client (sampling, elicitation, roots) are asked.
//!
//! Every routing table that names a client (calls in flight, subscriptions, tasks, list
//! watchers, a client's own upstream sessions) holds one of these, so the way a message
//! reaches a client is decided in this one place, whoever serves the client's session.
//! That is the gateway itself for streamable HTTP sessions ([`Outbox`]: the session's own
//! stream and each request's response stream), and rmcp's server for the legacy `/sse`
//! face and 2026-07-28 requests (its peer).

// Sampling, elicitation, roots and logging are deprecated by SEP-2577 but still part of
// every protocol revision the gateway relays.
#![allow(deprecated)]

mod outbox;

use std::sync::Arc;

use rmcp::{
    ErrorData as McpError, Peer, RoleServer,
    model::{
        ClientCapabilities, ClientResult, GetExtensions, LoggingMessageNotification,
        LoggingMessageNotificationParam, ProgressNotification, ProgressNotificationParam,
        RequestId, ResourceUpdatedNotification, ResourceUpdatedNotificationParam,
        ServerNotification, ServerRequest,
    },
    service::OriginatingRequestId,
};

pub use self::outbox::{InFlight, Message, Outbox, RequestStream};

/// A downstream client, as the gateway reaches it.
#[derive(Debug, Clone)]
pub enum ClientPeer {
    /// A session rmcp's server serves: its peer.
    Rmcp(Peer<RoleServer>),
    /// A session the gateway serves itself: its own stream.
    Session(Arc<Outbox>),
    /// One request of such a session: its response stream.
    Request(Arc<RequestStream>),
}

/// The client's session ended (or its stream closed): the message reached nobody.
#[derive(Debug, thiserror::Error)]
#[error("the client's session has ended")]
pub struct ClientGone;

impl From<Peer<RoleServer>> for ClientPeer {
    fn from(peer: Peer<RoleServer>) -> Self {
        ClientPeer::Rmcp(peer)
    }
}

impl ClientPeer {
    /// Whether nothing can reach the client any more.
    pub fn is_closed(&self) -> bool {
        match self {
            ClientPeer::Rmcp(peer) => peer.is_transport_closed(),
            ClientPeer::Session(outbox) => outbox.is_ended(),
            ClientPeer::Request(stream) => stream.is_closed(),
        }
    }

    /// The client's session as a whole, for what outlives the request at hand
    /// (subscriptions, tasks, list changes): rmcp's peer is the session's already.
    pub fn session(&self) -> ClientPeer {
        match self {
            ClientPeer::Request(stream) => ClientPeer::Session(stream.session().clone()),
            other => other.clone(),
        }
    }

    /// What the client declared in its `initialize`, once it has.
    pub fn capabilities(&self) -> Option<ClientCapabilities> {
        match self {
            ClientPeer::Rmcp(peer) => peer.peer_info().map(|info| info.capabilities.clone()),
            ClientPeer::Session(outbox) => Some(outbox.capabilities().clone()),
            ClientPeer::Request(stream) => Some(stream.session().capabilities().clone()),
        }
    }

    /// Sends the client a notification.
    pub async fn notify(&self, notification: ServerNotification) -> Result<(), ClientGone> {
        match self {
            ClientPeer::Rmcp(peer) => peer
                .send_notification(notification)
                .await
                .map_err(|_| ClientGone),
            ClientPeer::Session(outbox) => outbox.notify(notification).await,
            ClientPeer::Request(stream) => stream.notify(notification).await,
        }
    }

    /// `notifications/progress`, with the client's own token in `params`.
    pub async fn notify_progress(
        &self,
        params: ProgressNotificationParam,
    ) -> Result<(), ClientGone> {
        let notification = ProgressNotification::new(params);
        self.notify(ServerNotification::ProgressNotification(notification))
            .await
    }

    /// `notifications/message`.
    pub async fn notify_log(
        &self,
        params: LoggingMessageNotificationParam,
    ) -> Result<(), ClientGone> {
        let notification = LoggingMessageNotification::new(params);
        self.notify(ServerNotification::LoggingMessageNotification(notification))
            .await
    }

    /// `notifications/resources/updated`.
    pub async fn notify_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
    ) -> Result<(), ClientGone> {
        let notification = ResourceUpdatedNotification::new(params);
        self.notify(ServerNotification::ResourceUpdatedNotification(
            notification,
        ))
        .await
    }

    /// Asks the client something (sampling, elicitation, roots) and waits for its answer:
    /// on the response stream of its request `origin` when the question belongs to one,
    /// else on its session's own stream. The client's error comes back as it gave it.
    pub async fn ask(
        &self,
        mut request: ServerRequest,
        origin: Option<RequestId>,
    ) -> Result<ClientResult, McpError> {
        match self {
            ClientPeer::Rmcp(peer) => {
                // rmcp picks the stream from this marker, which it would otherwise fill
                // from a task-local of whatever handler is running (an upstream session's
                // request id, say): the send runs in a task of its own, outside it.
                if let Some(origin) = origin {
                    request
                        .extensions_mut()
                        .insert(OriginatingRequestId(origin));
                }
                let peer = peer.clone();
                tokio::spawn(async move { peer.send_request(request).await })
                    .await
                    .map_err(|e| McpError::internal_error(format!("mcp-gateway: {e}"), None))?
                    .map_err(from_client)
            }
            ClientPeer::Session(outbox) => outbox.ask_session(request).await,
            ClientPeer::Request(stream) => stream.ask(request).await,
        }
    }
}

/// A downstream client's failure to answer, as the asking upstream is told it.
fn from_client(error: rmcp::ServiceError) -> McpError {
    match error {
        rmcp::ServiceError::McpError(e) => e,
        other => McpError::internal_error(
            format!("mcp-gateway: the client did not answer: {other}"),
            None,
        ),
    }
}
