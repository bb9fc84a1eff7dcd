//! One client request as the relay serves it, whichever front end took it in.

use std::sync::Arc;

use rmcp::{
    RoleServer,
    model::{
        ClientCapabilities, ClientRequest, GetMeta, JsonRpcRequest, RequestId, RequestMetaObject,
    },
    service::RequestContext,
};
use tokio_util::sync::CancellationToken;

use crate::{
    access::{Access, Identity},
    client_peer::{ClientPeer, InFlight, Outbox},
};

/// A request being relayed: who sent it, how to reach them while it runs, and its
/// protocol metadata.
pub struct Call {
    /// The request's id, as the client sent it.
    pub id: RequestId,
    /// Where what belongs to this request goes: progress, log messages, the upstream's
    /// questions (on the request's own response stream where the front end has one).
    pub peer: ClientPeer,
    /// The request's `_meta`.
    pub meta: RequestMetaObject,
    /// Cancelled when the client cancels the request (or goes away).
    pub cancelled: CancellationToken,
    /// What the client declared: its session's capabilities, or a 2026-07-28 request's own.
    pub capabilities: ClientCapabilities,
    /// A request of the stateless 2026-07-28 revision: no session.
    pub stateless: bool,
    /// What the caller may reach (its identity's, as of this request).
    pub access: Access,
}

impl Call {
    /// A request of a session the gateway serves itself, reaching the client through
    /// `peer` while it runs; registered in flight with the session (cancellable by the
    /// client) until the returned guard drops.
    pub fn in_session(
        outbox: &Arc<Outbox>,
        request: &JsonRpcRequest<ClientRequest>,
        peer: ClientPeer,
        access: Access,
    ) -> (Self, InFlight) {
        let in_flight = outbox.begin(request.id.clone());
        let call = Self {
            id: request.id.clone(),
            peer,
            meta: request.request.get_meta().clone(),
            cancelled: in_flight.cancelled().clone(),
            capabilities: outbox.capabilities().clone(),
            stateless: false,
            access,
        };
        (call, in_flight)
    }

    /// A request rmcp's server took in.
    pub fn from_rmcp(context: &RequestContext<RoleServer>) -> Self {
        Self {
            id: context.id.clone(),
            peer: context.peer.clone().into(),
            meta: context.meta.clone(),
            cancelled: context.ct.clone(),
            capabilities: context.client_capabilities().unwrap_or_default(),
            stateless: context
                .protocol_version()
                .is_some_and(|v| !v.has_initialize()),
            access: access_of(&context.extensions),
        }
    }
}

/// The access of the HTTP request a message came in (rmcp's framing keeps the request's
/// parts in the message's extensions; the front door put the caller's identity there).
pub fn access_of(extensions: &rmcp::model::Extensions) -> Access {
    extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Identity>())
        .map_or(Access::NOTHING, Identity::access)
}
