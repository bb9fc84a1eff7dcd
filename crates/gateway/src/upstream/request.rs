//! Sending one relayed request upstream: rmcp's handle exposes the progress token it chose
//! (for [`super::CallGuard::route_progress`]), and an unanswered request that is dropped —
//! timed out, or cancelled by the downstream client — is cancelled upstream too.

use rmcp::{
    RoleClient,
    model::{
        CancelledNotification, CancelledNotificationParam, ClientCapabilities, ClientNotification,
        ClientRequest, RequestMetaObject, ServerResult,
    },
    service::{PeerRequestOptions, RequestHandle},
};

use super::UpstreamPeer;

/// A request on its way upstream.
pub struct Pending {
    handle: RequestHandle<RoleClient>,
}

impl Pending {
    /// Sends `request` for a client that declared `capabilities`; returns once it is
    /// queued on the upstream session. A 2026-07-28 upstream reads the client's
    /// capabilities from each request's `_meta`: they are the client's own, not those the
    /// session declared.
    pub async fn send(
        peer: &UpstreamPeer,
        request: ClientRequest,
        capabilities: &ClientCapabilities,
    ) -> Result<Self, rmcp::ServiceError> {
        let mut options = PeerRequestOptions::no_options();
        if super::is_stateless(peer) {
            let mut meta = RequestMetaObject::default();
            meta.set_client_capabilities(crate::protocol::relayable(capabilities));
            options.meta = Some(meta);
        }
        let handle = peer.send_request_with_option(request, options).await?;
        Ok(Self { handle })
    }

    pub fn progress_token(&self) -> &rmcp::model::ProgressToken {
        &self.handle.progress_token
    }

    /// The id of the request upstream: requests the upstream sends on its response stream
    /// carry it (see [`super::CallGuard::route`]).
    pub fn id(&self) -> &rmcp::model::RequestId {
        &self.handle.id
    }

    /// The upstream's answer. Dropping this future before it resolves sends
    /// `notifications/cancelled` for the request.
    pub async fn response(self) -> Result<ServerResult, rmcp::ServiceError> {
        let mut guard = CancelOnDrop {
            peer: self.handle.peer.clone(),
            id: Some(self.handle.id.clone()),
        };
        let result = self.handle.await_response().await;
        guard.id = None;
        result
    }
}

struct CancelOnDrop {
    peer: UpstreamPeer,
    id: Option<rmcp::model::RequestId>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let peer = self.peer.clone();
        let notification = ClientNotification::CancelledNotification(CancelledNotification::new(
            CancelledNotificationParam::new(
                Some(id),
                Some("cancelled by the gateway's client or timed out".into()),
            ),
        ));
        // Drop cannot await; outside a runtime (process exit) there is nobody to tell.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = peer.send_notification(notification).await;
            });
        }
    }
}
